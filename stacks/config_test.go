package stacks

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/edw-dev/edw/internal/pulumitest"
)

// stackFile reads Pulumi.<stack>.yaml from the project root.
func stackFile(t *testing.T, stack string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(projectRoot, "Pulumi."+stack+".yaml"))
	require.NoError(t, err)
	var f struct {
		Config map[string]any `yaml:"config"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &f))
	out := map[string]string{}
	for k, v := range f.Config {
		out[k] = configString(t, v)
	}
	return out
}

// configString encodes a config value the way the Pulumi CLI hands it to a
// program: strings as they are, everything else as JSON.
func configString(t *testing.T, v any) string {
	t.Helper()
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func with(base map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func parse(stack string, kv map[string]string) (*Config, error) {
	return parseConfig(stack, func(k string) (string, bool) {
		v, ok := kv[k]
		return v, ok
	})
}

func TestDefaultsGiveACheapWorkingStack(t *testing.T) {
	for _, stack := range []string{"aws", "azure"} {
		t.Run(stack, func(t *testing.T) {
			cfg, err := parse(stack, stackFile(t, stack))
			require.NoError(t, err)
			assert.Equal(t, Cloud(stack), cfg.Cloud)
			assert.Equal(t, "edw-"+stack, cfg.ClusterName)
			assert.Equal(t, 0, cfg.Consumer.MinReplicas, "consumers scale to zero when idle")
			// The smallest general-purpose sizes that hold the system pods, as list
			// prices have them (about $30 and $70 a month): stated here, not read
			// back from the code's own default.
			cheap := map[Cloud]string{AWS: "t3.medium", Azure: "Standard_D2s_v5"}
			assert.Equal(t, cheap[cfg.Cloud], cfg.SystemNodeSize)
			assert.Equal(t, 2, cfg.SystemNodeCount, "two system nodes: enough for a rolling node replacement, no more")
			assert.Contains(t, cfg.CapacityTypes, "spot", "spot is allowed by default: it is the cheap capacity")
			assert.False(t, cfg.Producer.Enabled, "nothing sends messages unless asked")
			assert.False(t, cfg.Images.Prebuilt())
			assert.Greater(t, cfg.Consumer.VisibilityTimeout, time.Duration(0))
			assert.Greater(t, memoryBytes(cfg.Consumer.MemoryLimit), memoryBytes(cfg.Consumer.Memory),
				"the limit holds the most the consumer's flags put in flight, above its everyday request")
			if cfg.Cloud == Azure {
				assert.Equal(t, NodeAutoProvisioning, cfg.NodeProvisioning)
				assert.Empty(t, cfg.Charts.Karpenter)
			} else {
				assert.Empty(t, cfg.NodeProvisioning)
				assert.Equal(t, DefaultKarpenterChartVersion, cfg.Charts.Karpenter)
			}
		})
	}
}

// The Pulumi CLI injects Pulumi.yaml defaults for every unset key, so a program
// run by the CLI sees them; the Go defaults must agree and the injected empties
// ("", [], {}) must not trip the wrong-cloud checks.
func TestPulumiYAMLDefaultsMatchCode(t *testing.T) {
	proj, err := workspace.LoadProject(filepath.Join(projectRoot, "Pulumi.yaml"))
	require.NoError(t, err, "Pulumi.yaml must pass the CLI's own project schema")
	require.Equal(t, "edw", string(proj.Name))
	// A kubernetes stack file holds only edw:cloud; its queue and table come
	// from the user, as they would in Pulumi.<stack>.yaml.
	existing := with(with(awsWithSecret, flatten(prebuilt)...), "edw:cloud", "kubernetes")
	for _, stack := range []string{"aws", "azure", "kubernetes"} {
		t.Run(stack, func(t *testing.T) {
			explicit := stackFile(t, stack)
			if stack == "kubernetes" {
				explicit = existing
			}
			injected := with(explicit)
			for key, decl := range proj.Config {
				full := key
				if !strings.Contains(key, ":") {
					full = "edw:" + key
				}
				if _, set := injected[full]; !set && decl.Default != nil {
					injected[full] = configString(t, decl.Default)
				}
			}
			fromCode, err := parse(stack, explicit)
			require.NoError(t, err)
			fromCLI, err := parse(stack, injected)
			require.NoError(t, err)
			assert.Equal(t, fromCode, fromCLI)
		})
	}
}

func TestPulumiYAMLDeclaresEveryKeyWithTypeAndDescription(t *testing.T) {
	proj, err := workspace.LoadProject(filepath.Join(projectRoot, "Pulumi.yaml"))
	require.NoError(t, err)
	read := map[string]bool{}
	for _, stack := range []string{"aws", "azure"} {
		base := stackFile(t, stack)
		_, err := parseConfig(stack, func(k string) (string, bool) {
			read[k] = true
			v, ok := base[k]
			return v, ok
		})
		require.NoError(t, err)
	}
	for key := range read {
		if !strings.HasPrefix(key, "edw:") {
			continue
		}
		decl, ok := proj.Config[strings.TrimPrefix(key, "edw:")]
		if assert.True(t, ok, "Pulumi.yaml does not declare %s", key) {
			assert.NotEmpty(t, decl.Type, "%s has no type", key)
			assert.NotEmpty(t, decl.Description, "%s has no description", key)
		}
	}
	for key := range proj.Config {
		assert.True(t, read["edw:"+key], "Pulumi.yaml declares %s but the program never reads it", key)
	}
}

func TestValuesAreParsed(t *testing.T) {
	cfg, err := parse("prod", map[string]string{
		"edw:cloud": "aws", "aws:region": "eu-central-1",
		"edw:clusterName": "edw-prod", "edw:kubernetesVersion": "1.33",
		"edw:systemNodeSize": "m7g.large", "edw:systemNodeCount": "3",
		"edw:capacityTypes": `["on-demand"]`, "edw:architectures": `["arm64","amd64"]`,
		"edw:nodeCpuLimit": "200", "edw:consumerMinReplicas": "1", "edw:consumerMaxReplicas": "40",
		"edw:messagesPerPod": "20", "edw:activationQueueLength": "3", "edw:pollingIntervalSeconds": "5",
		"edw:cooldownSeconds": "30", "edw:consumerCpu": "1", "edw:consumerMemory": "1Gi",
		"edw:maxReceiveCount": "3", "edw:visibilityTimeoutSeconds": "300",
		"edw:producer": "true", "edw:producerMessageCount": "5000", "edw:producerRate": "100",
		"edw:producerImage":    "123456789012.dkr.ecr.eu-central-1.amazonaws.com/edw/producer@sha256:" + strings.Repeat("a", 64),
		"edw:consumerImage":    "123456789012.dkr.ecr.eu-central-1.amazonaws.com/edw/consumer@sha256:" + strings.Repeat("b", 64),
		"edw:kedaChartVersion": "2.20.0", "edw:karpenterChartVersion": "1.11.1",
		"edw:retainData": "true", "edw:protectData": "true", "edw:tags": `{"team":"platform","cost-center":"42"}`,
		"edw:vpcId": "vpc-0123456789abcdef0", "edw:privateSubnetIds": `["subnet-0123456789abcdef0","subnet-0123456789abcdef1"]`,
	})
	require.NoError(t, err)
	assert.Equal(t, "eu-central-1", cfg.Region)
	assert.Equal(t, []string{"on-demand"}, cfg.CapacityTypes)
	assert.Equal(t, []string{"arm64", "amd64"}, cfg.Architectures)
	assert.Equal(t, 40, cfg.Consumer.MaxReplicas)
	assert.Equal(t, 5*time.Second, cfg.Consumer.PollingInterval)
	assert.Equal(t, 30*time.Second, cfg.Consumer.Cooldown)
	assert.Equal(t, 5*time.Minute, cfg.Consumer.VisibilityTimeout)
	assert.Equal(t, "1Gi", cfg.Consumer.MemoryLimit, "a request above the measured limit raises the limit with it")
	assert.Equal(t, ProducerConfig{Enabled: true, MessageCount: 5000, Rate: 100}, cfg.Producer)
	assert.True(t, cfg.Images.Prebuilt())
	assert.Equal(t, ChartVersions{Keda: "2.20.0", Karpenter: "1.11.1"}, cfg.Charts)
	assert.True(t, cfg.RetainData)
	assert.True(t, cfg.ProtectData)
	assert.Equal(t, map[string]string{"team": "platform", "cost-center": "42"}, cfg.Tags)
	assert.Equal(t, "vpc-0123456789abcdef0", cfg.Network.VPCID)
	assert.Len(t, cfg.Network.PrivateSubnetIDs, 2)
}

func TestConfigErrors(t *testing.T) {
	awsBase := map[string]string{"edw:cloud": "aws", "aws:region": "us-west-2"}
	azBase := map[string]string{"edw:cloud": "azure", "azure-native:location": "westus3"}
	digest := "@sha256:" + strings.Repeat("c", 64)
	cases := []struct {
		name  string
		stack string
		cfg   map[string]string
		want  string
	}{
		{"unknown cloud", "x", map[string]string{"edw:cloud": "gcp"},
			`invalid stack config edw:cloud = "gcp": want aws, azure or kubernetes`},
		{"missing cloud", "x", map[string]string{},
			`invalid stack config edw:cloud = "": want aws, azure or kubernetes`},
		{"missing aws region", "x", map[string]string{"edw:cloud": "aws"},
			`invalid stack config aws:region = "": want an AWS region such as us-west-2`},
		{"bad azure location", "x", map[string]string{"edw:cloud": "azure", "azure-native:location": "West US 3"},
			`invalid stack config azure-native:location = "West US 3": want an Azure location name such as westus3`},
		{"max below min replicas", "x", with(awsBase, "edw:consumerMinReplicas", "5", "edw:consumerMaxReplicas", "2"),
			`invalid stack config edw:consumerMaxReplicas = "2": must be at least edw:consumerMinReplicas (5)`},
		{"zero max replicas", "x", with(awsBase, "edw:consumerMaxReplicas", "0"),
			`invalid stack config edw:consumerMaxReplicas = "0": want an integer from 1 to 1000`},
		{"non-integer replicas", "x", with(awsBase, "edw:consumerMinReplicas", "two"),
			`invalid stack config edw:consumerMinReplicas = "two": want an integer from 0 to 1000`},
		{"zero queue length", "x", with(awsBase, "edw:messagesPerPod", "0"),
			`invalid stack config edw:messagesPerPod = "0": want an integer from 1 to 100000`},
		{"negative queue length", "x", with(azBase, "edw:messagesPerPod", "-5"),
			`invalid stack config edw:messagesPerPod = "-5": want an integer from 1 to 100000`},
		{"negative activation", "x", with(awsBase, "edw:activationQueueLength", "-1"),
			`invalid stack config edw:activationQueueLength = "-1": want an integer from 0 to 100000`},
		{"malformed kubernetes version", "x", with(awsBase, "edw:kubernetesVersion", "v1.30.2"),
			`invalid stack config edw:kubernetesVersion = "v1.30.2": want MAJOR.MINOR such as 1.34`},
		{"unknown capacity type", "x", with(awsBase, "edw:capacityTypes", `["spot","reserved"]`),
			`invalid stack config edw:capacityTypes = "[\"spot\",\"reserved\"]": want a non-empty list of spot, on-demand without repeats`},
		{"empty capacity types", "x", with(awsBase, "edw:capacityTypes", `[]`),
			`invalid stack config edw:capacityTypes = "[]": want a non-empty list of spot, on-demand without repeats`},
		{"capacity types not a list", "x", with(awsBase, "edw:capacityTypes", `spot`),
			`invalid stack config edw:capacityTypes = "spot": want a non-empty list of spot, on-demand without repeats`},
		{"unknown architecture", "x", with(azBase, "edw:architectures", `["x86_64"]`),
			`invalid stack config edw:architectures = "[\"x86_64\"]": want a non-empty list of amd64, arm64 without repeats`},
		{"repeated architecture", "x", with(azBase, "edw:architectures", `["arm64","arm64"]`),
			`invalid stack config edw:architectures = "[\"arm64\",\"arm64\"]": want a non-empty list of amd64, arm64 without repeats`},
		{"provisioning mode on aws", "x", with(awsBase, "edw:nodeProvisioning", "auto"),
			`invalid stack config edw:nodeProvisioning = "auto": only allowed when edw:cloud is azure`},
		{"unknown provisioning mode", "x", with(azBase, "edw:nodeProvisioning", "karpenter"),
			`invalid stack config edw:nodeProvisioning = "karpenter": want auto or cluster-autoscaler`},
		{"karpenter chart on azure", "x", with(azBase, "edw:karpenterChartVersion", "1.12.1"),
			`invalid stack config edw:karpenterChartVersion = "1.12.1": only allowed when edw:cloud is aws`},
		{"reader not a role arn", "x", with(awsBase, "edw:clusterReaders", `["arn:aws:iam::123456789012:user/ci"]`),
			`invalid stack config edw:clusterReaders = "[\"arn:aws:iam::123456789012:user/ci\"]": want a list of IAM role ARNs such as arn:aws:iam::123456789012:role/edw-preview`},
		{"reader not an object id", "x", with(azBase, "edw:clusterReaders", `["ci@example.com"]`),
			`invalid stack config edw:clusterReaders = "[\"ci@example.com\"]": want a list of Entra object ids (lower-case GUIDs) of users, groups or service principals`},
		{"cluster admins on aws are role arns", "x", with(awsBase, "edw:clusterAdmins", `["0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"]`),
			`invalid stack config edw:clusterAdmins = "[\"0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d\"]": want a list of IAM role ARNs such as arn:aws:iam::123456789012:role/edw-deploy`},
		{"log retention CloudWatch refuses", "x", with(awsBase, "edw:controlPlaneLogRetentionDays", "45"),
			`invalid stack config edw:controlPlaneLogRetentionDays = "45": want one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653`},
		{"log retention on azure", "x", with(azBase, "edw:controlPlaneLogRetentionDays", "30"),
			`invalid stack config edw:controlPlaneLogRetentionDays = "30": only allowed when edw:cloud is aws`},
		{"vpc on azure", "x", with(azBase, "edw:vpcId", "vpc-0123456789abcdef0"),
			`invalid stack config edw:vpcId = "vpc-0123456789abcdef0": only allowed when edw:cloud is aws`},
		{"resource group on aws", "x", with(awsBase, "edw:resourceGroupName", "rg-edw"),
			`invalid stack config edw:resourceGroupName = "rg-edw": only allowed when edw:cloud is azure`},
		{"bad cluster name", "x", with(awsBase, "edw:clusterName", "EDW_Prod"),
			`invalid stack config edw:clusterName = "EDW_Prod": want 2-32 lower-case letters, digits and hyphens, starting with a letter`},
		{"stack name makes a bad cluster name", "Prod_EU", awsBase,
			`invalid stack config edw:clusterName = "edw-prod_eu": the stack name does not make a valid cluster name; set edw:clusterName to 2-32 lower-case letters, digits and hyphens`},
		{"ec2 size on aws", "x", with(awsBase, "edw:systemNodeSize", "Standard_D2s_v5"),
			`invalid stack config edw:systemNodeSize = "Standard_D2s_v5": want an EC2 instance type such as t3.medium`},
		{"vm size on azure", "x", with(azBase, "edw:systemNodeSize", "t3.medium"),
			`invalid stack config edw:systemNodeSize = "t3.medium": want an Azure VM size such as Standard_D2s_v5`},
		{"system node count", "x", with(awsBase, "edw:systemNodeCount", "0"),
			`invalid stack config edw:systemNodeCount = "0": want an integer from 1 to 10`},
		{"cpu limit", "x", with(awsBase, "edw:nodeCpuLimit", "1"),
			`invalid stack config edw:nodeCpuLimit = "1": want an integer from 2 to 10000`},
		{"polling interval", "x", with(awsBase, "edw:pollingIntervalSeconds", "0"),
			`invalid stack config edw:pollingIntervalSeconds = "0": want an integer from 1 to 3600`},
		{"cooldown", "x", with(awsBase, "edw:cooldownSeconds", "-1"),
			`invalid stack config edw:cooldownSeconds = "-1": want an integer from 0 to 86400`},
		{"cpu quantity", "x", with(awsBase, "edw:consumerCpu", "half"),
			`invalid stack config edw:consumerCpu = "half": want a Kubernetes CPU quantity such as 250m or 1`},
		{"memory quantity", "x", with(awsBase, "edw:consumerMemory", "256MB"),
			`invalid stack config edw:consumerMemory = "256MB": want a Kubernetes memory quantity such as 256Mi`},
		{"memory limit quantity", "x", with(awsBase, "edw:consumerMemoryLimit", "lots"),
			`invalid stack config edw:consumerMemoryLimit = "lots": want a Kubernetes memory quantity such as 256Mi`},
		{"memory limit below the request", "x", with(awsBase, "edw:consumerMemory", "1Gi", "edw:consumerMemoryLimit", "512M"),
			`invalid stack config edw:consumerMemoryLimit = "512M": must be at least edw:consumerMemory (1Gi)`},
		{"max receive count", "x", with(awsBase, "edw:maxReceiveCount", "1001"),
			`invalid stack config edw:maxReceiveCount = "1001": want an integer from 1 to 1000`},
		{"visibility timeout", "x", with(awsBase, "edw:visibilityTimeoutSeconds", "43201"),
			`invalid stack config edw:visibilityTimeoutSeconds = "43201": want an integer from 10 to 43200`},
		{"producer flag", "x", with(awsBase, "edw:producer", "yes please"),
			`invalid stack config edw:producer = "yes please": want true or false`},
		{"producer count", "x", with(awsBase, "edw:producerMessageCount", "0"),
			`invalid stack config edw:producerMessageCount = "0": want an integer from 1 to 10000000`},
		{"producer rate", "x", with(awsBase, "edw:producerRate", "-1"),
			`invalid stack config edw:producerRate = "-1": want an integer from 0 to 100000`},
		{"image by tag", "x", with(awsBase, "edw:producerImage", "ghcr.io/edw/producer:latest", "edw:consumerImage", "ghcr.io/edw/consumer"+digest),
			`invalid stack config edw:producerImage = "ghcr.io/edw/producer:latest": want a full image reference by digest, REGISTRY/REPOSITORY@sha256:<64 hex digits>`},
		{"only one image", "x", with(awsBase, "edw:consumerImage", "ghcr.io/edw/consumer"+digest),
			`invalid stack config edw:producerImage = "": set both edw:producerImage and edw:consumerImage, or neither to build them`},
		{"keda chart range", "x", with(awsBase, "edw:kedaChartVersion", "^2.18"),
			`invalid stack config edw:kedaChartVersion = "^2.18": want an exact chart version MAJOR.MINOR.PATCH`},
		{"retain flag", "x", with(azBase, "edw:retainData", "maybe"),
			`invalid stack config edw:retainData = "maybe": want true or false`},
		{"protect flag", "x", with(awsBase, "edw:protectData", "yes"),
			`invalid stack config edw:protectData = "yes": want true or false`},
		{"protect on kubernetes", "x", with(with(awsWithSecret, flatten(prebuilt)...), "edw:cloud", "kubernetes", "edw:protectData", "true"),
			`invalid stack config edw:protectData = "true": not used on kubernetes stacks: edw creates no queue or table there`},
		{"tags not an object", "x", with(awsBase, "edw:tags", `["team"]`),
			`invalid stack config edw:tags = "[\"team\"]": want an object of string keys to string values`},
		{"reserved tag", "x", with(awsBase, "edw:tags", `{"aws:owner":"me"}`),
			`invalid stack config edw:tags = "{\"aws:owner\":\"me\"}": tag "aws:owner": keys are 1-128 of letters, digits, _.:/=+@- and not aws:*, values at most 256 characters`},
		{"subnets without vpc", "x", with(awsBase, "edw:privateSubnetIds", `["subnet-0123456789abcdef0"]`),
			`invalid stack config edw:vpcId = "": required when edw:privateSubnetIds or edw:publicSubnetIds is set`},
		{"vpc with one subnet", "x", with(awsBase, "edw:vpcId", "vpc-0123456789abcdef0", "edw:privateSubnetIds", `["subnet-0123456789abcdef0"]`),
			`invalid stack config edw:privateSubnetIds = "[\"subnet-0123456789abcdef0\"]": want at least 2 private subnets in different zones when edw:vpcId is set`},
		{"bad vpc id", "x", with(awsBase, "edw:vpcId", "my-vpc"),
			`invalid stack config edw:vpcId = "my-vpc": want a VPC id such as vpc-0123456789abcdef0`},
		{"bad subnet id", "x", with(awsBase, "edw:vpcId", "vpc-0123456789abcdef0", "edw:privateSubnetIds", `["sn-1","sn-2"]`),
			`invalid stack config edw:privateSubnetIds = "[\"sn-1\",\"sn-2\"]": want a list of subnet ids such as subnet-0123456789abcdef0`},
		{"bad resource group", "x", with(azBase, "edw:resourceGroupName", "rg edw."),
			`invalid stack config edw:resourceGroupName = "rg edw.": want 1-90 letters, digits, and -_.() not ending in a period`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(tc.stack, tc.cfg)
			require.Error(t, err)
			lines := strings.Split(err.Error(), "\n")
			assert.Contains(t, lines, tc.want, "one line of the error must name the key, value and what is allowed")
			var ce *ConfigError
			require.True(t, errors.As(err, &ce), "errors are *ConfigError")
		})
	}
}

func TestEveryBadKeyIsReportedAtOnce(t *testing.T) {
	_, err := parse("x", map[string]string{
		"edw:cloud": "aws", "aws:region": "us-west-2",
		"edw:messagesPerPod": "0", "edw:architectures": `["sparc"]`, "edw:nodeProvisioning": "auto",
	})
	require.Error(t, err)
	lines := strings.Split(err.Error(), "\n")
	assert.Len(t, lines, 3, "one line per bad key: %q", err)
	for _, key := range []string{"edw:messagesPerPod", "edw:architectures", "edw:nodeProvisioning"} {
		assert.Contains(t, err.Error(), key+" = ")
	}
}

// Bad config must stop the program before it registers anything, so preview shows
// only the error.
func TestBadConfigRegistersNothing(t *testing.T) {
	for _, stack := range []string{"aws", "azure"} {
		t.Run(stack, func(t *testing.T) {
			cfg := with(stackFile(t, stack), "edw:consumerMaxReplicas", "0")
			g, err := pulumitest.RunErr(Run, pulumitest.Stack(stack), pulumitest.Config(cfg))
			require.Error(t, err)
			assert.Contains(t, err.Error(), `invalid stack config edw:consumerMaxReplicas = "0"`)
			assert.Empty(t, g.Resources, fmt.Sprintf("registered despite bad config: %v", g.Resources))
		})
	}
}

func TestMonitoringConfigErrors(t *testing.T) {
	awsBase := map[string]string{"edw:cloud": "aws", "aws:region": "us-west-2"}
	for cfg, want := range map[*map[string]string]string{
		ptr(with(awsBase, "edw:alertEmails", `["not-an-address"]`)):                                                              `invalid stack config edw:alertEmails = "[\"not-an-address\"]": want a list of e-mail addresses`,
		ptr(with(awsBase, "edw:alertOldestMessageSeconds", "10")):                                                                `invalid stack config edw:alertOldestMessageSeconds = "10": want an integer from 60 to 1209600`,
		ptr(map[string]string{"edw:cloud": "azure", "azure-native:location": "westus3", "edw:alertOldestMessageSeconds": "600"}): `invalid stack config edw:alertOldestMessageSeconds = "600": only allowed when edw:cloud is aws`,
		ptr(with(awsBase, "edw:alertBacklogMessages", "10")):                                                                     `invalid stack config edw:alertBacklogMessages = "10": only allowed when edw:cloud is azure`,
		ptr(with(awsBase, "edw:managedPrometheus", "true")):                                                                      `invalid stack config edw:managedPrometheus = "true": only allowed when edw:cloud is azure`,
		ptr(with(awsBase, "edw:containerInsights", "true")):                                                                      `invalid stack config edw:containerInsights = "true": only allowed when edw:cloud is azure`,
		ptr(with(awsBase, "edw:podMonitor", "yes")):                                                                              `invalid stack config edw:podMonitor = "yes": want true or false`,
		ptr(map[string]string{"edw:cloud": "azure", "azure-native:location": "westus3", "edw:managedPrometheus": "on"}):          `invalid stack config edw:managedPrometheus = "on": want true or false`,
	} {
		_, err := parse("x", *cfg)
		require.Error(t, err)
		assert.Equal(t, want, err.Error())
	}
}

func ptr[T any](v T) *T { return &v }

// TestPulumiYAMLRequiresOnlyCloud: the Pulumi CLI refuses to run a stack that
// lacks any key Pulumi.yaml declares without a default (the real engine in the
// cluster lab showed it), so every key but edw:cloud has one.
func TestPulumiYAMLRequiresOnlyCloud(t *testing.T) {
	proj, err := workspace.LoadProject(filepath.Join(projectRoot, "Pulumi.yaml"))
	require.NoError(t, err)
	for key, decl := range proj.Config {
		if key == "cloud" {
			continue
		}
		assert.NotNil(t, decl.Default, "Pulumi.yaml declares %s without a default: the CLI would require it of every stack", key)
	}
}

// TestLimitsAreInclusive: a value at either end of a key's allowed range is
// accepted and one past it is not; a tag value of exactly 256 characters is a
// valid tag; equal min and max replicas pin the consumer count.
func TestLimitsAreInclusive(t *testing.T) {
	awsBase := map[string]string{"edw:cloud": "aws", "aws:region": "us-west-2"}
	for _, v := range []string{"60", "1209600"} {
		cfg, err := parse("x", with(awsBase, "edw:alertOldestMessageSeconds", v))
		require.NoError(t, err, v)
		assert.Equal(t, v, strconv.Itoa(cfg.Monitoring.OldestMessageSeconds))
	}
	for _, v := range []string{"59", "1209601"} {
		_, err := parse("x", with(awsBase, "edw:alertOldestMessageSeconds", v))
		assert.Error(t, err, v)
	}
	cfg, err := parse("x", with(awsBase, "edw:tags", `{"team":"`+strings.Repeat("a", 256)+`"}`))
	require.NoError(t, err)
	assert.Len(t, cfg.Tags["team"], 256)
	_, err = parse("x", with(awsBase, "edw:tags", `{"team":"`+strings.Repeat("a", 257)+`"}`))
	assert.Error(t, err)
	cfg, err = parse("x", with(awsBase, "edw:consumerMinReplicas", "3", "edw:consumerMaxReplicas", "3"))
	require.NoError(t, err)
	assert.Equal(t, 3, cfg.Consumer.MaxReplicas)
}

package stacks

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/edw-dev/edw/internal/pulumitest"
)

// TestEveryKeyReachesTheResourceThatUsesIt: each key, set to a value other than
// its default, arrives in the resource property that applies it.
func TestEveryKeyReachesTheResourceThatUsesIt(t *testing.T) {
	const (
		so   = "kubernetes:keda.sh/v1alpha1:ScaledObject"
		dep  = "kubernetes:apps/v1:Deployment"
		job  = "kubernetes:batch/v1:Job"
		ctnr = "spec.template.spec.containers.0."
	)
	digest := "@sha256:" + strings.Repeat("d", 64)
	type where struct{ typ, name, path, want string }
	cases := []struct {
		cloud, key, value string
		at                []where
	}{
		{"aws", "edw:clusterName", "edw-prod", []where{{awsEKS, "", "name", "edw-prod"}}},
		{"aws", "edw:kubernetesVersion", "1.33", []where{{awsEKS, "", "version", "1.33"}, {awsNodeGroup, "", "version", "1.33"}}},
		{"aws", "edw:systemNodeSize", "m7i.large", []where{{awsNodeGroup, "", "instanceTypes.0", "m7i.large"}}},
		{"aws", "edw:systemNodeCount", "3", []where{{awsNodeGroup, "", "scalingConfig.desiredSize", "3"}, {awsNodeGroup, "", "scalingConfig.minSize", "3"}}},
		{"aws", "edw:capacityTypes", `["on-demand"]`, []where{{karpNodePool, "", "spec.template.spec.requirements.0.values", "[on-demand]"}}},
		{"aws", "edw:architectures", `["arm64"]`, []where{{karpNodePool, "", "spec.template.spec.requirements.1.values", "[arm64]"}}},
		{"aws", "edw:nodeCpuLimit", "200", []where{{karpNodePool, "", "spec.limits.cpu", "200"}}},
		{"aws", "edw:consumerMinReplicas", "1", []where{{so, "", "spec.minReplicaCount", "1"}}},
		{"aws", "edw:consumerMaxReplicas", "40", []where{{so, "", "spec.maxReplicaCount", "40"}}},
		{"aws", "edw:messagesPerPod", "20", []where{{so, "", "spec.triggers.0.metadata.queueLength", "20"}}},
		{"aws", "edw:activationQueueLength", "3", []where{{so, "", "spec.triggers.0.metadata.activationQueueLength", "3"}}},
		{"aws", "edw:pollingIntervalSeconds", "7", []where{{so, "", "spec.pollingInterval", "7"}}},
		{"aws", "edw:cooldownSeconds", "30", []where{{so, "", "spec.cooldownPeriod", "30"}}},
		{"aws", "edw:consumerCpu", "1", []where{{dep, "", ctnr + "resources.requests.cpu", "1"}}},
		// A request above the measured limit raises the limit with it.
		{"aws", "edw:consumerMemory", "1Gi", []where{{dep, "", ctnr + "resources.requests.memory", "1Gi"}, {dep, "", ctnr + "resources.limits.memory", "1Gi"}}},
		{"aws", "edw:consumerMemoryLimit", "2Gi", []where{{dep, "", ctnr + "resources.limits.memory", "2Gi"}}},
		{"aws", "edw:maxReceiveCount", "3", []where{{awsQueue, "edw", "redrivePolicy", `"maxReceiveCount":3`}, {dep, "", ctnr + "args", "--max-receive-count=3"}}},
		{"aws", "edw:visibilityTimeoutSeconds", "300", []where{{awsQueue, "edw", "visibilityTimeoutSeconds", "300"}, {dep, "", ctnr + "args", "--visibility-timeout=300s"}}},
		{"aws", "edw:producerMessageCount", "5000", []where{{job, "", ctnr + "args", "--count=5000"}}},
		{"aws", "edw:producerRate", "100", []where{{job, "", ctnr + "args", "--rate=100"}}},
		{"aws", "edw:consumerImage", "ghcr.io/acme/consumer" + digest, []where{{dep, "", ctnr + "image", "ghcr.io/acme/consumer" + digest}}},
		{"aws", "edw:producerImage", "ghcr.io/acme/producer" + digest, []where{{job, "", ctnr + "image", "ghcr.io/acme/producer" + digest}}},
		{"aws", "edw:kedaChartVersion", "2.20.0", []where{{"kubernetes:helm.sh/v3:Release", "edw-keda", "version", "2.20.0"}}},
		{"aws", "edw:karpenterChartVersion", "1.11.1", []where{{"kubernetes:helm.sh/v3:Release", "edw-karpenter", "version", "1.11.1"}}},
		{"aws", "edw:tags", `{"team":"platform"}`, []where{{"pulumi:providers:aws", "", "defaultTags.tags.team", "platform"}}},
		{"aws", "edw:clusterReaders", `["arn:aws:iam::444455556666:role/ci"]`, []where{{awsEKS, "", "roleMappings.0.roleArn", "arn:aws:iam::444455556666:role/ci"}}},
		{"aws", "edw:clusterAdmins", `["arn:aws:iam::444455556666:role/deploy"]`, []where{{awsEKS, "", "roleMappings.0.roleArn", "arn:aws:iam::444455556666:role/deploy"}, {awsEKS, "", "roleMappings.0.groups", "system:masters"}}},
		{"aws", "edw:controlPlaneLogRetentionDays", "365", []where{{"aws:cloudwatch/logGroup:LogGroup", "", "retentionInDays", "365"}}},
		{"azure", "edw:systemNodeSize", "Standard_D4s_v5", []where{{azCluster, "", "agentPoolProfiles.0.vmSize", "Standard_D4s_v5"}}},
		{"azure", "edw:systemNodeCount", "3", []where{{azCluster, "", "agentPoolProfiles.0.count", "3"}}},
		{"azure", "edw:kubernetesVersion", "1.33", []where{{azCluster, "", "kubernetesVersion", "1.33"}}},
		{"azure", "edw:resourceGroupName", "rg-edw-prod", []where{{azRG, "", "resourceGroupName", "rg-edw-prod"}}},
		{"azure", "edw:nodeCpuLimit", "200", []where{{napPool, "", "spec.limits.cpu", "200"}}},
		{"azure", "edw:tags", `{"team":"platform"}`, []where{{azAccount, "", "tags.team", "platform"}}},
		{"azure", "edw:clusterAdmins", `["1a2b3c4d-5e6f-4a0b-9c1d-2e3f4a5b6c7d"]`, []where{{azRole, "edw-admin-0", "principalId", "1a2b3c4d-5e6f-4a0b-9c1d-2e3f4a5b6c7d"}}},
		{"aws", "edw:podMonitor", "true", []where{{"kubernetes:monitoring.coreos.com/v1:PodMonitor", "edw-consumer-monitoring", "spec.podMetricsEndpoints.0.port", "metrics"}}},
		{"azure", "edw:managedPrometheus", "true", []where{{azCluster, "", "azureMonitorProfile.metrics.enabled", "true"},
			{"kubernetes:azmonitoring.coreos.com/v1:PodMonitor", "edw-consumer-azmonitoring", "spec.podMetricsEndpoints.0.port", "metrics"}}},
		{"azure", "edw:containerInsights", "true", []where{{azCluster, "", "addonProfiles.omsagent.enabled", "true"}}},
		{"azure", "edw:alertEmails", `["ops@example.com"]`, []where{{azActionGroup, "", "emailReceivers.0.emailAddress", "ops@example.com"}}},
	}
	run := func(t *testing.T, cloud string, extra map[string]string) *pulumitest.Graph {
		extra["edw:producer"] = "true"
		if cloud == "aws" {
			g, _ := runAWS(t, extra)
			return g
		}
		g, _ := runAzure(t, extra)
		return g
	}
	// The stacks as shipped: a case whose value the defaults already produce
	// could pass with the key ignored (pollingIntervalSeconds 5 in the default 15).
	defaults := map[string]*pulumitest.Graph{"aws": run(t, "aws", map[string]string{}), "azure": run(t, "azure", map[string]string{})}
	at := func(g *pulumitest.Graph, w where) (string, bool) {
		rs := g.ByType(w.typ)
		if w.name != "" {
			rs = g.Named(w.typ, w.name)
		}
		if len(rs) != 1 {
			return "", false
		}
		got, ok := rs[0].Plain(w.path)
		return fmt.Sprint(got), ok
	}
	for _, c := range cases {
		t.Run(c.cloud+" "+c.key, func(t *testing.T) {
			g := run(t, c.cloud, map[string]string{c.key: c.value})
			for _, w := range c.at {
				got, ok := at(g, w)
				if !assert.True(t, ok, "%s has no single %s with %s", c.key, w.typ, w.path) {
					continue
				}
				if w.want == c.value && !strings.ContainsAny(got, "[{\"") {
					// A scalar input is the value itself, not a value containing it.
					assert.Equal(t, w.want, got, "%s → %s %s", c.key, w.typ, w.path)
				} else {
					assert.Contains(t, got, w.want, "%s → %s %s", c.key, w.typ, w.path)
				}
				if def, ok := at(defaults[c.cloud], w); ok {
					assert.NotContains(t, def, w.want, "%s: the defaults already give %s %s = %s; pick a value they do not", c.key, w.typ, w.path, def)
				}
			}
		})
	}
	// retainData is a resource option, not an input.
	g, _ := runAWS(t, map[string]string{"edw:retainData": "true"})
	assert.True(t, g.OnlyOfType(t, awsTable).RetainOnDelete)
	// An existing VPC replaces the stack's own.
	g, _ = runAWS(t, map[string]string{"edw:vpcId": "vpc-0123456789abcdef0",
		"edw:privateSubnetIds": `["subnet-0123456789abcdef0","subnet-0123456789abcdef1"]`, "edw:publicSubnetIds": `["subnet-0123456789abcdef2"]`})
	eks := g.OnlyOfType(t, awsEKS)
	assert.Equal(t, "vpc-0123456789abcdef0", eks.Str(t, "vpcId"))
	pub, _ := eks.Plain("publicSubnetIds")
	assert.Equal(t, []any{"subnet-0123456789abcdef2"}, pub)
}

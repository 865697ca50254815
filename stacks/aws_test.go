package stacks

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	infraaws "github.com/edw-dev/edw/infra/aws"
	"github.com/edw-dev/edw/infra/kube"
	"github.com/edw-dev/edw/internal/permissions"
	"github.com/edw-dev/edw/internal/pulumitest"
)

const (
	awsEKS       = "eks:index:Cluster"
	awsNodeGroup = "aws:eks/nodeGroup:NodeGroup"
	awsRole      = "aws:iam/role:Role"
	awsPolicy    = "aws:iam/rolePolicy:RolePolicy"
	awsQueue     = "aws:sqs/queue:Queue"
	awsTable     = "aws:dynamodb/table:Table"
	awsRepo      = "aws:ecr/repository:Repository"
	awsOIDC      = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"
	awsRule      = "aws:cloudwatch/eventRule:EventRule"
	awsTarget    = "aws:cloudwatch/eventTarget:EventTarget"
	karpNodePool = "kubernetes:karpenter.sh/v1:NodePool"
	karpClass    = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"

	fakeAccount = "444455556666"
	fakeIssuerA = "https://oidc.eks.eu-north-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
)

// awsFakes answer the invokes the aws stack makes and the outputs it reads,
// including pulumi-eks, which arrives as one remote component.
func awsFakes(region, clusterName string) []pulumitest.Option {
	part := partitionOf(region)
	issuer := strings.Replace(fakeIssuerA, "eu-north-1", region, 1)
	arn := func(service, kind, name string) string {
		return "arn:" + part.name + ":" + service + ":" + region + ":" + fakeAccount + ":" + kind + name
	}
	return []pulumitest.Option{
		pulumitest.FakeInvoke("aws:index/getCallerIdentity:getCallerIdentity", func(pulumi.MockCallArgs) (resource.PropertyMap, error) {
			return resource.NewPropertyMapFromMap(map[string]any{"accountId": fakeAccount, "arn": "arn:aws:iam::" + fakeAccount + ":user/ci", "userId": "ci", "id": fakeAccount}), nil
		}),
		pulumitest.FakeInvoke("aws:index/getPartition:getPartition", func(pulumi.MockCallArgs) (resource.PropertyMap, error) {
			return resource.NewPropertyMapFromMap(map[string]any{"partition": part.name, "dnsSuffix": part.dnsSuffix, "id": part.name}), nil
		}),
		pulumitest.FakeInvoke("aws:index/getAvailabilityZones:getAvailabilityZones", func(pulumi.MockCallArgs) (resource.PropertyMap, error) {
			return resource.NewPropertyMapFromMap(map[string]any{"names": []any{region + "a", region + "b", region + "c"}, "zoneIds": []any{"z1", "z2", "z3"}, "id": region}), nil
		}),
		pulumitest.FakeInvoke("aws:eks/getCluster:getCluster", func(a pulumi.MockCallArgs) (resource.PropertyMap, error) {
			// Only this stack's cluster has an issuer: looking up any other name
			// is a bug the fake must not hide.
			if got := a.Args["name"].StringValue(); got != clusterName {
				return nil, fmt.Errorf("getCluster %q: no such cluster (the stack's is %q)", got, clusterName)
			}
			return resource.NewPropertyMapFromMap(map[string]any{
				"name": a.Args["name"].StringValue(), "id": a.Args["name"].StringValue(),
				"identities": []any{map[string]any{"oidcs": []any{map[string]any{"issuer": issuer}}}},
			}), nil
		}),
		pulumitest.FakeResource(awsEKS, func(a pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
			return a.Name, resource.PropertyMap{"kubeconfigJson": resource.NewStringProperty(`{"apiVersion":"v1","kind":"Config"}`)}, nil
		}),
		pulumitest.FakeResource(awsQueue, func(a pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
			out := a.Inputs.Copy()
			name := a.Name
			if n, ok := a.Inputs["name"]; ok && n.IsString() {
				name = n.StringValue()
			}
			out["name"] = resource.NewStringProperty(name)
			out["arn"] = resource.NewStringProperty(arn("sqs", "", name))
			out["url"] = resource.NewStringProperty("https://sqs." + region + ".amazonaws.com/" + fakeAccount + "/" + name)
			return name, out, nil
		}),
		pulumitest.FakeResource(awsTable, func(a pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
			out := a.Inputs.Copy()
			out["name"] = resource.NewStringProperty(a.Name + "-1a2b")
			out["arn"] = resource.NewStringProperty(arn("dynamodb", "table/", a.Name+"-1a2b"))
			return a.Name, out, nil
		}),
		pulumitest.FakeResource(awsRole, func(a pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
			out := a.Inputs.Copy()
			out["name"] = resource.NewStringProperty(a.Name + "-r")
			out["arn"] = resource.NewStringProperty("arn:" + part.name + ":iam::" + fakeAccount + ":role/" + a.Name + "-r")
			return a.Name, out, nil
		}),
		pulumitest.FakeResource(awsOIDC, func(a pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
			out := a.Inputs.Copy()
			out["arn"] = resource.NewStringProperty("arn:" + part.name + ":iam::" + fakeAccount + ":oidc-provider/" + strings.TrimPrefix(issuer, "https://"))
			return a.Name, out, nil
		}),
		pulumitest.FakeResource("aws:sns/topic:Topic", func(a pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
			out := a.Inputs.Copy()
			out["arn"] = resource.NewStringProperty(arn("sns", "", a.Name))
			return a.Name, out, nil
		}),
		pulumitest.FakeResource("aws:kms/key:Key", func(a pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
			out := a.Inputs.Copy()
			out["arn"] = resource.NewStringProperty(arn("kms", "key/", a.Name))
			return a.Name, out, nil
		}),
		// EKS's default add-on version for a Kubernetes version; any other
		// version than the stack's is a bug the fake must not hide.
		pulumitest.FakeInvoke("aws:eks/getAddonVersion:getAddonVersion", func(a pulumi.MockCallArgs) (resource.PropertyMap, error) {
			return addonVersionAnswer(a)
		}),
		// The account has the EC2 Spot service-linked role.
		pulumitest.FakeInvoke("aws:iam/getRoles:getRoles", func(a pulumi.MockCallArgs) (resource.PropertyMap, error) {
			return resource.NewPropertyMapFromMap(map[string]any{"id": "roles", "names": []any{"AWSServiceRoleForEC2Spot"},
				"arns": []any{"arn:" + part.name + ":iam::" + fakeAccount + ":role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot"}}), nil
		}),
		// EventBridge names an unnamed rule and gives it an ARN under its bus.
		pulumitest.FakeResource(awsRule, func(a pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
			return a.Name, eventRuleState(a, arn), nil
		}),
		pulumitest.FakeResource(awsRepo, func(a pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
			out := a.Inputs.Copy()
			out["repositoryUrl"] = resource.NewStringProperty(fakeAccount + ".dkr.ecr." + region + ".amazonaws.com/" + a.Inputs["name"].StringValue())
			return a.Name, out, nil
		}),
	}
}

func runAWS(t *testing.T, extra map[string]string) (*pulumitest.Graph, map[string]any) {
	t.Helper()
	cfg := map[string]string{"aws:region": "eu-north-1"}
	for k, v := range prebuilt {
		cfg[k] = v
	}
	for k, v := range extra {
		cfg[k] = v
	}
	cluster := "edw-aws"
	if name, ok := cfg["edw:clusterName"]; ok {
		cluster = name
	}
	return runStack(t, "aws", cfg, awsFakes(cfg["aws:region"], cluster)...)
}

func policyDoc(t *testing.T, r *pulumitest.Resource, key string) []map[string]any {
	t.Helper()
	var doc struct {
		Statement []map[string]any
	}
	require.NoError(t, json.Unmarshal([]byte(r.Str(t, key)), &doc), r.String())
	return doc.Statement
}

func strs(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, strs(e)...)
		}
		return out
	}
	return nil
}

func TestAWSStackInventory(t *testing.T) {
	g, _ := runAWS(t, nil)
	count := map[string]int{}
	for _, r := range g.Resources {
		count[r.Type]++
	}
	want := map[string]int{
		awsEKS: 1, awsNodeGroup: 1, awsOIDC: 1, "aws:kms/key:Key": 2, "aws:sns/topicPolicy:TopicPolicy": 1, "aws:eks/addon:Addon": 3, "aws:cloudwatch/logGroup:LogGroup": 1, "aws:ec2/vpc:Vpc": 1, "aws:ec2/subnet:Subnet": 6,
		"aws:ec2/natGateway:NatGateway": 1, awsQueue: 3, awsTable: 1, awsRepo: 2, awsRule: 5, awsTarget: 5,
		"aws:sqs/queuePolicy:QueuePolicy": 1, "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy": 1,
		awsRole: 6, awsPolicy: 4, "kubernetes:helm.sh/v3:Release": 3, karpNodePool: 1, karpClass: 1,
		"pulumi:providers:aws": 1, "pulumi:providers:kubernetes": 1, "command:local:Command": 0,
	}
	for typ, n := range want {
		assert.Equal(t, n, count[typ], typ)
	}
	for _, r := range g.Resources {
		if strings.HasPrefix(r.Type, "aws:") && r.Custom {
			assert.Contains(t, r.Provider, "::pulumi:providers:aws::aws::", "%s uses the explicit provider", r)
		}
	}
	eks := g.OnlyOfType(t, awsEKS)
	assert.True(t, eks.Remote)
	assert.Contains(t, eks.Providers["aws"], "::pulumi:providers:aws::aws::", "pulumi-eks gets our aws provider")
	g.WriteKubernetesObjects(t, "aws")
}

func TestEKSClusterSettings(t *testing.T) {
	g, _ := runAWS(t, nil)
	eks := g.OnlyOfType(t, awsEKS)
	skip, _ := eks.Plain("skipDefaultNodeGroup")
	assert.Equal(t, true, skip)
	_, mode := eks.Input("authenticationMode")
	assert.False(t, mode, "CONFIG_MAP (the default) until pulumi-eks v3")
	_, entries := eks.Input("accessEntries")
	assert.False(t, entries)
	roles, _ := eks.Plain("instanceRoles")
	require.Len(t, roles, 2, "system node role and Karpenter node role")
	logs, _ := eks.Plain("enabledClusterLogTypes")
	assert.Contains(t, logs, "audit")
	assert.Equal(t, g.One(t, "aws:kms/key:Key", "edw").State["arn"].StringValue(), eks.Str(t, "encryptionConfigKeyArn"))
	assert.Equal(t, "edw-aws", eks.Str(t, "name"))
	assert.Equal(t, DefaultKubernetesVersion, eks.Str(t, "version"))

	ng := g.OnlyOfType(t, awsNodeGroup)
	assert.Equal(t, "AL2023_x86_64_STANDARD", ng.Str(t, "amiType"))
	assert.True(t, g.DependsOn(ng, eks))
	size, _ := ng.Plain("scalingConfig.desiredSize")
	assert.Equal(t, float64(DefaultSystemNodeCount), size)

	oidc := g.OnlyOfType(t, awsOIDC)
	assert.Equal(t, fakeIssuerA, oidc.Str(t, "url"), "the provider is this cluster's issuer")
	clients, _ := oidc.Plain("clientIdLists")
	assert.Equal(t, []any{"sts.amazonaws.com"}, clients)

	for _, s := range g.ByType("aws:ec2/subnet:Subnet") {
		if strings.Contains(s.Name, "private") {
			assert.Equal(t, "edw-aws", s.Str(t, `tags.karpenter\.sh/discovery`))
		}
	}
}

func TestExistingVPCIsUsedAsIs(t *testing.T) {
	g, _ := runAWS(t, map[string]string{
		"edw:vpcId": "vpc-0123456789abcdef0", "edw:privateSubnetIds": `["subnet-0123456789abcdef0","subnet-0123456789abcdef1"]`,
	})
	assert.Empty(t, g.ByType("aws:ec2/vpc:Vpc"))
	assert.Empty(t, g.ByType("aws:ec2/subnet:Subnet"))
	assert.Empty(t, g.Invoked("aws:index/getAvailabilityZones:getAvailabilityZones"))
	eks := g.OnlyOfType(t, awsEKS)
	assert.Equal(t, "vpc-0123456789abcdef0", eks.Str(t, "vpcId"))
	subnets, _ := eks.Plain("privateSubnetIds")
	assert.Equal(t, []any{"subnet-0123456789abcdef0", "subnet-0123456789abcdef1"}, subnets)
}

func TestQueueAndTable(t *testing.T) {
	g, _ := runAWS(t, map[string]string{"edw:maxReceiveCount": "7", "edw:visibilityTimeoutSeconds": "90"})
	work := g.One(t, awsQueue, "edw")
	dlq := g.One(t, awsQueue, "edw-dlq")
	sse, _ := work.Plain("sqsManagedSseEnabled")
	assert.Equal(t, true, sse)
	vis, _ := work.Plain("visibilityTimeoutSeconds")
	assert.Equal(t, 90.0, vis)
	var redrive map[string]any
	require.NoError(t, json.Unmarshal([]byte(work.Str(t, "redrivePolicy")), &redrive))
	assert.Equal(t, map[string]any{"deadLetterTargetArn": dlq.State["arn"].StringValue(), "maxReceiveCount": 7.0}, redrive)
	allow := g.OnlyOfType(t, "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy")
	assert.Equal(t, dlq.State["url"].StringValue(), allow.Str(t, "queueUrl"))
	assert.Contains(t, allow.Str(t, "redriveAllowPolicy"), work.State["arn"].StringValue())

	table := g.OnlyOfType(t, awsTable)
	for path, want := range map[string]any{
		"billingMode": "PAY_PER_REQUEST", "hashKey": "id", "attributes": []any{map[string]any{"name": "id", "type": "S"}},
		"pointInTimeRecovery.enabled": true, "serverSideEncryption.enabled": true,
	} {
		got, _ := table.Plain(path)
		assert.Equal(t, want, got, path)
	}
	for _, repo := range g.ByType(awsRepo) {
		scan, _ := repo.Plain("imageScanningConfiguration.scanOnPush")
		assert.Equal(t, true, scan)
		assert.Equal(t, "IMMUTABLE", repo.Str(t, "imageTagMutability"))
	}
}

// trustedSubject reads the one subject an IRSA role's trust policy allows.
func trustedSubject(t *testing.T, role *pulumitest.Resource) string {
	st := policyDoc(t, role, "assumeRolePolicy")
	require.Len(t, st, 1, role.String())
	host := strings.TrimPrefix(fakeIssuerA, "https://")
	cond := st[0]["Condition"].(map[string]any)["StringEquals"].(map[string]any)
	assert.Equal(t, "sts.amazonaws.com", cond[host+":aud"], role.String())
	assert.Equal(t, "arn:aws:iam::"+fakeAccount+":oidc-provider/"+host, st[0]["Principal"].(map[string]any)["Federated"])
	return cond[host+":sub"].(string)
}

func TestIRSARolesTrustExactlyTheServiceAccountsCreated(t *testing.T) {
	g, _ := runAWS(t, map[string]string{"edw:producer": "true"})
	created := map[string]string{} // subject → role ARN annotated on it
	for _, sa := range g.ByType("kubernetes:core/v1:ServiceAccount") {
		created["system:serviceaccount:"+sa.Str(t, "metadata.namespace")+":"+sa.Str(t, "metadata.name")] =
			sa.Str(t, `metadata.annotations.eks\.amazonaws\.com/role-arn`)
	}
	keda := releaseOfChart(t, g, "keda")
	created[kube.KedaServiceAccount.Subject()] = keda.Str(t, `values.serviceAccount.operator.annotations.eks\.amazonaws\.com/role-arn`)
	karp := releaseOfChart(t, g, "karpenter")
	created[infraaws.KarpenterServiceAccount] = karp.Str(t, `values.serviceAccount.annotations.eks\.amazonaws\.com/role-arn`)
	require.Len(t, created, 4)

	trusted := map[string]string{}
	for _, r := range g.ByType(awsRole) {
		if _, ok := r.Input("assumeRolePolicy"); !ok || !strings.Contains(r.Str(t, "assumeRolePolicy"), "AssumeRoleWithWebIdentity") {
			continue
		}
		trusted[trustedSubject(t, r)] = r.State["arn"].StringValue()
	}
	assert.Equal(t, created, trusted, "each service account is annotated with the role that trusts exactly it")
}

// TestWorkloadPoliciesGrantExactlyThePermissionsTable: each workload role's
// policy grants exactly the actions the permissions table lists for its calls,
// each on the one ARN of the resource it touches, no wildcards.
func TestWorkloadPoliciesGrantExactlyThePermissionsTable(t *testing.T) {
	g, _ := runAWS(t, nil)
	perms, err := permissions.Load()
	require.NoError(t, err)
	arns := map[string]string{
		"queue": g.One(t, awsQueue, "edw").State["arn"].StringValue(),
		"dlq":   g.One(t, awsQueue, "edw-dlq").State["arn"].StringValue(),
		"table": g.OnlyOfType(t, awsTable).State["arn"].StringValue(),
	}
	for _, identity := range []string{"consumer", "producer", "keda"} {
		want := map[string][]string{}
		for _, on := range perms.Resources("aws", identity) {
			if routerResources[on] {
				continue // no routes, no router: TestAWSRoutePoliciesGrantExactlyThePermissionsTable has them
			}
			want[arns[on]] = perms.Actions("aws", identity, on)
		}
		got := map[string][]string{}
		for _, st := range policyDoc(t, g.One(t, awsPolicy, "edw-"+identity), "policy") {
			assert.Equal(t, "Allow", st["Effect"])
			assert.Nil(t, st["Condition"])
			for _, res := range strs(st["Resource"]) {
				assert.NotContains(t, res, "*", "%s: wildcard resource", identity)
				got[res] = append(got[res], strs(st["Action"])...)
			}
			for _, a := range strs(st["Action"]) {
				assert.NotContains(t, a, "*", "%s: wildcard action", identity)
			}
		}
		for res := range got {
			slices.Sort(got[res])
		}
		assert.Equal(t, want, got, identity)
	}
	assert.NotContains(t, perms.Actions("aws", "consumer", "table"), "dynamodb:BatchWriteItem", "a batch write would overwrite a result")
}

func TestKarpenterControllerPolicyIsScoped(t *testing.T) {
	g, _ := runAWS(t, nil)
	st := policyDoc(t, g.One(t, awsPolicy, "edw-karpenter-controller"), "policy")
	interruption := g.One(t, awsQueue, "edw-karpenter-interruption").State["arn"].StringValue()
	nodeRole := g.One(t, awsRole, "edw-karpenter-node").State["arn"].StringValue()
	bySid := map[string]map[string]any{}
	for _, s := range st {
		bySid[s["Sid"].(string)] = s
		for _, a := range strs(s["Action"]) {
			assert.NotContains(t, a, "*", "no wildcard action")
		}
		for _, r := range strs(s["Resource"]) {
			if r == "*" {
				// Only calls that accept no resource scoping: regional reads (limited
				// to the stack's region) and the global pricing API.
				assert.Contains(t, []string{"AllowRegionalReadActions", "AllowPricingReadActions",
					"AllowUnscopedInstanceProfileListAction", "AllowUnscopedEC2DescribeInstanceStatus"}, s["Sid"])
			}
		}
	}
	assert.Equal(t, []string{interruption}, strs(bySid["AllowInterruptionQueueActions"]["Resource"]))
	assert.Equal(t, []string{nodeRole}, strs(bySid["AllowPassingInstanceRole"]["Resource"]))
	assert.Equal(t, []string{"arn:aws:eks:eu-north-1:" + fakeAccount + ":cluster/edw-aws"}, strs(bySid["AllowAPIServerEndpointDiscovery"]["Resource"]))
	assert.Contains(t, bySid["AllowRegionalReadActions"]["Condition"], "StringEquals")
	assert.Contains(t, bySid["AllowScopedDeletion"]["Condition"].(map[string]any)["StringEquals"], "aws:ResourceTag/kubernetes.io/cluster/edw-aws")
}

func TestKarpenterInstall(t *testing.T) {
	g, _ := runAWS(t, map[string]string{"edw:capacityTypes": `["spot"]`, "edw:architectures": `["arm64"]`, "edw:nodeCpuLimit": "32"})
	release := releaseOfChart(t, g, infraaws.KarpenterChart)
	assert.Equal(t, DefaultKarpenterChartVersion, release.Str(t, "version"))
	assert.Equal(t, "edw-aws", release.Str(t, "values.settings.clusterName"))
	assert.Equal(t, "edw-aws-karpenter", release.Str(t, "values.settings.interruptionQueue"), "the queue NAME, not its URL")
	assert.Equal(t, "system", release.Str(t, `values.nodeSelector.edw\.dev/pool`), "the controller never runs on nodes it manages")
	assert.True(t, g.DependsOn(release, g.OnlyOfType(t, awsNodeGroup)))

	class := g.OnlyOfType(t, karpClass)
	assert.Equal(t, "al2023@latest", class.Str(t, "spec.amiSelectorTerms.0.alias"))
	assert.Equal(t, "edw-aws", class.Str(t, `spec.subnetSelectorTerms.0.tags.karpenter\.sh/discovery`))
	assert.Equal(t, g.One(t, awsRole, "edw-karpenter-node").State["name"].StringValue(), class.Str(t, "spec.role"))
	pool := g.OnlyOfType(t, karpNodePool)
	req := map[string]any{}
	reqs, _ := pool.Plain("spec.template.spec.requirements")
	for _, r := range reqs.([]any) {
		m := r.(map[string]any)
		req[m["key"].(string)] = m["values"]
	}
	assert.Equal(t, []any{"spot"}, req["karpenter.sh/capacity-type"])
	assert.Equal(t, []any{"arm64"}, req["kubernetes.io/arch"])
	assert.Equal(t, []any{"c", "m", "r"}, req["karpenter.k8s.aws/instance-category"])
	assert.Equal(t, []any{"2"}, req["karpenter.k8s.aws/instance-generation"])
	assert.Equal(t, "32", pool.Str(t, "spec.limits.cpu"))
	assert.Equal(t, "WhenEmptyOrUnderutilized", pool.Str(t, "spec.disruption.consolidationPolicy"))
	assert.Equal(t, "720h", pool.Str(t, "spec.template.spec.expireAfter"))

	iq := g.One(t, awsQueue, "edw-karpenter-interruption")
	sse, _ := iq.Plain("sqsManagedSseEnabled")
	assert.Equal(t, true, sse)
	for _, tgt := range g.ByType(awsTarget) {
		assert.Equal(t, iq.State["arn"].StringValue(), tgt.Str(t, "arn"))
	}
	patterns := []string{}
	for _, r := range g.ByType(awsRule) {
		patterns = append(patterns, r.Str(t, "eventPattern"))
	}
	joined := strings.Join(patterns, "\n")
	for _, detail := range []string{"AWS Health Event", "EC2 Spot Instance Interruption Warning", "EC2 Instance Rebalance Recommendation", "EC2 Instance State-change Notification"} {
		assert.Contains(t, joined, detail)
	}
}

func TestAWSTeardownOrder(t *testing.T) {
	g, _ := runAWS(t, nil)
	keda := []*pulumitest.Resource{releaseOfChart(t, g, "keda")}
	karp := []*pulumitest.Resource{releaseOfChart(t, g, infraaws.KarpenterChart)}
	teardownSafe(t, g, map[string][]*pulumitest.Resource{
		"kubernetes:keda.sh/v1alpha1:ScaledObject":          keda,
		"kubernetes:keda.sh/v1alpha1:TriggerAuthentication": keda,
		karpNodePool: karp,
		karpClass:    karp,
	}, g.ByType(awsNodeGroup))
	dep := g.OnlyOfType(t, "kubernetes:apps/v1:Deployment")
	assert.True(t, g.DependsOn(dep, karp[0]), "consumer pods go before Karpenter, which then removes its nodes")
	assert.True(t, g.DependsOn(dep, g.OnlyOfType(t, karpNodePool)), "and before the pool whose nodes they run on")
}

func TestAWSDataIsRetainedOnlyWhenAsked(t *testing.T) {
	g, _ := runAWS(t, nil)
	for _, r := range g.Resources {
		assert.False(t, r.RetainOnDelete, "%s retained by default", r)
	}
	g, _ = runAWS(t, map[string]string{"edw:retainData": "true"})
	for _, r := range append(g.ByType(awsTable), g.One(t, awsQueue, "edw"), g.One(t, awsQueue, "edw-dlq")) {
		assert.True(t, r.RetainOnDelete, r.String())
	}
	assert.False(t, g.One(t, awsQueue, "edw-karpenter-interruption").RetainOnDelete)
}

func TestNothingHardCodesAnAccountOrRegion(t *testing.T) {
	account := regexp.MustCompile(`\b\d{12}\b`)
	// Any AWS region name, in any partition.
	region := regexp.MustCompile(`\b(us|eu|ap|sa|ca|me|af|il|mx|cn)(-gov|-iso[a-z]?)?-[a-z]+-\d\b`)
	for _, configured := range []string{"eu-north-1", "ap-southeast-2"} {
		g, _ := runAWS(t, map[string]string{"aws:region": configured})
		for _, r := range g.Resources {
			text := flatten1(r)
			for _, m := range account.FindAllString(text, -1) {
				assert.Equal(t, fakeAccount, m, "%s: account id not from getCallerIdentity", r)
			}
			for _, m := range region.FindAllString(text, -1) {
				assert.Equal(t, configured, m, "%s: region not from config", r)
			}
		}
	}
}

func TestAWSTargetAndOutputs(t *testing.T) {
	g, out := runAWS(t, nil)
	url := g.One(t, awsQueue, "edw").State["url"].StringValue()
	so := g.OnlyOfType(t, "kubernetes:keda.sh/v1alpha1:ScaledObject")
	assert.Equal(t, "aws-sqs-queue", so.Str(t, "spec.triggers.0.type"))
	assert.Equal(t, url, so.Str(t, "spec.triggers.0.metadata.queueURL"), "the trigger names the queue we created")
	assert.Equal(t, "eu-north-1", so.Str(t, "spec.triggers.0.metadata.awsRegion"))
	assert.Equal(t, "aws", g.OnlyOfType(t, "kubernetes:keda.sh/v1alpha1:TriggerAuthentication").Str(t, "spec.podIdentity.provider"))
	assert.Equal(t, "edw-aws", out["clusterName"])
	assert.Equal(t, url, out["queueUrl"])
	assert.Equal(t, g.One(t, awsQueue, "edw-dlq").State["url"].StringValue(), out["dlqUrl"])
	assert.Equal(t, "edw-results-1a2b", out["tableName"])
	assert.Contains(t, out["kubeconfig"], `"kind":"Config"`)
	assert.Contains(t, out["producerCommand"], "EDW_QUEUE_URL="+url+" go run ./cmd/producer")
}

// TestImagesAreBuiltIntoTheStacksRepositories: without prebuilt images, ko builds
// both for every configured architecture and pushes them to this stack's ECR
// repositories, and the workload runs exactly what ko pushed.
func TestImagesAreBuiltIntoTheStacksRepositories(t *testing.T) {
	t.Chdir(projectRoot) // Pulumi runs the program from the project root, where workload/ is
	pushed := map[string]string{}
	ko := pulumitest.FakeResource("command:local:Command", func(a pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
		out := a.Inputs.Copy()
		repo := a.Inputs["environment"].ObjectValue()["KO_DOCKER_REPO"].StringValue()
		ref := repo + "@sha256:" + strings.Repeat("e", 64)
		pushed[repo] = ref
		out["stdout"] = resource.NewStringProperty("building…\n" + ref + "\n")
		return a.Name, out, nil
	})
	g, _ := runStack(t, "aws", map[string]string{"aws:region": "eu-north-1", "edw:architectures": `["arm64"]`},
		append(awsFakes("eu-north-1", "edw-aws"), ko)...)
	cmds := g.ByType("command:local:Command")
	require.Len(t, cmds, 2)
	repos := map[string]bool{}
	for _, r := range g.ByType(awsRepo) {
		repos[r.State["repositoryUrl"].StringValue()] = true
	}
	for _, c := range cmds {
		assert.Contains(t, c.Str(t, "create"), "--platform=linux/arm64 ")
		assert.True(t, repos[c.Str(t, "environment.KO_DOCKER_REPO")], "%s pushes to a repository of this stack", c)
		assert.Equal(t, "eu-north-1", c.Str(t, "environment.AWS_REGION"))
	}
	image := func(typ, path string) string { return g.OnlyOfType(t, typ).Str(t, path) }
	var consumerRepo string
	for repo := range repos {
		if strings.HasSuffix(repo, "/consumer") {
			consumerRepo = repo
		}
	}
	assert.Equal(t, pushed[consumerRepo], image("kubernetes:apps/v1:Deployment", "spec.template.spec.containers.0.image"))
}

package stacks

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	infraaws "github.com/edw-dev/edw/infra/aws"
	"github.com/edw-dev/edw/infra/azure"
	"github.com/edw-dev/edw/infra/karpenter"
	"github.com/edw-dev/edw/internal/pulumitest"
)

const previewRole = "arn:aws:iam::444455556666:role/ci-preview"

// kindOf maps a Kubernetes resource type token to its RBAC group and plural.
func kindOf(typ string) (group, resource string) {
	// kubernetes:<group>/<version>:<Kind>, core group as core/v1.
	parts := strings.Split(strings.TrimPrefix(typ, "kubernetes:"), ":")
	gv, kind := parts[0], parts[1]
	group = gv[:strings.LastIndex(gv, "/")]
	if group == "core" {
		group = ""
	}
	lower := strings.ToLower(kind)
	if strings.HasSuffix(lower, "s") {
		return group, lower + "es"
	}
	return group, lower + "s"
}

// readable is what a reader's ClusterRole lets it read: group → resources.
func readable(t *testing.T, g *pulumitest.Graph) map[string][]string {
	t.Helper()
	role := g.One(t, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", "edw-readers")
	out := map[string][]string{}
	rules, _ := role.Plain("rules")
	for _, r := range rules.([]any) {
		rule := r.(map[string]any)
		assert.ElementsMatch(t, []any{"get", "list", "watch"}, rule["verbs"], "readers never write")
		for _, grp := range strs(rule["apiGroups"]) {
			out[grp] = append(out[grp], strs(rule["resources"])...)
		}
	}
	return out
}

// TestCIPreviewReadersCanReadEverythingTheStackManages: once a stack exists,
// preview reads every object and Helm release edw manages, so the readers'
// role covers every Kubernetes kind found in the graph, and the Secrets Helm
// keeps each release in, in every release's namespace, and nothing is writable.
func TestCIPreviewReadersCanReadEverythingTheStackManages(t *testing.T) {
	for name, g := range map[string]*pulumitest.Graph{
		"aws": first(runAWS(t, map[string]string{"edw:producer": "true", "edw:podMonitor": "true", "edw:clusterReaders": `["` + previewRole + `"]`})),
		"azure": first(runAzure(t, map[string]string{"edw:producer": "true", "edw:podMonitor": "true", "edw:managedPrometheus": "true",
			"edw:clusterReaders": `["0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"]`})),
	} {
		can := readable(t, g)
		for _, r := range g.Resources {
			if !strings.HasPrefix(r.Type, "kubernetes:") || !r.Custom || r.Type == "kubernetes:helm.sh/v3:Release" {
				continue
			}
			group, res := kindOf(r.Type)
			assert.Contains(t, can[group], res, "%s: readers cannot read %s", name, r)
		}
		namespaces := map[string]bool{}
		for _, rel := range g.ByType("kubernetes:helm.sh/v3:Release") {
			namespaces[rel.Str(t, "namespace")] = true
		}
		for ns := range namespaces {
			var found bool
			for _, role := range g.ByType("kubernetes:rbac.authorization.k8s.io/v1:Role") {
				if role.Str(t, "metadata.namespace") == ns {
					found = true
					rules, _ := role.Plain("rules")
					assert.Equal(t, []any{map[string]any{"apiGroups": []any{""}, "resources": []any{"secrets"}, "verbs": []any{"get", "list"}}}, rules)
				}
			}
			assert.True(t, found, "%s: readers can read the Helm release state in %s", name, ns)
		}
		require.Len(t, g.ByType("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"), 1)
	}
}

func first[A, B any](a A, _ B) A { return a }

func TestAWSReadersAreMappedInAWSAuthToTheReaderGroup(t *testing.T) {
	g, _ := runAWS(t, map[string]string{"edw:clusterReaders": `["` + previewRole + `"]`})
	eks := g.OnlyOfType(t, awsEKS)
	mappings, _ := eks.Plain("roleMappings")
	require.Equal(t, []any{map[string]any{"roleArn": previewRole, "username": "edw-reader:{{SessionName}}", "groups": []any{"edw:readers"}}}, mappings)
	binding := g.OnlyOfType(t, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")
	subjects, _ := binding.Plain("subjects")
	assert.Equal(t, []any{map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "edw:readers"}}, subjects)

	g, _ = runAWS(t, nil)
	_, mapped := g.OnlyOfType(t, awsEKS).Input("roleMappings")
	assert.False(t, mapped, "no readers, no mapping")
	assert.Empty(t, g.ByType("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"))
}

func TestAzureClusterIsReachedThroughEntraIDOnly(t *testing.T) {
	reader := "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
	g, _ := runAzure(t, map[string]string{"edw:clusterReaders": `["` + reader + `"]`})
	cluster := g.OnlyOfType(t, azCluster)
	assert.Empty(t, g.Invoked("azure-native:containerservice:listManagedClusterAdminCredentials"))
	require.Len(t, g.Invoked("azure-native:containerservice:listManagedClusterUserCredentials"), 1)
	prefix := "/subscriptions/" + fakeSubscription + "/providers/Microsoft.Authorization/roleDefinitions/"
	byRole := map[string][]string{}
	for _, ra := range g.ByType(azRole) {
		if ra.Str(t, "scope") == cluster.ID {
			byRole[strings.TrimPrefix(ra.Str(t, "roleDefinitionId"), prefix)] = append(byRole[strings.TrimPrefix(ra.Str(t, "roleDefinitionId"), prefix)], ra.Str(t, "principalId"))
			if ra.Str(t, "principalId") == "deployer-object" {
				assert.Contains(t, ra.IgnoreChanges, "principalId", "a preview by another identity shows no change")
			}
		}
	}
	assert.Equal(t, map[string][]string{azure.RoleAKSRBACClusterAdmin: {"deployer-object"}, azure.RoleAKSClusterUser: {reader}}, byRole)
	provider := g.OnlyOfType(t, "pulumi:providers:kubernetes")
	for _, ra := range g.ByType(azRole) {
		if ra.Str(t, "roleDefinitionId") == prefix+azure.RoleAKSRBACClusterAdmin {
			assert.True(t, g.DependsOn(provider, ra), "Pulumi reaches the cluster only once its admin grant exists")
		}
	}
	binding := g.OnlyOfType(t, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")
	subjects, _ := binding.Plain("subjects")
	assert.ElementsMatch(t, []any{
		map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": reader},
		map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": reader},
	}, subjects)

	admin := "1a2b3c4d-5e6f-4a0b-9c1d-2e3f4a5b6c7d"
	g, _ = runAzure(t, map[string]string{"edw:clusterAdmins": `["` + admin + `"]`})
	var admins []string
	for _, ra := range g.ByType(azRole) {
		if ra.Str(t, "roleDefinitionId") == prefix+azure.RoleAKSRBACClusterAdmin {
			admins = append(admins, ra.Str(t, "principalId"))
		}
	}
	assert.Equal(t, []string{admin}, admins, "named admins replace the deployer")
}

// TestSystemNodesRunOnlyAddOns: the EKS system node group is tainted; every
// release placed on it tolerates the taint; the workload does not, and
// selects edw's own NodePool so no other pool can launch nodes for it.
func TestSystemNodesRunOnlyAddOns(t *testing.T) {
	g, _ := runAWS(t, map[string]string{"edw:producer": "true"})
	ng := g.OnlyOfType(t, awsNodeGroup)
	taints, _ := ng.Plain("taints")
	require.Equal(t, []any{map[string]any{"key": infraaws.SystemTaintKey, "value": "true", "effect": "NO_SCHEDULE"}}, taints)
	for _, rel := range g.ByType("kubernetes:helm.sh/v3:Release") {
		if strings.HasSuffix(rel.Str(t, "chart"), "-crd") {
			continue // CRDs only: no pods to place
		}
		sel, _ := rel.Plain("values.nodeSelector")
		assert.Equal(t, map[string]any{infraaws.SystemPoolLabel: "system"}, sel, rel.String())
		tol, _ := rel.Plain("values.tolerations")
		tolerated := slices.ContainsFunc(tol.([]any), func(x any) bool {
			m := x.(map[string]any)
			return m["key"] == infraaws.SystemTaintKey && m["operator"] == "Exists"
		})
		assert.True(t, tolerated, "%s tolerates the system taint", rel)
	}
	for _, w := range []string{"kubernetes:apps/v1:Deployment", "kubernetes:batch/v1:Job"} {
		r := g.OnlyOfType(t, w)
		sel, _ := r.Plain("spec.template.spec.nodeSelector")
		assert.Equal(t, map[string]any{karpenter.PoolLabel: karpenter.WorkloadPool}, sel, w)
		tol, _ := r.Plain("spec.template.spec.tolerations")
		blob, _ := json.Marshal(tol)
		assert.NotContains(t, string(blob), infraaws.SystemTaintKey, "%s stays off the system nodes", w)
	}
	assert.Equal(t, karpenter.WorkloadPool, g.OnlyOfType(t, karpNodePool).Str(t, "metadata.name"))

	for _, mode := range []string{"auto", "cluster-autoscaler"} {
		g, _ := runAzure(t, map[string]string{"edw:nodeProvisioning": mode})
		sel, _ := g.OnlyOfType(t, "kubernetes:apps/v1:Deployment").Plain("spec.template.spec.nodeSelector")
		if mode == "auto" {
			assert.Equal(t, map[string]any{karpenter.PoolLabel: karpenter.WorkloadPool}, sel, "NAP's own default pool cannot take the overflow")
			weight, _ := g.OnlyOfType(t, napPool).Plain("spec.weight")
			assert.Equal(t, 100.0, weight)
		} else {
			assert.Empty(t, sel, "cluster-autoscaler pools carry no Karpenter label")
		}
	}
}

func TestZonesAreRegularEKSZonesOnly(t *testing.T) {
	g, _ := runAWS(t, nil)
	calls := g.Invoked("aws:index/getAvailabilityZones:getAvailabilityZones")
	require.Len(t, calls, 1)
	args := calls[0].Args.Mappable()
	assert.Equal(t, "available", args["state"])
	assert.Equal(t, []any{map[string]any{"name": "opt-in-status", "values": []any{"opt-in-not-required"}}}, args["filters"],
		"Local and Wavelength Zones are opt-in")
	assert.ElementsMatch(t, []any{"use1-az3", "usw1-az2", "cac1-az3"}, args["excludeZoneIds"])
}

func TestTwoStacksShareAnAccount(t *testing.T) {
	a, _ := runAWS(t, nil)
	b, _ := runAWS(t, map[string]string{"edw:clusterName": "edw-staging"})
	names := func(g *pulumitest.Graph) []string {
		var out []string
		for _, r := range g.ByType(awsRepo) {
			out = append(out, r.Str(t, "name"))
		}
		return out
	}
	assert.ElementsMatch(t, []string{"edw-aws/producer", "edw-aws/consumer"}, names(a))
	for _, n := range names(b) {
		assert.NotContains(t, names(a), n, "repository names are per stack")
	}
}

func TestPartitionDecidesServicePrincipalsAndARNs(t *testing.T) {
	for region, suffix := range map[string]string{"cn-north-1": "amazonaws.com.cn", "us-gov-west-1": "amazonaws.com", "eu-north-1": "amazonaws.com"} {
		g, _ := runAWS(t, map[string]string{"aws:region": region})
		part := partitionOf(region).name
		for _, name := range []string{"edw-system-node", "edw-karpenter-node"} {
			st := policyDoc(t, g.One(t, awsRole, name), "assumeRolePolicy")
			assert.Equal(t, "ec2."+suffix, st[0]["Principal"].(map[string]any)["Service"], "%s in %s", name, region)
		}
		qp := policyDoc(t, g.OnlyOfType(t, "aws:sqs/queuePolicy:QueuePolicy"), "policy")
		// EventBridge's principal is the global one in every partition (issue 21, item 8).
		assert.Equal(t, "events.amazonaws.com", qp[0]["Principal"].(map[string]any)["Service"], region)
		for _, a := range g.ByType("aws:iam/rolePolicyAttachment:RolePolicyAttachment") {
			assert.True(t, strings.HasPrefix(a.Str(t, "policyArn"), "arn:"+part+":iam::aws:policy/"), a.String())
		}
		for _, st := range policyDoc(t, g.One(t, awsPolicy, "edw-karpenter-controller"), "policy") {
			if st["Sid"] == "AllowPassingInstanceRole" {
				passed := st["Condition"].(map[string]any)["StringEquals"].(map[string]any)["iam:PassedToService"]
				assert.Equal(t, []string{"ec2." + suffix}, strs(passed), "Karpenter passes the node role to this partition's EC2 only")
			}
			for _, res := range strs(st["Resource"]) {
				assert.True(t, res == "*" || strings.HasPrefix(res, "arn:"+part+":"), "%s: %s", st["Sid"], res)
			}
		}
	}
}

package stacks

import (
	"encoding/json"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	infraaws "github.com/edw-dev/edw/infra/aws"
	"github.com/edw-dev/edw/internal/pulumitest"
)

// changed lists the resources (type::name) whose inputs differ between two
// runs of the same stack, and fails on a resource only one run has.
func changed(t *testing.T, before, after *pulumitest.Graph) []string {
	t.Helper()
	inputs := func(g *pulumitest.Graph) map[string]string {
		out := map[string]string{}
		for _, r := range g.Resources {
			b, err := json.Marshal(r.Inputs.Mappable())
			require.NoError(t, err)
			out[r.String()] = string(b)
		}
		return out
	}
	a, b := inputs(before), inputs(after)
	require.Equal(t, len(a), len(b), "a version bump adds or removes nothing")
	var diff []string
	for k, v := range a {
		w, ok := b[k]
		require.True(t, ok, "%s disappears", k)
		if v != w {
			diff = append(diff, k)
		}
	}
	sort.Strings(diff)
	return diff
}

// TestEachPinChangesExactlyWhatItOwns: raising a pinned version changes the
// resources that version owns and nothing else in the graph.
func TestEachPinChangesExactlyWhatItOwns(t *testing.T) {
	aws, _ := runAWS(t, nil)
	azure, _ := runAzure(t, map[string]string{"edw:nodeProvisioning": "cluster-autoscaler"})
	cases := []struct {
		key, value string
		base       *pulumitest.Graph
		run        func(map[string]string) *pulumitest.Graph
		want       []string
	}{
		{"edw:kedaChartVersion", "2.22.0", aws, func(c map[string]string) *pulumitest.Graph { g, _ := runAWS(t, c); return g },
			[]string{"kubernetes:helm.sh/v3:Release::edw-keda"}},
		{"edw:karpenterChartVersion", "1.13.0", aws, func(c map[string]string) *pulumitest.Graph { g, _ := runAWS(t, c); return g },
			[]string{"kubernetes:helm.sh/v3:Release::edw-karpenter", "kubernetes:helm.sh/v3:Release::edw-karpenter-crd"}},
		{"edw:kubernetesVersion", "1.35", aws, func(c map[string]string) *pulumitest.Graph { g, _ := runAWS(t, c); return g },
			// The EKS add-ons follow the Kubernetes version (issue 21, item 3).
			[]string{awsNodeGroup + "::edw-system", awsEKS + "::edw", awsAddon + "::edw-vpc-cni", awsAddon + "::edw-kube-proxy", awsAddon + "::edw-coredns"}},
		{"edw:kedaChartVersion", "2.22.0", azure, func(c map[string]string) *pulumitest.Graph {
			g, _ := runAzure(t, with(c, "edw:nodeProvisioning", "cluster-autoscaler"))
			return g
		}, []string{"kubernetes:helm.sh/v3:Release::edw-keda"}},
		{"edw:kubernetesVersion", "1.35", azure, func(c map[string]string) *pulumitest.Graph {
			g, _ := runAzure(t, with(c, "edw:nodeProvisioning", "cluster-autoscaler"))
			return g
		}, []string{azCluster + "::edw", azPool + "::edw-odamd", azPool + "::edw-odarm", azPool + "::edw-spotamd", azPool + "::edw-spotarm"}},
	}
	for _, c := range cases {
		t.Run(c.key+"="+c.value, func(t *testing.T) {
			after := c.run(map[string]string{c.key: c.value})
			assert.ElementsMatch(t, c.want, changed(t, c.base, after))
		})
	}
}

// TestVersionBumpsRunInTheSafeOrder: the control plane before its nodes, the
// Karpenter CRDs before the controller, and on destroy the controller (and the
// node classes and pools it finalizes) before the CRDs.
func TestVersionBumpsRunInTheSafeOrder(t *testing.T) {
	g, _ := runAWS(t, nil)
	ng := g.OnlyOfType(t, awsNodeGroup)
	assert.Equal(t, DefaultKubernetesVersion, ng.Str(t, "version"), "the node group's version is stated, so a bump reaches it")
	assert.True(t, g.DependsOn(ng, g.OnlyOfType(t, awsEKS)))
	crd := releaseOfChart(t, g, infraaws.KarpenterCRDChart)
	ctrl := releaseOfChart(t, g, infraaws.KarpenterChart)
	assert.Equal(t, ctrl.Str(t, "version"), crd.Str(t, "version"), "CRDs and controller move together")
	skip, _ := ctrl.Plain("skipCrds")
	assert.Equal(t, true, skip, "the controller chart's bundled CRDs, which Helm never upgrades, are not used")
	assert.True(t, g.DependsOn(ctrl, crd))
	for _, typ := range []string{karpNodePool, karpClass} {
		assert.True(t, g.DependsOn(g.OnlyOfType(t, typ), crd), "%s goes before its CRD on destroy", typ)
	}

	az, _ := runAzure(t, map[string]string{"edw:nodeProvisioning": "cluster-autoscaler"})
	cluster := az.OnlyOfType(t, azCluster)
	v, _ := cluster.Plain("agentPoolProfiles.0.orchestratorVersion")
	assert.Equal(t, DefaultKubernetesVersion, v)
	for _, p := range az.ByType(azPool) {
		assert.Equal(t, DefaultKubernetesVersion, p.Str(t, "orchestratorVersion"))
		assert.True(t, az.DependsOn(p, cluster), "%s upgrades after the control plane", p)
	}
}

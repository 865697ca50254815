package stacks

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	infraaws "github.com/edw-dev/edw/infra/aws"
	"github.com/edw-dev/edw/internal/pulumitest"
)

// TestControllersOutrankTheWorkload: KEDA and Karpenter run at the built-in
// cluster-critical priority, set in their charts' values, so a full cluster
// preempts consumers for them and never the reverse. Karpenter's chart
// (1.12.1 values.yaml) defaults to it; KEDA's (2.20–2.21 values.yaml,
// priorityClassName: "") sets none.
func TestControllersOutrankTheWorkload(t *testing.T) {
	aws, _ := runAWS(t, nil)
	azure, _ := runAzure(t, nil)
	for _, r := range []*pulumitest.Resource{
		releaseOfChart(t, aws, "keda"), releaseOfChart(t, aws, infraaws.KarpenterChart), releaseOfChart(t, azure, "keda"),
	} {
		assert.Equal(t, "system-cluster-critical", r.Str(t, "values.priorityClassName"), "%s", r.Str(t, "chart"))
	}
	for _, g := range []*pulumitest.Graph{aws, azure} {
		for _, d := range g.ByType(k8sDeployment) {
			_, set := d.Input("spec.template.spec.priorityClassName")
			require.False(t, set, "%s: the workload stays at the default priority", d)
		}
	}
}

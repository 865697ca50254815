package stacks

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/internal/pulumitest"
)

// releaseOfChart is the one Helm release of chart.
func releaseOfChart(t *testing.T, g *pulumitest.Graph, chart string) *pulumitest.Resource {
	t.Helper()
	var found []*pulumitest.Resource
	for _, r := range g.ByType("kubernetes:helm.sh/v3:Release") {
		if c := r.Str(t, "chart"); c == chart || strings.HasSuffix(c, "/"+chart) {
			found = append(found, r)
		}
	}
	require.Len(t, found, 1, "want one %s release", chart)
	return found[0]
}

// teardownSafe asserts the destroy order: every object of a kind that carries a
// finalizer depends on (so is deleted before) the controller that clears it, and
// every release depends on every node pool it runs on, so nothing a controller
// launched outlives the stack and no finalizer is left without its controller.
func teardownSafe(t *testing.T, g *pulumitest.Graph, controllers map[string][]*pulumitest.Resource, nodePools []*pulumitest.Resource) {
	t.Helper()
	require.NotEmpty(t, nodePools, "the stack has node pools")
	for kind, ctrls := range controllers {
		objs := g.ByType(kind)
		require.NotEmpty(t, objs, "the stack creates %s", kind)
		require.NotEmpty(t, ctrls, "%s has a controller", kind)
		for _, o := range objs {
			for _, c := range ctrls {
				assert.True(t, g.DependsOn(o, c), "%s must be deleted before %s", o, c)
			}
		}
	}
	for _, r := range g.ByType("kubernetes:helm.sh/v3:Release") {
		for _, p := range nodePools {
			assert.True(t, g.DependsOn(r, p), "release %s must be deleted before the node pool %s", r, p)
		}
	}
}

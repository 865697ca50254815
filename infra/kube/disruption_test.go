package kube_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/internal/pulumitest"
)

const pdbType = "kubernetes:policy/v1:PodDisruptionBudget"

// podTemplate is one pod template in the graph: a Deployment's or a Job's.
type podTemplate struct {
	owner     *pulumitest.Resource
	namespace string
	labels    map[string]any
}

func podTemplates(t *testing.T, g *pulumitest.Graph) []podTemplate {
	t.Helper()
	var out []podTemplate
	for _, r := range append(g.ByType(deploymentType), g.ByType(jobType)...) {
		labels, _ := r.Plain("spec.template.metadata.labels")
		m, ok := labels.(map[string]any)
		require.True(t, ok, "%s has pod labels", r)
		out = append(out, podTemplate{owner: r, namespace: r.Str(t, "metadata.namespace"), labels: m})
	}
	return out
}

// selects reports whether the budget's selector matches the pod template: same
// namespace, every matchLabels pair on the pods. A budget with match
// expressions fails the test: this check would not understand it.
func selects(t *testing.T, pdb *pulumitest.Resource, p podTemplate) bool {
	t.Helper()
	_, hasExpr := pdb.Input("spec.selector.matchExpressions")
	require.False(t, hasExpr, "%s: matchExpressions are not checked here", pdb)
	sel, _ := pdb.Plain("spec.selector.matchLabels")
	m, _ := sel.(map[string]any)
	require.NotEmpty(t, m, "%s: an empty selector selects every pod in the namespace", pdb)
	if pdb.Str(t, "metadata.namespace") != p.namespace {
		return false
	}
	for k, v := range m {
		if p.labels[k] != v {
			return false
		}
	}
	return true
}

// TestEveryConsumerHasItsOwnDisruptionBudget: node churn (consolidation,
// expiry, upgrades) evicts at most one consumer of each Deployment at a time.
// Found from the graph: every Deployment (the stack's consumer and each
// route's) has exactly one budget selecting its pods, and that budget selects
// no other pods, the producer Job's included.
func TestEveryConsumerHasItsOwnDisruptionBudget(t *testing.T) {
	for cloud, s := range shapes {
		t.Run(cloud, func(t *testing.T) {
			g := pulumitest.Run(t, routed(s, true, false))
			pods := podTemplates(t, g)
			budgets := g.ByType(pdbType)
			deployments := g.ByType(deploymentType)
			require.Len(t, deployments, 3, "the stack's consumer and two routes'")
			assert.Len(t, budgets, len(deployments), "one budget per consumer, and no stray ones")
			for _, consumer := range pods {
				d := consumer.owner
				if d.Type != deploymentType {
					continue
				}
				var mine []*pulumitest.Resource
				for _, b := range budgets {
					if selects(t, b, consumer) {
						mine = append(mine, b)
					}
				}
				require.Len(t, mine, 1, "%s: budgets selecting its pods", d.Str(t, "metadata.name"))
				b := mine[0]
				for _, p := range pods {
					if p.owner != d {
						assert.False(t, selects(t, b, p), "%s also selects %s's pods", b, p.owner.Str(t, "metadata.name"))
					}
				}
				// maxUnavailable, never minAvailable: KEDA runs 0..N replicas and
				// minAvailable would pin a lone replica to its node forever.
				maxUnavailable, _ := b.Plain("spec.maxUnavailable")
				assert.Equal(t, 1.0, maxUnavailable, b.String())
				_, hasMin := b.Input("spec.minAvailable")
				assert.False(t, hasMin, "%s: minAvailable would block draining a node under a lone replica", b)
				assert.Equal(t, "AlwaysAllow", b.Str(t, "spec.unhealthyPodEvictionPolicy"),
					"a consumer that is not Ready (queue unreachable) never holds up a drain")
				assert.Equal(t, g.ByURN(d.Parent), g.ByURN(b.Parent), "the consumer component owns its budget")
			}
		})
	}
}

package kube_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

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

// TestKedaOutranksTheWorkload: KEDA runs at the built-in cluster-critical
// priority (its chart sets none by default), and the workload's pods claim no
// priority of their own, so they can never preempt it.
func TestKedaOutranksTheWorkload(t *testing.T) {
	forEachShape(t, true, func(t *testing.T, _ string, g *pulumitest.Graph) {
		keda := g.OnlyOfType(t, releaseType)
		assert.Equal(t, "system-cluster-critical", keda.Str(t, "values.priorityClassName"),
			"the chart's one key for the operator, metrics server and webhooks")
		for _, w := range append(g.ByType(deploymentType), g.ByType(jobType)...) {
			_, set := w.Input("spec.template.spec.priorityClassName")
			assert.False(t, set, "%s: workload pods stay at the default priority", w)
		}
	})
}

// flagValue is the value of --name=value in a container's args.
func flagValue(t *testing.T, args []any, name string) string {
	t.Helper()
	for _, a := range args {
		if v, ok := strings.CutPrefix(a.(string), "--"+name+"="); ok {
			return v
		}
	}
	t.Fatalf("no --%s in %v", name, args)
	return ""
}

// TestLivenessProbeWatchesTheReceiveLoop: every consumer's liveness probe asks
// /healthz on the port the container serves it on, which fails once a receive
// loop iteration outlasts --stall-after; the pod runs with a wait and a stall
// limit that an empty long poll cannot trip, and the probe acts within one
// more limit of a stall.
func TestLivenessProbeWatchesTheReceiveLoop(t *testing.T) {
	for cloud, s := range shapes {
		t.Run(cloud, func(t *testing.T) {
			g := pulumitest.Run(t, routed(s, false, false))
			for _, d := range g.ByType(deploymentType) {
				c := "spec.template.spec.containers.0"
				args, _ := d.Plain(c + ".args")
				wait, err := time.ParseDuration(flagValue(t, args.([]any), "wait"))
				require.NoError(t, err)
				stall, err := time.ParseDuration(flagValue(t, args.([]any), "stall-after"))
				require.NoError(t, err)
				assert.LessOrEqual(t, wait, 20*time.Second, "SQS's longest long poll")
				assert.Greater(t, stall, wait, "an empty long poll takes the whole wait and must not count as a stall")
				assert.GreaterOrEqual(t, stall-wait, 60*time.Second, "room for a slow backend attempt (30s each) within one iteration")

				probe := c + ".livenessProbe"
				assert.Equal(t, "/healthz", d.Str(t, probe+".httpGet.path"))
				port := d.Str(t, probe+".httpGet.port")
				ports, _ := d.Plain(c + ".ports")
				var served float64
				for _, p := range ports.([]any) {
					if p.(map[string]any)["name"] == port {
						served = p.(map[string]any)["containerPort"].(float64)
					}
				}
				require.NotZero(t, served, "the probe's port %q is a named container port", port)
				assert.Equal(t, ":"+strconv.Itoa(int(served)), flagValue(t, args.([]any), "metrics-addr"), "where the consumer serves /healthz")

				seconds := func(field string) time.Duration {
					v, _ := d.Plain(probe + "." + field)
					return time.Duration(v.(float64)) * time.Second
				}
				failures, _ := d.Plain(probe + ".failureThreshold")
				reaction := seconds("periodSeconds") * time.Duration(failures.(float64))
				assert.LessOrEqual(t, reaction, stall, "the kubelet restarts a stalled consumer within one more stall limit")
				assert.Less(t, seconds("timeoutSeconds"), seconds("periodSeconds"), "one probe ends before the next")
			}
		})
	}
}

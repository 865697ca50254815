package stacks

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/infra/kube"
	"github.com/edw-dev/edw/internal/pulumitest"
)

// cwWidget is a CloudWatch dashboard widget as the tests read it back.
type cwWidget struct {
	Type                string
	X, Y, Width, Height int
	Properties          struct {
		Title, Markdown string
		Metrics         [][]any
	}
}

func cloudWatchWidgets(t *testing.T, g *pulumitest.Graph) []cwWidget {
	t.Helper()
	var body struct{ Widgets []cwWidget }
	require.NoError(t, json.Unmarshal([]byte(g.OnlyOfType(t, awsDashboard).Str(t, "dashboardBody")), &body))
	return body.Widgets
}

// metricKey is a widget's metric as "namespace metric name=value ...",
// without its rendering options.
func metricKey(m []any) string {
	parts := []string{m[0].(string), m[1].(string)}
	for i := 2; i+1 < len(m); i += 2 {
		k, ok := m[i].(string)
		if !ok {
			break
		}
		parts = append(parts, k+"="+m[i+1].(string))
	}
	return strings.Join(parts, " ")
}

// TestDashboardWithoutRoutesIsUnchanged: a stack without routes has, byte
// for byte, the dashboard it had before routes had rows on it
// (testdata/aws-dashboard-no-routes.json, rendered by the code before).
func TestDashboardWithoutRoutesIsUnchanged(t *testing.T) {
	golden := filepath.Join("testdata", "aws-dashboard-no-routes.json")
	for _, routes := range []string{"", "[]"} {
		extra := map[string]string{}
		if routes != "" {
			extra["edw:routes"] = routes
		}
		g, _ := runAWS(t, extra)
		body := g.OnlyOfType(t, awsDashboard).Str(t, "dashboardBody")
		if os.Getenv("EDW_UPDATE_GOLDEN") != "" {
			require.NoError(t, os.WriteFile(golden, []byte(body+"\n"), 0o644))
		}
		want, err := os.ReadFile(golden)
		require.NoError(t, err)
		assert.Equal(t, strings.TrimSuffix(string(want), "\n"), body, "edw:routes %q", routes)
	}
}

// TestDashboardShowsEveryRoute: with routes, the dashboard has a row per
// route whose widgets chart exactly that route's backlog, throughput,
// consumers and dead-lettered messages, naming its queue, dead-letter queue,
// undelivered-events queue and rule as they were created: each found in the
// graph by following references from the route's Deployment, not from a list
// of names. No widget overlaps another, and every metric names a resource of
// this stack.
func TestDashboardShowsEveryRoute(t *testing.T) {
	g, _ := runAWSRoutes(t, map[string]string{"edw:routes": routesJSON(t, threeRoutes)})
	widgets := cloudWatchWidgets(t, g)
	bus := g.OnlyOfType(t, awsBus).State["name"].StringValue()

	created := map[string]bool{"EventBusName=" + bus: true, "TableName=" + g.OnlyOfType(t, awsTable).State["name"].StringValue(): true}
	for _, q := range g.ByType(awsQueue) {
		created["QueueName="+q.State["name"].StringValue()] = true
	}
	for _, r := range g.ByType(awsRule) {
		created["RuleName="+r.State["name"].StringValue()] = true
	}
	for _, w := range widgets {
		for _, m := range w.Properties.Metrics {
			for _, dim := range strings.Fields(metricKey(m))[2:] {
				assert.True(t, created[dim], "%q charts %s, which this stack did not create", w.Properties.Title, dim)
			}
		}
	}
	for i, a := range widgets {
		for _, b := range widgets[i+1:] {
			overlap := a.X < b.X+b.Width && b.X < a.X+a.Width && a.Y < b.Y+b.Height && b.Y < a.Y+a.Height
			assert.False(t, overlap, "%q and %q overlap", a.Properties.Title+a.Properties.Markdown, b.Properties.Title+b.Properties.Markdown)
		}
	}

	for _, r := range threeRoutes {
		t.Run(r.Name, func(t *testing.T) {
			e := env(t, k8sObject(t, g, k8sDeployment, kube.RouteConsumerName(r.Name)))
			queue := oneByState(t, g, awsQueue, "url", e["EDW_QUEUE_URL"])
			dlq := oneByState(t, g, awsQueue, "url", e["EDW_DLQ_URL"])
			target := oneByInput(t, g, awsTarget, "arn", queue.State["arn"].StringValue())
			rule := oneByState(t, g, awsRule, "name", target.Str(t, "rule"))
			undelivered := oneByState(t, g, awsQueue, "arn", target.Str(t, "deadLetterConfig.arn"))
			name := func(r *pulumitest.Resource) string { return r.State["name"].StringValue() }

			want := map[string][]string{
				"backlog": {"AWS/SQS ApproximateNumberOfMessagesVisible QueueName=" + name(queue),
					"AWS/SQS ApproximateNumberOfMessagesNotVisible QueueName=" + name(queue)},
				"throughput": {"AWS/Events MatchedEvents EventBusName=" + bus + " RuleName=" + name(rule),
					"AWS/SQS NumberOfMessagesDeleted QueueName=" + name(queue)},
				"consumers": {"AWS/SQS NumberOfMessagesReceived QueueName=" + name(queue),
					"AWS/SQS NumberOfEmptyReceives QueueName=" + name(queue)},
				"dead-lettered": {"AWS/SQS ApproximateNumberOfMessagesVisible QueueName=" + name(dlq),
					"AWS/SQS ApproximateNumberOfMessagesVisible QueueName=" + name(undelivered)},
			}
			got := map[string][]string{}
			headings := 0
			for _, w := range widgets {
				if w.Type == "text" && strings.Contains(w.Properties.Markdown, "Route "+r.Name+":") {
					headings++
				}
				if !strings.HasPrefix(w.Properties.Title, r.Name+": ") {
					continue
				}
				for what := range want {
					if strings.HasPrefix(w.Properties.Title, r.Name+": "+what) {
						for _, m := range w.Properties.Metrics {
							got[what] = append(got[what], metricKey(m))
						}
					}
				}
			}
			assert.Equal(t, 1, headings, "one heading for the route's row")
			assert.Equal(t, want, got)
		})
	}
}

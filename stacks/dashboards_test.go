package stacks

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
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
		assertGolden(t, golden, g.OnlyOfType(t, awsDashboard).Str(t, "dashboardBody"), "edw:routes %q", routes)
	}
}

// assertGolden compares got with the golden file (EDW_UPDATE_GOLDEN=1
// rewrites it first).
func assertGolden(t *testing.T, golden, got string, msgAndArgs ...any) {
	t.Helper()
	if os.Getenv("EDW_UPDATE_GOLDEN") != "" {
		require.NoError(t, os.WriteFile(golden, []byte(got+"\n"), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, strings.TrimSuffix(string(want), "\n"), got, msgAndArgs...)
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

// workbookItems are the workbook's items as the tests read them back.
func workbookItems(t *testing.T, g *pulumitest.Graph) []workbookItem {
	t.Helper()
	var data struct{ Items []workbookItem }
	require.NoError(t, json.Unmarshal([]byte(g.OnlyOfType(t, azWorkbook).Str(t, "serializedData")), &data))
	return data.Items
}

type workbookItem struct {
	Type    int
	Name    string
	Content map[string]any
}

// promQL is a Prometheus item's query text.
func (it workbookItem) promQL(t *testing.T) string {
	t.Helper()
	var q struct{ QueryText string }
	require.NoError(t, json.Unmarshal([]byte(it.Content["query"].(string)), &q))
	return q.QueryText
}

// TestWorkbookWithoutRoutesIsUnchanged: a stack without routes has, byte for
// byte, the workbook it had before routes had sections in it
// (testdata/azure-workbook-no-routes.json, rendered by the code before), with
// managed Prometheus's charts in it.
func TestWorkbookWithoutRoutesIsUnchanged(t *testing.T) {
	golden := filepath.Join("testdata", "azure-workbook-no-routes.json")
	for _, routes := range []string{"", "[]"} {
		extra := map[string]string{"edw:managedPrometheus": "true"}
		if routes != "" {
			extra["edw:routes"] = routes
		}
		g, _ := runAzure(t, extra)
		assertGolden(t, golden, g.OnlyOfType(t, azWorkbook).Str(t, "serializedData"), "edw:routes %q", routes)
	}
}

// TestWorkbookShowsEveryRoute: with routes, the workbook has a section per
// route naming its queue and poison queue as they were created, and, with
// managed Prometheus, that route's backlog, throughput, consumers and
// dead-lettered charts: the consumer's series selected by the route label
// its Deployment's consumers carry (EDW_ROUTE), the backlog by the name of
// the ScaledObject that reads the route's queue, all found in the graph from
// the route's Deployment. Without managed Prometheus the sections still name
// the queues, and no chart queries a workspace that is not there.
func TestWorkbookShowsEveryRoute(t *testing.T) {
	for _, prom := range []bool{true, false} {
		g, _ := runAzureRoutes(t, map[string]string{"edw:routes": routesJSON(t, threeRoutes), "edw:managedPrometheus": strconv.FormatBool(prom)})
		items := workbookItems(t, g)
		queues := map[string]bool{}
		for _, q := range g.ByType(azQueue) {
			queues[q.Str(t, "queueName")] = true
		}
		for _, r := range threeRoutes {
			e := env(t, k8sObject(t, g, k8sDeployment, kube.RouteConsumerName(r.Name)))
			require.True(t, queues[e["EDW_QUEUE_NAME"]] && queues[e["EDW_POISON_QUEUE_NAME"]], "the route's queues exist: %v", e)
			scaled := oneByInput(t, g, k8sScaled, "spec.triggers.0.metadata.queueName", e["EDW_QUEUE_NAME"]).Str(t, "metadata.name")

			var about []string
			kinds := map[string]int{}
			for _, it := range items {
				if it.Type == 1 && strings.HasPrefix(it.Content["json"].(string), "## Route "+r.Name+"\n") {
					about = append(about, it.Content["json"].(string))
				}
				title, _ := it.Content["title"].(string)
				if it.Type != 3 || !strings.HasPrefix(title, r.Name+": ") {
					continue
				}
				require.True(t, prom, "%q: no Prometheus charts without managed Prometheus", title)
				assert.Equal(t, []any{g.OnlyOfType(t, azMonitorWS).ID}, it.Content["crossComponentResources"], title)
				q := it.promQL(t)
				for _, sel := range regexp.MustCompile(`(edw_[a-z_]+|keda_[a-z_]+)(\{[^}]*\})?`).FindAllStringSubmatch(q, -1) {
					if strings.HasPrefix(sel[1], "edw_") {
						assert.Contains(t, sel[2], `route="`+e["EDW_ROUTE"]+`"`, "%q selects the route's consumers", title)
						assert.Contains(t, sel[2], `namespace="`+kube.ConsumerServiceAccount.Namespace+`"`, title)
					} else {
						assert.Contains(t, sel[2], `scaledObject="`+scaled+`"`, "%q reads KEDA's metric of the route's ScaledObject", title)
					}
				}
				for kind, metric := range map[string]string{"backlog": "keda_scaler_metrics_value", "throughput": "edw_consumer_messages_processed_total",
					"consumers": "count(edw_consumer_messages_in_flight", "dead-lettered": "edw_consumer_messages_poisoned_total"} {
					if strings.Contains(q, metric) {
						kinds[kind]++
					}
				}
			}
			require.Len(t, about, 1, "one section heading for route %s", r.Name)
			assert.Contains(t, about[0], "Queue `"+e["EDW_QUEUE_NAME"]+"`, poison queue `"+e["EDW_POISON_QUEUE_NAME"]+"`")
			if prom {
				assert.Equal(t, map[string]int{"backlog": 1, "throughput": 1, "consumers": 1, "dead-lettered": 1}, kinds, r.Name)
			}
		}
	}
}

// TestGrafanaRouteBacklogReadsTheRoutesScaledObject: the Grafana dashboard's
// per-route backlog selects KEDA's metric by the name the Kubernetes layer
// gives the route's ScaledObject, with the row's route in it.
func TestGrafanaRouteBacklogReadsTheRoutesScaledObject(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(projectRoot, "dashboards", "edw-consumer.json"))
	require.NoError(t, err)
	assert.Contains(t, string(raw), `keda_scaler_metrics_value{scaledObject=\"`+kube.RouteConsumerName("$route")+`\"}`)
}

package azure

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/pulumi/pulumi-azure-native-sdk/insights/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// workbookNamespace seeds the workbook's name: Azure wants a GUID, and one
// derived from the stack's cluster name stays the same on every update.
var workbookNamespace = uuid.MustParse("6f1f5a1e-2b7c-4c55-9a51-3c0e8d7f2a10")

// WorkbookName is the workbook's resource name for a stack's cluster name.
func WorkbookName(cluster string) string {
	return uuid.NewSHA1(workbookNamespace, []byte(cluster)).String()
}

// WorkbookQuery is one PromQL chart of the consumer's own metrics.
type WorkbookQuery struct {
	Title string
	// PromQL with {{namespace}} where the consumer's namespace goes.
	PromQL string
}

// ConsumerQueries are the charts of the consumer's metrics the workbook shows
// when managed Prometheus scrapes them: the panels of dashboards/edw-consumer.json
// that matter most to an operator.
var ConsumerQueries = []WorkbookQuery{
	{"Results written per second", `sum(rate(edw_consumer_messages_processed_total{namespace="{{namespace}}"}[5m]))`},
	{"Messages in flight", `sum(edw_consumer_messages_in_flight{namespace="{{namespace}}"})`},
	{"Consumer replicas (pods scraped)", `count(edw_consumer_messages_in_flight{namespace="{{namespace}}"})`},
	{"End-to-end latency p95 (seconds)", `histogram_quantile(0.95, sum by (le) (rate(edw_consumer_end_to_end_seconds_bucket{namespace="{{namespace}}"}[5m])))`},
	{"Dead-lettered per hour", `sum(increase(edw_consumer_messages_poisoned_total{namespace="{{namespace}}"}[1h]))`},
}

// RouteQueries are the charts of one route, each PromQL with {{namespace}},
// {{route}} (the route's consumers label their series with it) and
// {{scaledObject}} (KEDA labels its metrics with the ScaledObject's name).
// Storage metrics cannot tell one queue from another, so what the workbook
// shows per route comes from Prometheus.
var RouteQueries = []WorkbookQuery{
	{"Backlog (queue length, as KEDA reads it)", `max(keda_scaler_metrics_value{scaledObject="{{scaledObject}}"})`},
	{"Results written per second", `sum(rate(edw_consumer_messages_processed_total{namespace="{{namespace}}",route="{{route}}"}[5m]))`},
	{"Consumer replicas (pods scraped)", `count(edw_consumer_messages_in_flight{namespace="{{namespace}}",route="{{route}}"})`},
	{"Dead-lettered per hour", `sum(increase(edw_consumer_messages_poisoned_total{namespace="{{namespace}}",route="{{route}}"}[1h]))`},
}

// workbookRoute is a route with its queue names resolved.
type workbookRoute struct {
	name, scaledObject, queue, poison string
}

// storageMetric is one Azure Monitor metric chart of the storage account.
type storageMetric struct {
	title, service, category, metric, splitBy string
	// aggregation is the workbook's code: 1 sum, 4 average.
	aggregation int
}

var storageMetrics = []storageMetric{
	{"Queue transactions per minute, by operation", "queueservices", "Transaction", "Transactions", "ApiName", 1},
	{"Messages in the account's queues (hourly, work and poison together)", "queueservices", "Capacity", "QueueMessageCount", "", 4},
	{"Table transactions, by response (throttling shows as ServerBusyError)", "tableservices", "Transaction", "Transactions", "ResponseType", 1},
}

// workbookJSON is the workbook's serializedData: the storage account's metrics
// and, when promWorkspace is set, the consumer's metrics by PromQL; then a
// section per route.
func workbookJSON(accountID, promWorkspace, namespace string, routes []workbookRoute) (string, error) {
	items := []map[string]any{{
		"type": 1, "name": "about",
		"content": map[string]any{"json": "## edw\nStorage metrics are per account and coarse: the message count is hourly. " +
			"The consumer's own metrics (below, with edw:managedPrometheus) are scraped every 30 seconds."},
	}}
	for i, m := range storageMetrics {
		namespace := "microsoft.storage/storageaccounts/" + m.service
		metric := map[string]any{"namespace": namespace, "metric": namespace + "-" + m.category + "-" + m.metric, "aggregation": m.aggregation}
		if m.splitBy != "" {
			metric["splitBy"], metric["splitBySortOrder"], metric["splitByLimit"] = m.splitBy, -1, 10
		}
		items = append(items, map[string]any{
			"type": 10, "name": fmt.Sprintf("storage-%d", i),
			"content": map[string]any{
				"chartId": fmt.Sprintf("workbook-storage-%d", i), "version": "MetricsItem/2.0", "size": 0, "chartType": 2,
				"resourceType": "microsoft.storage/storageaccounts", "metricScope": 0, "resourceIds": []string{accountID},
				"timeContext": map[string]any{"durationMs": 3600000}, "metrics": []any{metric}, "title": m.title,
			},
		})
	}
	promItem := func(name, title, promql string) (map[string]any, error) {
		query, err := json.Marshal(map[string]string{
			"version": "PrometheusQueryProvider/1.0", "type": "query_range", "queryText": promql,
		})
		if err != nil {
			return nil, err
		}
		return map[string]any{
			"type": 3, "name": name,
			"content": map[string]any{
				"version": "KqlItem/1.0", "query": string(query), "size": 0, "queryType": 16,
				"resourceType": "microsoft.monitor/accounts", "crossComponentResources": []string{promWorkspace},
				"timeContext": map[string]any{"durationMs": 3600000}, "visualization": "timechart", "title": title,
			},
		}, nil
	}
	if promWorkspace != "" {
		for i, q := range ConsumerQueries {
			item, err := promItem(fmt.Sprintf("consumer-%d", i), q.Title, inNamespace(q.PromQL, namespace))
			if err != nil {
				return "", err
			}
			items = append(items, item)
		}
	}
	for _, r := range routes {
		about := fmt.Sprintf("## Route %s\nQueue `%s`, poison queue `%s`. ", r.name, r.queue, r.poison)
		if promWorkspace == "" {
			about += "Storage metrics are per account, not per queue: this route's backlog, throughput, " +
				"consumers and dead-lettered messages are charted with edw:managedPrometheus."
		} else {
			about += "The backlog is KEDA's metric for the route's ScaledObject `" + r.scaledObject +
				"`, which managed Prometheus scrapes from KEDA's operator."
		}
		items = append(items, map[string]any{"type": 1, "name": "route-" + r.name, "content": map[string]any{"json": about}})
		if promWorkspace == "" {
			continue
		}
		for i, q := range RouteQueries {
			promql := strings.NewReplacer("{{route}}", r.name, "{{scaledObject}}", r.scaledObject).Replace(inNamespace(q.PromQL, namespace))
			item, err := promItem(fmt.Sprintf("route-%s-%d", r.name, i), r.name+": "+q.Title, promql)
			if err != nil {
				return "", err
			}
			items = append(items, item)
		}
	}
	b, err := json.Marshal(map[string]any{
		"version": "Notebook/1.0", "items": items, "isLocked": false, "fallbackResourceIds": []string{accountID},
		"$schema": "https://github.com/Microsoft/Application-Insights-Workbooks/blob/master/schema/workbook.json",
	})
	return string(b), err
}

// newWorkbook creates the stack's Azure Monitor workbook, shown under the
// storage account's Workbooks and in Azure Monitor's gallery.
func newWorkbook(ctx *pulumi.Context, name string, args MonitoringArgs, parent pulumi.Resource) (*insights.Workbook, error) {
	var promWorkspace pulumi.StringInput = pulumi.String("")
	if args.PrometheusWorkspaceID != nil {
		promWorkspace = args.PrometheusWorkspaceID
	}
	// The account, the workspace, then each route's queue and poison queue.
	inputs := []any{args.AccountID, promWorkspace}
	for _, r := range args.Routes {
		inputs = append(inputs, r.QueueName, r.PoisonQueueName)
	}
	data := pulumi.All(inputs...).ApplyT(func(v []any) (string, error) {
		routes := make([]workbookRoute, len(args.Routes))
		for i, r := range args.Routes {
			routes[i] = workbookRoute{name: r.Name, scaledObject: r.ScaledObject, queue: v[2+2*i].(string), poison: v[3+2*i].(string)}
		}
		return workbookJSON(v[0].(string), v[1].(string), args.Namespace, routes)
	}).(pulumi.StringOutput)
	wb, err := insights.NewWorkbook(ctx, name+"-workbook", &insights.WorkbookArgs{
		ResourceGroupName: args.ResourceGroupName,
		ResourceName:      pulumi.String(WorkbookName(args.Name)),
		Kind:              pulumi.String("shared"),
		Category:          pulumi.String("workbook"),
		DisplayName:       pulumi.Sprintf("edw %s", args.Name),
		SourceId:          args.AccountID,
		SerializedData:    data,
		Version:           pulumi.String("Notebook/1.0"),
		Tags:              args.Tags,
	}, pulumi.Parent(parent))
	if err != nil {
		return nil, fmt.Errorf("workbook %s: %w", name, err)
	}
	return wb, nil
}

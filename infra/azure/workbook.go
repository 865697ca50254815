package azure

import (
	"encoding/json"
	"fmt"

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
// and, when promWorkspace is set, the consumer's metrics by PromQL.
func workbookJSON(accountID, promWorkspace, namespace string) (string, error) {
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
	if promWorkspace != "" {
		for i, q := range ConsumerQueries {
			query, err := json.Marshal(map[string]string{
				"version": "PrometheusQueryProvider/1.0", "type": "query_range",
				"queryText": inNamespace(q.PromQL, namespace),
			})
			if err != nil {
				return "", err
			}
			items = append(items, map[string]any{
				"type": 3, "name": fmt.Sprintf("consumer-%d", i),
				"content": map[string]any{
					"version": "KqlItem/1.0", "query": string(query), "size": 0, "queryType": 16,
					"resourceType": "microsoft.monitor/accounts", "crossComponentResources": []string{promWorkspace},
					"timeContext": map[string]any{"durationMs": 3600000}, "visualization": "timechart", "title": q.Title,
				},
			})
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
	data := pulumi.All(args.AccountID, promWorkspace).ApplyT(func(ids []any) (string, error) {
		return workbookJSON(ids[0].(string), ids[1].(string), args.Namespace)
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

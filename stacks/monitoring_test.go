package stacks

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/infra/azure"
	"github.com/edw-dev/edw/infra/kube"
	"github.com/edw-dev/edw/internal/pulumitest"
)

const (
	awsAlarm     = "aws:cloudwatch/metricAlarm:MetricAlarm"
	awsDashboard = "aws:cloudwatch/dashboard:Dashboard"
	awsTopic     = "aws:sns/topic:Topic"
	awsSub       = "aws:sns/topicSubscription:TopicSubscription"
)

// TestAlarmsAndDashboardWatchWhatTheStackCreated: every alarm and every
// dashboard metric names the queue, dead-letter queue or table this stack
// created (found in the graph), and every alarm tells the stack's topic.
func TestAlarmsAndDashboardWatchWhatTheStackCreated(t *testing.T) {
	g, out := runAWS(t, map[string]string{"edw:alertEmails": `["ops@example.com","oncall@example.com"]`, "edw:alertOldestMessageSeconds": "600"})
	names := map[string]string{ // dimension value → what it is
		g.One(t, awsQueue, "edw").State["name"].StringValue():     "queue",
		g.One(t, awsQueue, "edw-dlq").State["name"].StringValue(): "dlq",
		g.OnlyOfType(t, awsTable).State["name"].StringValue():     "table",
	}
	topic := g.OnlyOfType(t, awsTopic)
	watched := map[string]string{}
	for _, a := range g.ByType(awsAlarm) {
		dims, _ := a.Plain("dimensions")
		require.Len(t, dims, 1, a.String())
		for _, v := range dims.(map[string]any) {
			what, ok := names[v.(string)]
			require.True(t, ok, "%s watches %v, which this stack did not create", a, v)
			watched[a.Str(t, "metricName")] = what
		}
		actions, _ := a.Plain("alarmActions")
		assert.Equal(t, []any{topic.State["arn"].StringValue()}, actions, a.String())
		assert.Equal(t, "notBreaching", a.Str(t, "treatMissingData"))
	}
	assert.Equal(t, map[string]string{
		"ApproximateNumberOfMessagesVisible": "dlq", "ApproximateAgeOfOldestMessage": "queue", "WriteThrottleEvents": "table",
	}, watched)
	for _, a := range g.ByType(awsAlarm) {
		if a.Str(t, "metricName") == "ApproximateAgeOfOldestMessage" {
			th, _ := a.Plain("threshold")
			assert.Equal(t, 600.0, th)
		}
	}
	var emails []string
	for _, s := range g.ByType(awsSub) {
		assert.Equal(t, topic.State["arn"].StringValue(), s.Str(t, "topic"))
		emails = append(emails, s.Str(t, "endpoint"))
	}
	assert.ElementsMatch(t, []string{"ops@example.com", "oncall@example.com"}, emails)

	var body struct {
		Widgets []struct {
			Properties struct {
				Region  string
				Metrics [][]any
			}
		}
	}
	require.NoError(t, json.Unmarshal([]byte(g.OnlyOfType(t, awsDashboard).Str(t, "dashboardBody")), &body))
	seen := map[string]bool{}
	for _, w := range body.Widgets {
		assert.Equal(t, "eu-north-1", w.Properties.Region)
		for _, m := range w.Properties.Metrics {
			what, ok := names[m[3].(string)]
			require.True(t, ok, "dashboard metric %v names something this stack did not create", m)
			seen[what+" "+m[1].(string)] = true
		}
	}
	for _, want := range []string{"queue ApproximateNumberOfMessagesVisible", "queue ApproximateAgeOfOldestMessage",
		"queue NumberOfMessagesDeleted", "dlq ApproximateNumberOfMessagesVisible", "table WriteThrottleEvents", "table ConsumedWriteCapacityUnits"} {
		assert.True(t, seen[want], "the dashboard shows %s", want)
	}
	assert.True(t, strings.HasPrefix(out["dashboardUrl"].(string), "https://eu-north-1.console.aws.amazon.com/cloudwatch/"), out["dashboardUrl"])

	g, out = runAWS(t, map[string]string{"edw:monitoring": "false"})
	assert.Empty(t, g.ByType(awsAlarm))
	assert.Empty(t, g.ByType(awsDashboard))
	assert.NotContains(t, out, "dashboardUrl")
}

// TestAzureAlertsWatchTheStacksStorage: both alerts are scoped to this stack's
// storage account (its queue and table services) and notify the stack's action
// group, which mails edw:alertEmails.
func TestAzureAlertsWatchTheStacksStorage(t *testing.T) {
	g, out := runAzure(t, map[string]string{"edw:alertEmails": `["ops@example.com"]`, "edw:alertBacklogMessages": "5000"})
	account := g.OnlyOfType(t, azAccount).ID
	group := g.OnlyOfType(t, azActionGroup)
	mails, _ := group.Plain("emailReceivers")
	require.Len(t, mails, 1)
	assert.Equal(t, "ops@example.com", mails.([]any)[0].(map[string]any)["emailAddress"])
	scopes := map[string]string{}
	for _, a := range g.ByType(azMetricAlert) {
		sc, _ := a.Plain("scopes")
		require.Len(t, sc, 1, a.String())
		scope := sc.([]any)[0].(string)
		require.True(t, strings.HasPrefix(scope, account+"/"), "%s watches %s, not this stack's account", a, scope)
		scopes[a.Str(t, "criteria.allOf.0.metricName")] = strings.TrimPrefix(scope, account+"/")
		assert.Equal(t, group.ID, a.Str(t, "actions.0.actionGroupId"), a.String())
		if a.Str(t, "criteria.allOf.0.metricName") == "QueueMessageCount" {
			th, _ := a.Plain("criteria.allOf.0.threshold")
			assert.Equal(t, 5000.0, th)
			assert.Equal(t, "PT1H", a.Str(t, "windowSize"), "the queue metric is hourly")
		}
	}
	assert.Equal(t, map[string]string{"QueueMessageCount": "queueServices/default", "Transactions": "tableServices/default"}, scopes)
	assert.Equal(t, group.ID, out["alertActionGroupId"])
}

// TestAzureWorkbookChartsTheStacksStorageAndConsumer: the workbook's storage
// charts are scoped to this stack's account, each metric one its service
// emits; with managed Prometheus its consumer charts query this stack's Azure
// Monitor workspace for metrics the consumer's Grafana dashboard (checked
// against what the consumer exports) also shows.
func TestAzureWorkbookChartsTheStacksStorageAndConsumer(t *testing.T) {
	emitted := map[string]bool{ // Azure's supported-metrics tables for storage
		"microsoft.storage/storageaccounts/queueservices-Transaction-Transactions":      true,
		"microsoft.storage/storageaccounts/queueservices-Capacity-QueueMessageCount":    true,
		"microsoft.storage/storageaccounts/tableservices-Transaction-Transactions":      true,
		"microsoft.storage/storageaccounts/tableservices-Capacity-TableEntityCount":     true,
		"microsoft.storage/storageaccounts/queueservices-Transaction-SuccessE2ELatency": true,
	}
	dashboardMetrics := grafanaMetrics(t)
	for _, prom := range []bool{false, true} {
		g, out := runAzure(t, map[string]string{"edw:managedPrometheus": strconv.FormatBool(prom)})
		account := g.OnlyOfType(t, azAccount).ID
		wb := g.OnlyOfType(t, azWorkbook)
		assert.Equal(t, account, wb.Str(t, "sourceId"))
		assert.Equal(t, wb.ID, out["workbookId"])
		var data struct {
			Items []struct {
				Type    int
				Content map[string]any
			}
		}
		require.NoError(t, json.Unmarshal([]byte(wb.Str(t, "serializedData")), &data))
		storage, consumer := 0, 0
		for _, it := range data.Items {
			switch it.Type {
			case 10:
				storage++
				assert.Equal(t, []any{account}, it.Content["resourceIds"], "charts this stack's account")
				for _, m := range it.Content["metrics"].([]any) {
					metric := m.(map[string]any)
					assert.True(t, emitted[metric["metric"].(string)], "no such storage metric: %v", metric["metric"])
					assert.True(t, strings.HasPrefix(metric["metric"].(string), metric["namespace"].(string)+"-"))
				}
			case 3:
				consumer++
				ws := g.OnlyOfType(t, azMonitorWS).ID
				assert.Equal(t, []any{ws}, it.Content["crossComponentResources"], "queries this stack's Azure Monitor workspace")
				var q struct{ QueryText string }
				require.NoError(t, json.Unmarshal([]byte(it.Content["query"].(string)), &q))
				assert.Contains(t, q.QueryText, `namespace="`+kube.ConsumerServiceAccount.Namespace+`"`)
				names := metricNameRE.FindAllString(q.QueryText, -1)
				require.NotEmpty(t, names, q.QueryText)
				for _, n := range names {
					assert.True(t, dashboardMetrics[n], "the workbook queries %s, which the Grafana dashboard (and so the consumer) does not have", n)
				}
			}
		}
		assert.Equal(t, 3, storage)
		if prom {
			assert.Equal(t, len(azure.ConsumerQueries), consumer)
		} else {
			assert.Zero(t, consumer, "no consumer charts without a workspace that has the metrics")
		}
	}
}

// metricNameRE finds the consumer's metric names in a query or a dashboard.
var metricNameRE = regexp.MustCompile(`edw_[a-z_]+`)

// grafanaMetrics are the metric names dashboards/edw-consumer.json queries.
func grafanaMetrics(t *testing.T) map[string]bool {
	raw, err := os.ReadFile(filepath.Join(projectRoot, "dashboards", "edw-consumer.json"))
	require.NoError(t, err)
	names := map[string]bool{}
	for _, n := range metricNameRE.FindAllString(string(raw), -1) {
		names[n] = true
	}
	require.NotEmpty(t, names)
	return names
}

// TestAzureManagedPrometheusAndContainerInsights: each feeds this stack's own
// workspace from this stack's cluster, the cluster runs the matching add-on,
// and managed Prometheus's PodMonitor waits for its collection; off (the
// default, as both are billed by volume) nothing of either exists.
func TestAzureManagedPrometheusAndContainerInsights(t *testing.T) {
	off, _ := runAzure(t, nil)
	for _, typ := range []string{azMonitorWS, azDCE, azDCR, azDCRA, azLogWS, "kubernetes:azmonitoring.coreos.com/v1:PodMonitor"} {
		assert.Empty(t, off.ByType(typ), "%s without asking", typ)
	}
	_, hasProfile := off.OnlyOfType(t, azCluster).Input("azureMonitorProfile")
	assert.False(t, hasProfile)
	_, hasAddons := off.OnlyOfType(t, azCluster).Input("addonProfiles")
	assert.False(t, hasAddons)

	g, out := runAzure(t, map[string]string{"edw:managedPrometheus": "true", "edw:containerInsights": "true"})
	cluster := g.OnlyOfType(t, azCluster)
	amw := g.OnlyOfType(t, azMonitorWS)
	logWS := g.OnlyOfType(t, azLogWS)
	assert.Equal(t, amw.ID, out["prometheusWorkspaceId"])
	enabled, _ := cluster.Plain("azureMonitorProfile.metrics.enabled")
	assert.Equal(t, true, enabled, "the managed Prometheus add-on runs")
	assert.Equal(t, logWS.ID, cluster.Str(t, "addonProfiles.omsagent.config.logAnalyticsWorkspaceResourceID"))
	assert.Equal(t, "true", cluster.Str(t, "addonProfiles.omsagent.config.useAADAuth"), "the agent authenticates with its managed identity")
	assert.True(t, g.DependsOn(cluster, logWS), "the workspace exists before the add-on that writes to it")

	rules := map[string]*pulumitest.Resource{}
	for _, r := range g.ByType(azDCR) {
		rules[r.ID] = r
		assert.Equal(t, "westus3", r.Str(t, "location"), "%s is in the cluster's region", r)
	}
	require.Len(t, rules, 2)
	for _, a := range g.ByType(azDCRA) {
		assert.Equal(t, cluster.ID, a.Str(t, "resourceUri"), "%s is on this stack's cluster", a)
		rule := rules[a.Str(t, "dataCollectionRuleId")]
		require.NotNil(t, rule, "%s associates a rule of this stack", a)
		flows, _ := rule.Plain("dataFlows")
		require.Len(t, flows, 1)
		flow := flows.([]any)[0].(map[string]any)
		dest := flow["destinations"].([]any)[0]
		prometheus, _ := rule.Plain("dataSources.prometheusForwarder.0.streams.0")
		extension, _ := rule.Plain("dataSources.extensions.0.extensionName")
		switch {
		case prometheus == "Microsoft-PrometheusMetrics":
			assert.Equal(t, dest, rule.Str(t, "destinations.monitoringAccounts.0.name"))
			assert.Equal(t, amw.ID, rule.Str(t, "destinations.monitoringAccounts.0.accountResourceId"))
			assert.Equal(t, []any{"Microsoft-PrometheusMetrics"}, flow["streams"])
			dce := g.OnlyOfType(t, azDCE)
			assert.Equal(t, dce.ID, rule.Str(t, "dataCollectionEndpointId"))
			for _, m := range g.ByType("kubernetes:azmonitoring.coreos.com/v1:PodMonitor") { // the consumer's and KEDA's
				assert.True(t, g.DependsOnDirectly(m, a), "%s is created after the collection that reads it and deleted before it", m)
			}
		case extension == "ContainerInsights":
			assert.Equal(t, dest, rule.Str(t, "destinations.logAnalytics.0.name"))
			assert.Equal(t, logWS.ID, rule.Str(t, "destinations.logAnalytics.0.workspaceResourceId"))
			assert.Equal(t, "ContainerInsightsExtension", a.Str(t, "associationName"))
		default:
			t.Errorf("%s associates a rule that collects neither: %v", a, rule.Inputs)
		}
	}
	assert.Len(t, g.ByType(azDCRA), 2)

	// Both PodMonitor kinds go to the cluster lab, which applies them to the
	// CRDs generated from the Prometheus Operator's API types.
	monitored, _ := runAzure(t, map[string]string{"edw:managedPrometheus": "true", "edw:podMonitor": "true"})
	monitored.WriteKubernetesObjects(t, "azure-monitored")
}

// TestAzureConsumerAlertsReadThisStacksPrometheus: with managed Prometheus,
// alert rules on the consumer's metrics (dead-lettered, failing) evaluate this
// stack's Azure Monitor workspace for this stack's cluster and notify its action
// group; each names metrics the consumer exports. Without it there are none.
func TestAzureConsumerAlertsReadThisStacksPrometheus(t *testing.T) {
	off, _ := runAzure(t, nil)
	assert.Empty(t, off.ByType(azPromRules), "no rules without the metrics they read")

	g, _ := runAzure(t, map[string]string{"edw:managedPrometheus": "true", "edw:alertEmails": `["ops@example.com"]`})
	rg := g.OnlyOfType(t, azPromRules)
	scopes, _ := rg.Plain("scopes")
	assert.Equal(t, []any{g.OnlyOfType(t, azMonitorWS).ID}, scopes, "evaluated on this stack's workspace")
	assert.Equal(t, g.OnlyOfType(t, azCluster).Str(t, "resourceName"), rg.Str(t, "clusterName"), "for this stack's cluster only")
	assert.Equal(t, "westus3", rg.Str(t, "location"))
	rules, _ := rg.Plain("rules")
	require.Len(t, rules, len(azure.ConsumerAlerts))
	exported := grafanaMetrics(t)
	group := g.OnlyOfType(t, azActionGroup).ID
	alerts := map[string]bool{}
	for _, r := range rules.([]any) {
		rule := r.(map[string]any)
		alerts[rule["alert"].(string)] = true
		expr := rule["expression"].(string)
		assert.Contains(t, expr, `namespace="`+kube.ConsumerServiceAccount.Namespace+`"`)
		for _, n := range metricNameRE.FindAllString(expr, -1) {
			assert.True(t, exported[n], "%s reads %s, which the consumer does not export", rule["alert"], n)
		}
		assert.Equal(t, []any{map[string]any{"actionGroupId": group}}, rule["actions"], "%s notifies the stack's action group", rule["alert"])
	}
	assert.True(t, alerts["edw-dead-lettered"], "Azure's storage metrics cannot tell the poison queue apart; this rule can")
	assert.True(t, strings.Contains(fmt.Sprint(rules), "edw_consumer_messages_poisoned_total"))
}

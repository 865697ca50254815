package stacks

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

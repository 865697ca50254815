package azure

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-azure-native-sdk/insights/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Monitoring is the stack's Azure Monitor alerts and the action group that
// mails them.
type Monitoring struct {
	pulumi.ResourceState
	ActionGroup pulumi.StringOutput `pulumi:"actionGroupId"`
	// Workbook is the workbook's resource id.
	Workbook pulumi.StringOutput `pulumi:"workbookId"`
}

// MonitoringArgs name what is watched and who hears about it.
type MonitoringArgs struct {
	ResourceGroupName pulumi.StringInput
	// AccountID is the storage account's resource id.
	AccountID pulumi.StringInput
	// Name prefixes the rule names (the cluster name: unique per stack).
	Name string
	// BacklogMessages is the alert's limit for messages in the account's queues.
	BacklogMessages int
	AlertEmails     []string
	// PrometheusWorkspaceID, when set, is the Azure Monitor workspace managed
	// Prometheus scrapes the consumer into: the workbook charts the consumer's
	// metrics and a rule group alerts on them. Namespace is the consumer's
	// namespace; Location places the rules.
	PrometheusWorkspaceID pulumi.StringInput
	Namespace             string
	Location              string
	Tags                  pulumi.StringMap
	// Routes, when the stack has them, each get a section in the workbook.
	Routes []WorkbookRoute
}

// WorkbookRoute is one route as the workbook shows it: the names its consumer
// and ScaledObject carry (the Kubernetes layer names them) and its queues.
type WorkbookRoute struct {
	// Name is the route's name: its consumer's route label.
	Name string
	// ScaledObject is the name of the route's ScaledObject, KEDA's label for it.
	ScaledObject               string
	QueueName, PoisonQueueName pulumi.StringInput
}

// NewMonitoring creates the action group, two metric alerts, a workbook and,
// with managed Prometheus, alert rules on the consumer's own metrics. Storage queue
// metrics are account-level and coarse: QueueMessageCount counts every queue of
// the account (work and poison together) and is emitted about once an hour, so
// the backlog alert measures "messages are piling up in this stack's storage",
// an hour late at worst. Throttling is read from Transactions, which Azure emits
// every minute.
func NewMonitoring(ctx *pulumi.Context, name string, args MonitoringArgs, opts ...pulumi.ResourceOption) (*Monitoring, error) {
	m := &Monitoring{}
	if err := ctx.RegisterComponentResource("edw:azure:Monitoring", name, m, opts...); err != nil {
		return nil, err
	}
	receivers := insights.EmailReceiverArray{}
	for i, email := range args.AlertEmails {
		receivers = append(receivers, insights.EmailReceiverArgs{
			Name: pulumi.Sprintf("mail-%d", i), EmailAddress: pulumi.String(email), UseCommonAlertSchema: pulumi.Bool(true),
		})
	}
	group, err := insights.NewActionGroup(ctx, name+"-alerts", &insights.ActionGroupArgs{
		ResourceGroupName: args.ResourceGroupName,
		Location:          pulumi.String("Global"),
		GroupShortName:    pulumi.String("edw"),
		Enabled:           pulumi.Bool(true),
		EmailReceivers:    receivers,
		Tags:              args.Tags,
	}, pulumi.Parent(m))
	if err != nil {
		return nil, fmt.Errorf("action group %s: %w", name, err)
	}
	alert := func(suffix, description, service, metric, aggregation string, threshold float64, window, every string,
		dims insights.MetricDimensionArray) error {
		_, err := insights.NewMetricAlert(ctx, name+"-"+suffix, &insights.MetricAlertArgs{
			ResourceGroupName:   args.ResourceGroupName,
			RuleName:            pulumi.Sprintf("%s-%s", args.Name, suffix),
			Location:            pulumi.String("global"),
			Description:         pulumi.String(description),
			Enabled:             pulumi.Bool(true),
			Severity:            pulumi.Int(2),
			Scopes:              pulumi.StringArray{pulumi.Sprintf("%s/%s/default", args.AccountID, service)},
			WindowSize:          pulumi.String(window),
			EvaluationFrequency: pulumi.String(every),
			AutoMitigate:        pulumi.Bool(true),
			Criteria: insights.MetricAlertSingleResourceMultipleMetricCriteriaArgs{
				OdataType: pulumi.String("Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria"),
				AllOf: insights.MetricCriteriaArray{insights.MetricCriteriaArgs{
					CriterionType:   pulumi.String("StaticThresholdCriterion"),
					Name:            pulumi.String(suffix),
					MetricNamespace: pulumi.String("Microsoft.Storage/storageAccounts/" + service),
					MetricName:      pulumi.String(metric),
					TimeAggregation: pulumi.String(aggregation),
					Operator:        pulumi.String("GreaterThan"),
					Threshold:       pulumi.Float64(threshold),
					Dimensions:      dims,
				}},
			},
			Actions: insights.MetricAlertActionArray{insights.MetricAlertActionArgs{ActionGroupId: group.ID()}},
			Tags:    args.Tags,
		}, pulumi.Parent(m))
		if err != nil {
			return fmt.Errorf("metric alert %s: %w", suffix, err)
		}
		return nil
	}
	if err := alert("backlog", fmt.Sprintf("More than %d messages wait in the stack's queues (work and poison; hourly metric).", args.BacklogMessages),
		"queueServices", "QueueMessageCount", "Average", float64(args.BacklogMessages), "PT1H", "PT1H", nil); err != nil {
		return nil, err
	}
	if err := alert("table-throttled", "Azure throttled requests to the results table.",
		"tableServices", "Transactions", "Total", 0, "PT5M", "PT1M", insights.MetricDimensionArray{insights.MetricDimensionArgs{
			Name: pulumi.String("ResponseType"), Operator: pulumi.String("Include"),
			Values: pulumi.ToStringArray([]string{"ServerBusyError", "ClientThrottlingError"}),
		}}); err != nil {
		return nil, err
	}
	if args.PrometheusWorkspaceID != nil {
		if err := newConsumerAlerts(ctx, name, args, group.ID().ToStringOutput(), m); err != nil {
			return nil, err
		}
	}
	wb, err := newWorkbook(ctx, name, args, m)
	if err != nil {
		return nil, err
	}
	m.ActionGroup = group.ID().ToStringOutput()
	m.Workbook = wb.ID().ToStringOutput()
	return m, ctx.RegisterResourceOutputs(m, pulumi.Map{"actionGroupId": m.ActionGroup, "workbookId": m.Workbook})
}

// inNamespace fills the consumer's namespace into a PromQL template.
func inNamespace(promql, namespace string) string {
	return strings.ReplaceAll(promql, "{{namespace}}", namespace)
}

// ConsumerAlert is a Prometheus alert rule on the consumer's metrics.
type ConsumerAlert struct {
	Name, Description string
	// PromQL with {{namespace}} where the consumer's namespace goes.
	PromQL string
	// For is how long the expression must hold (ISO 8601).
	For      string
	Severity int
}

// ConsumerAlerts are what storage metrics cannot say on Azure: that a message
// was dead-lettered (the poison queue is not a metric dimension), within a minute
// or two, and that writes keep failing.
var ConsumerAlerts = []ConsumerAlert{
	{"dead-lettered", "The consumer moved messages to the poison queue.",
		`sum(increase(edw_consumer_messages_poisoned_total{namespace="{{namespace}}"}[5m])) > 0`, "PT0M", 2},
	{"failing", "The consumer's writes have been failing for ten minutes.",
		`sum(rate(edw_consumer_messages_failed_total{namespace="{{namespace}}"}[5m])) > 0`, "PT10M", 3},
}

// prometheusRuleGroup is Microsoft.AlertsManagement/prometheusRuleGroups,
// registered by token like the Azure Monitor workspace (the SDK module is not
// served where edw is built).
type prometheusRuleGroup struct {
	pulumi.CustomResourceState
}

const prometheusRuleGroupType = "azure-native:alertsmanagement:PrometheusRuleGroup"

func newConsumerAlerts(ctx *pulumi.Context, name string, args MonitoringArgs, actionGroup pulumi.StringOutput, parent pulumi.Resource) error {
	rules := pulumi.Array{}
	for _, a := range ConsumerAlerts {
		rules = append(rules, pulumi.Map{
			"alert":       pulumi.String("edw-" + a.Name),
			"expression":  pulumi.String(inNamespace(a.PromQL, args.Namespace)),
			"for":         pulumi.String(a.For),
			"severity":    pulumi.Int(a.Severity),
			"enabled":     pulumi.Bool(true),
			"annotations": pulumi.StringMap{"description": pulumi.String(a.Description)},
			"actions":     pulumi.Array{pulumi.Map{"actionGroupId": actionGroup}},
			"resolveConfiguration": pulumi.Map{
				"autoResolved": pulumi.Bool(true), "timeToResolve": pulumi.String("PT10M"),
			},
		})
	}
	group := &prometheusRuleGroup{}
	if err := ctx.RegisterResource(prometheusRuleGroupType, name+"-consumer-alerts", pulumi.Map{
		"resourceGroupName": args.ResourceGroupName,
		"ruleGroupName":     pulumi.String(args.Name + "-consumer"),
		"location":          pulumi.String(args.Location),
		"description":       pulumi.String("Alerts on the edw consumer's Prometheus metrics"),
		"clusterName":       pulumi.String(args.Name),
		"scopes":            pulumi.StringArray{args.PrometheusWorkspaceID},
		"interval":          pulumi.String("PT1M"),
		"enabled":           pulumi.Bool(true),
		"rules":             rules,
		"tags":              args.Tags,
	}, group, pulumi.Parent(parent)); err != nil {
		return fmt.Errorf("prometheus rule group %s: %w", name, err)
	}
	return nil
}

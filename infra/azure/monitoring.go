package azure

import (
	"fmt"

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
	// PrometheusWorkspaceID, when it resolves to an id, adds the consumer's
	// metrics to the workbook; Namespace is the consumer's namespace.
	PrometheusWorkspaceID pulumi.StringInput
	Namespace             string
	Tags                  pulumi.StringMap
}

// NewMonitoring creates the action group, two metric alerts and a workbook. Storage queue
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
	wb, err := newWorkbook(ctx, name, args, m)
	if err != nil {
		return nil, err
	}
	m.ActionGroup = group.ID().ToStringOutput()
	m.Workbook = wb.ID().ToStringOutput()
	return m, ctx.RegisterResourceOutputs(m, pulumi.Map{"actionGroupId": m.ActionGroup, "workbookId": m.Workbook})
}

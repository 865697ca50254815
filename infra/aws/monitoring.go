package aws

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sns"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Monitoring is the stack's CloudWatch dashboard and its alarms, which publish
// to an SNS topic that the alert addresses subscribe to.
type Monitoring struct {
	pulumi.ResourceState
	Topic        pulumi.StringOutput `pulumi:"alertTopicArn"`
	DashboardURL pulumi.StringOutput `pulumi:"dashboardUrl"`
}

// MonitoringArgs name what is watched and who hears about it.
type MonitoringArgs struct {
	Account Account
	// Name prefixes the dashboard and alarm names (the cluster name: unique per stack).
	Name                      string
	QueueName, DLQName, Table pulumi.StringInput
	OldestMessageAlarmSeconds int
	AlertEmails               []string
	Tags                      pulumi.StringMap
}

// NewMonitoring creates the topic, the subscriptions, three alarms (dead-letter
// queue not empty, oldest message too old, table throttling) and the dashboard.
func NewMonitoring(ctx *pulumi.Context, name string, args MonitoringArgs, opts ...pulumi.ResourceOption) (*Monitoring, error) {
	m := &Monitoring{}
	if err := ctx.RegisterComponentResource("edw:aws:Monitoring", name, m, opts...); err != nil {
		return nil, err
	}
	// The alarms' ARNs are known before they exist (CloudWatch names them), so
	// the key and topic policies can name exactly them without a cycle.
	var alarmARNs []string
	for _, a := range alarmSuffixes {
		alarmARNs = append(alarmARNs, AlarmARN(args.Account, args.Name+"-"+a))
	}
	key, err := alertKey(ctx, name, args, alarmARNs, m)
	if err != nil {
		return nil, err
	}
	// A customer-managed key: CloudWatch cannot use the AWS-managed alias/aws/sns
	// (its policy cannot be edited to allow cloudwatch), and every alarm action
	// would fail with "CloudWatch Alarms does not have authorization to access
	// the SNS topic encryption key" while the alarm still changes state.
	topic, err := sns.NewTopic(ctx, name+"-alerts", &sns.TopicArgs{
		KmsMasterKeyId: key.Arn, Tags: args.Tags,
	}, pulumi.Parent(m))
	if err != nil {
		return nil, fmt.Errorf("alert topic %s: %w", name, err)
	}
	if _, err := sns.NewTopicPolicy(ctx, name+"-alerts", &sns.TopicPolicyArgs{
		Arn: topic.Arn,
		Policy: DocumentOf([]pulumi.StringInput{topic.Arn}, func(v []string) []Statement {
			return []Statement{{
				Sid: "AllowStackAlarmsToPublish", Principal: map[string]any{"Service": args.Account.ServicePrincipal("cloudwatch")},
				Action: []string{"sns:Publish"}, Resource: []string{v[0]}, Condition: sourceConditions(args.Account, alarmARNs),
			}, denyInsecureTransport("sns:Publish", v[0])}
		}),
	}, pulumi.Parent(m)); err != nil {
		return nil, fmt.Errorf("alert topic policy %s: %w", name, err)
	}
	for i, email := range args.AlertEmails {
		if _, err := sns.NewTopicSubscription(ctx, fmt.Sprintf("%s-alert-%d", name, i), &sns.TopicSubscriptionArgs{
			Topic: topic.Arn, Protocol: pulumi.String("email"), Endpoint: pulumi.String(email),
		}, pulumi.Parent(m)); err != nil {
			return nil, fmt.Errorf("alert subscription %s: %w", email, err)
		}
	}
	actions := pulumi.Array{topic.Arn}
	alarm := func(suffix, description, namespace, metric, statistic, dimension string, value pulumi.StringInput,
		threshold float64, periods int) error {
		if !slices.Contains(alarmSuffixes, suffix) {
			return fmt.Errorf("alarm %s: not in alarmSuffixes, so the topic would refuse it", suffix)
		}
		_, err := cloudwatch.NewMetricAlarm(ctx, name+"-"+suffix, &cloudwatch.MetricAlarmArgs{
			Name:               pulumi.Sprintf("%s-%s", args.Name, suffix),
			AlarmDescription:   pulumi.String(description),
			Namespace:          pulumi.String(namespace),
			MetricName:         pulumi.String(metric),
			Statistic:          pulumi.String(statistic),
			Dimensions:         pulumi.StringMap{dimension: value},
			Period:             pulumi.Int(60),
			EvaluationPeriods:  pulumi.Int(periods),
			Threshold:          pulumi.Float64(threshold),
			ComparisonOperator: pulumi.String("GreaterThanThreshold"),
			// No data means an idle queue or table, not trouble.
			TreatMissingData: pulumi.String("notBreaching"),
			AlarmActions:     actions,
			OkActions:        actions,
			Tags:             args.Tags,
		}, pulumi.Parent(m))
		if err != nil {
			return fmt.Errorf("alarm %s: %w", suffix, err)
		}
		return nil
	}
	if err := alarm("dlq-not-empty", "Messages are in the dead-letter queue: each is a message the consumer could not process.",
		"AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", "QueueName", args.DLQName, 0, 1); err != nil {
		return nil, err
	}
	if err := alarm("oldest-message", fmt.Sprintf("The oldest message has waited more than %ds: consumers are not keeping up.", args.OldestMessageAlarmSeconds),
		"AWS/SQS", "ApproximateAgeOfOldestMessage", "Maximum", "QueueName", args.QueueName, float64(args.OldestMessageAlarmSeconds), 2); err != nil {
		return nil, err
	}
	if err := alarm("table-throttled", "DynamoDB throttled writes to the results table.",
		"AWS/DynamoDB", "WriteThrottleEvents", "Sum", "TableName", args.Table, 0, 1); err != nil {
		return nil, err
	}
	body := pulumi.All(args.QueueName, args.DLQName, args.Table).ApplyT(func(v []any) (string, error) {
		return dashboardBody(args.Account.Region, v[0].(string), v[1].(string), v[2].(string))
	}).(pulumi.StringOutput)
	dash, err := cloudwatch.NewDashboard(ctx, name, &cloudwatch.DashboardArgs{
		DashboardName: pulumi.String(args.Name), DashboardBody: body,
	}, pulumi.Parent(m))
	if err != nil {
		return nil, fmt.Errorf("dashboard %s: %w", name, err)
	}
	m.Topic = topic.Arn
	m.DashboardURL = pulumi.Sprintf("https://%s.console.%s/cloudwatch/home?region=%s#dashboards/dashboard/%s",
		args.Account.Region, consoleDomain(args.Account), args.Account.Region, dash.DashboardName)
	return m, ctx.RegisterResourceOutputs(m, pulumi.Map{"alertTopicArn": m.Topic, "dashboardUrl": m.DashboardURL})
}

// alarmSuffixes name the alarms NewMonitoring creates (after the stack's name).
var alarmSuffixes = []string{"dlq-not-empty", "oldest-message", "table-throttled"}

// AlarmARN is the ARN CloudWatch gives the alarm with this name.
func AlarmARN(a Account, name string) string {
	return a.ARN("cloudwatch", a.Region, a.ID, "alarm:"+name)
}

// alertKey is the topic's customer-managed key: the account administers it,
// and CloudWatch may use it only on behalf of this stack's alarms, as AWS
// documents for CloudWatch alarms publishing to an encrypted topic.
func alertKey(ctx *pulumi.Context, name string, args MonitoringArgs, alarmARNs []string, parent pulumi.Resource) (*kms.Key, error) {
	policy, err := Document(Statement{
		// The key policy is the only policy KMS always consults: without the
		// account statement nobody could manage (or delete) the key.
		Sid: "EnableAccountAdministration", Principal: map[string]any{"AWS": args.Account.ARN("iam", "", args.Account.ID, "root")},
		Action: []string{"kms:*"}, Resource: []string{"*"},
	}, Statement{
		Sid: "AllowStackAlarmsToUseTheKey", Principal: map[string]any{"Service": args.Account.ServicePrincipal("cloudwatch")},
		Action: []string{"kms:Decrypt", "kms:GenerateDataKey*"}, Resource: []string{"*"},
		Condition: sourceConditions(args.Account, alarmARNs),
	})
	if err != nil {
		return nil, fmt.Errorf("alert key policy %s: %w", name, err)
	}
	key, err := kms.NewKey(ctx, name+"-alerts", &kms.KeyArgs{
		Description:          pulumi.Sprintf("SNS alert topic encryption for %s", args.Name),
		EnableKeyRotation:    pulumi.Bool(true),
		DeletionWindowInDays: pulumi.Int(7),
		Policy:               pulumi.String(policy),
		Tags:                 args.Tags,
	}, pulumi.Parent(parent))
	if err != nil {
		return nil, fmt.Errorf("alert key %s: %w", name, err)
	}
	return key, nil
}

// sourceConditions scope a service principal's grant to the resources that
// publish (aws:SourceArn) in this account (aws:SourceAccount): the AWS
// confused-deputy guard.
func sourceConditions(a Account, sources []string) map[string]any {
	return map[string]any{
		"StringEquals": map[string]any{"aws:SourceAccount": a.ID},
		"ArnLike":      map[string]any{"aws:SourceArn": sources},
	}
}

// denyInsecureTransport refuses action on resource over plain HTTP.
func denyInsecureTransport(action, resource string) Statement {
	return Statement{
		Sid: "DenyInsecureTransport", Effect: "Deny", Principal: map[string]any{"AWS": "*"}, Action: []string{action}, Resource: []string{resource},
		Condition: map[string]any{"Bool": map[string]string{"aws:SecureTransport": "false"}},
	}
}

func consoleDomain(a Account) string {
	switch a.Partition {
	case "aws-cn":
		return "amazonaws.cn"
	case "aws-us-gov":
		return "amazonaws-us-gov.com"
	}
	return "aws.amazon.com"
}

// dashboardBody is the dashboard: backlog and its age, throughput (deleted per
// minute), the dead-letter queue, and the table's writes and throttles.
func dashboardBody(region, queue, dlq, table string) (string, error) {
	widget := func(title string, metrics [][]any, x, y int) map[string]any {
		return map[string]any{"type": "metric", "x": x, "y": y, "width": 12, "height": 6, "properties": map[string]any{
			"title": title, "region": region, "period": 60, "stat": "Sum", "view": "timeSeries", "metrics": metrics,
		}}
	}
	max := map[string]any{"stat": "Maximum"}
	b, err := json.Marshal(map[string]any{"widgets": []any{
		widget("Backlog (visible, in flight)", [][]any{
			{"AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue, max},
			{"AWS/SQS", "ApproximateNumberOfMessagesNotVisible", "QueueName", queue, max},
		}, 0, 0),
		widget("Age of the oldest message (s)", [][]any{{"AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", queue, max}}, 12, 0),
		widget("Throughput: messages deleted per minute", [][]any{{"AWS/SQS", "NumberOfMessagesDeleted", "QueueName", queue}}, 0, 6),
		widget("Dead-letter queue", [][]any{{"AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", dlq, max}}, 12, 6),
		widget("Results table: writes and throttles", [][]any{
			{"AWS/DynamoDB", "ConsumedWriteCapacityUnits", "TableName", table},
			{"AWS/DynamoDB", "WriteThrottleEvents", "TableName", table},
		}, 0, 12),
	}})
	if err != nil {
		return "", fmt.Errorf("render dashboard: %w", err)
	}
	return string(b), nil
}

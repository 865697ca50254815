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
	// Router, when the stack has routes, adds a row per route to the
	// dashboard, naming that route's queues and rule as the router created them.
	Router *Router
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
	body := pulumi.All(dashboardInputs(args)...).ApplyT(func(v []any) (string, error) {
		return dashboardOf(args.Account.Region, args.Router, v).body()
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

// dashboard is what the dashboard shows, by the names CloudWatch knows the
// resources by: the stack's queue, dead-letter queue and table, and each
// route's resources (none without routes).
type dashboard struct {
	region, queue, dlq, table string
	// bus is the router's event bus, set with routes.
	bus    string
	routes []routeView
}

// routeView is one route's resources as the router created them.
type routeView struct {
	name, queue, dlq, undelivered, rule string
}

// dashboardInputs are the names the dashboard needs, in the order
// dashboardOf reads them: the stack's three, then the bus and four per route.
func dashboardInputs(args MonitoringArgs) []any {
	in := []any{args.QueueName, args.DLQName, args.Table}
	if args.Router == nil {
		return in
	}
	in = append(in, args.Router.BusName)
	for _, rt := range args.Router.Routes {
		in = append(in, rt.Queue.Name, rt.Queue.DLQName, rt.UndeliveredName, rt.RuleName)
	}
	return in
}

// dashboardOf reads the resolved dashboardInputs back; the routes' own names
// are config, known before anything resolves.
func dashboardOf(region string, router *Router, v []any) dashboard {
	d := dashboard{region: region, queue: v[0].(string), dlq: v[1].(string), table: v[2].(string)}
	if router == nil {
		return d
	}
	d.bus = v[3].(string)
	for i, rt := range router.Routes {
		n := v[4+4*i:]
		d.routes = append(d.routes, routeView{
			name: rt.Name, queue: n[0].(string), dlq: n[1].(string), undelivered: n[2].(string), rule: n[3].(string),
		})
	}
	return d
}

// Layout: the stack's widgets fill rows 0-17 in two columns; each route then
// gets a heading and one row of four widgets.
const (
	routesTop      = 18
	routeRowHeight = 7
)

// body is the dashboard: backlog and its age, throughput (deleted per
// minute), the dead-letter queue, and the table's writes and throttles; then
// per route its backlog, throughput, consumers at work and dead-lettered.
func (d dashboard) body() (string, error) {
	widget := func(title string, metrics [][]any, x, y, width int) map[string]any {
		return map[string]any{"type": "metric", "x": x, "y": y, "width": width, "height": 6, "properties": map[string]any{
			"title": title, "region": d.region, "period": 60, "stat": "Sum", "view": "timeSeries", "metrics": metrics,
		}}
	}
	max := map[string]any{"stat": "Maximum"}
	queue := func(metric, name string, opts ...any) []any {
		return append([]any{"AWS/SQS", metric, "QueueName", name}, opts...)
	}
	widgets := []any{
		widget("Backlog (visible, in flight)", [][]any{
			queue("ApproximateNumberOfMessagesVisible", d.queue, max),
			queue("ApproximateNumberOfMessagesNotVisible", d.queue, max),
		}, 0, 0, 12),
		widget("Age of the oldest message (s)", [][]any{queue("ApproximateAgeOfOldestMessage", d.queue, max)}, 12, 0, 12),
		widget("Throughput: messages deleted per minute", [][]any{queue("NumberOfMessagesDeleted", d.queue)}, 0, 6, 12),
		widget("Dead-letter queue", [][]any{queue("ApproximateNumberOfMessagesVisible", d.dlq, max)}, 12, 6, 12),
		widget("Results table: writes and throttles", [][]any{
			{"AWS/DynamoDB", "ConsumedWriteCapacityUnits", "TableName", d.table},
			{"AWS/DynamoDB", "WriteThrottleEvents", "TableName", d.table},
		}, 0, 12, 12),
	}
	for i, r := range d.routes {
		y := routesTop + i*routeRowHeight
		widgets = append(widgets,
			map[string]any{"type": "text", "x": 0, "y": y, "width": 24, "height": 1, "properties": map[string]any{
				"markdown": "### Route " + r.name + ": queue " + r.queue + ", rule " + r.rule,
			}},
			widget(r.name+": backlog (visible, in flight)", [][]any{
				queue("ApproximateNumberOfMessagesVisible", r.queue, max),
				queue("ApproximateNumberOfMessagesNotVisible", r.queue, max),
			}, 0, y+1, 6),
			// Events in (the rule matched them) against results out (the
			// consumer deleted the message after writing its result).
			widget(r.name+": throughput per minute (matched, deleted)", [][]any{
				{"AWS/Events", "MatchedEvents", "EventBusName", d.bus, "RuleName", r.rule},
				queue("NumberOfMessagesDeleted", r.queue),
			}, 6, y+1, 6),
			// CloudWatch sees no pods (the stack ships no Container Insights):
			// what it sees of the consumers is their receives, and the empty
			// ones are pollers with nothing to do. Replicas per route are in
			// the Grafana dashboard, from the consumers' own metrics.
			widget(r.name+": consumers at work (receives, empty receives)", [][]any{
				queue("NumberOfMessagesReceived", r.queue),
				queue("NumberOfEmptyReceives", r.queue),
			}, 12, y+1, 6),
			widget(r.name+": dead-lettered (DLQ, undelivered events)", [][]any{
				queue("ApproximateNumberOfMessagesVisible", r.dlq, max),
				queue("ApproximateNumberOfMessagesVisible", r.undelivered, max),
			}, 18, y+1, 6),
		)
	}
	b, err := json.Marshal(map[string]any{"widgets": widgets})
	if err != nil {
		return "", fmt.Errorf("render dashboard: %w", err)
	}
	return string(b), nil
}

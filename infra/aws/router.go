package aws

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sqs"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// EventPattern is an EventBridge event pattern on the event's source and
// detail-type, exact values only. It is built as data and marshalled.
type EventPattern struct {
	Source     []any `json:"source,omitempty"`
	DetailType []any `json:"detail-type,omitempty"`
}

// PatternOf is the pattern matching events from any of sources with any of
// types; an empty list does not filter on that field. Without any filter it
// matches every event: EventBridge rejects an empty pattern, and a prefix
// match on "" holds for every source.
func PatternOf(sources, types []string) (string, error) {
	p := EventPattern{}
	for _, s := range sources {
		p.Source = append(p.Source, s)
	}
	for _, t := range types {
		p.DetailType = append(p.DetailType, t)
	}
	if len(p.Source) == 0 && len(p.DetailType) == 0 {
		p.Source = []any{map[string]string{"prefix": ""}}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	// A source such as "a&b" stays as written (EventBridge compares characters).
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return "", fmt.Errorf("render event pattern: %w", err)
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// RouterRoute is one route: its filter and its queue's redrive setting.
type RouterRoute struct {
	Name            string
	Sources, Types  []string
	MaxReceiveCount int
}

// RouteQueues are what one route created.
type RouteQueues struct {
	Name string
	// Queue is the route's work queue and its dead-letter queue (the consumer's).
	Queue *Queue
	// UndeliveredARN is the queue for events EventBridge gave up delivering.
	UndeliveredARN, UndeliveredName pulumi.StringOutput
	RuleARN, RuleName               pulumi.StringOutput
}

// Router is the stack's custom EventBridge bus and, per route, a rule, its
// SQS target, and queue policies that let only that rule send.
type Router struct {
	pulumi.ResourceState
	BusName pulumi.StringOutput `pulumi:"busName"`
	BusARN  pulumi.StringOutput `pulumi:"busArn"`
	Routes  []*RouteQueues
}

// RouterArgs configure the router.
type RouterArgs struct {
	Account Account
	// BusName is unique per stack (the cluster name).
	BusName           string
	Routes            []RouterRoute
	VisibilityTimeout time.Duration
	// ArchiveDays keeps the bus's events for replay; 0 keeps no archive.
	ArchiveDays int
	// Retain and Protect apply to the routes' queues, as QueueArgs says.
	Retain  bool
	Protect bool
}

// Delivery retries: EventBridge's own maximums, stated so a preview shows them.
const (
	routeMaxEventAgeSeconds = 24 * 3600
	routeMaxRetryAttempts   = 185
)

// NewRouter creates the bus, the optional archive and each route's queues,
// rule, target and queue policies.
func NewRouter(ctx *pulumi.Context, name string, args RouterArgs, opts ...pulumi.ResourceOption) (*Router, error) {
	r := &Router{}
	if err := ctx.RegisterComponentResource("edw:aws:Router", name, r, opts...); err != nil {
		return nil, err
	}
	child := pulumi.Parent(r)
	keep := dataOptions(args.Retain, args.Protect)
	bus, err := cloudwatch.NewEventBus(ctx, name, &cloudwatch.EventBusArgs{Name: pulumi.String(args.BusName)}, child)
	if err != nil {
		return nil, fmt.Errorf("event bus %s: %w", args.BusName, err)
	}
	if args.ArchiveDays > 0 {
		if _, err := cloudwatch.NewEventArchive(ctx, name, &cloudwatch.EventArchiveArgs{
			EventSourceArn: bus.Arn,
			RetentionDays:  pulumi.Int(args.ArchiveDays),
			Description:    pulumi.String("Every event on the edw router, for replay"),
		}, child); err != nil {
			return nil, fmt.Errorf("event archive %s: %w", name, err)
		}
	}
	for _, rt := range args.Routes {
		logical := name + "-" + rt.Name
		queue, err := NewQueue(ctx, logical, QueueArgs{
			VisibilityTimeout: args.VisibilityTimeout, MaxReceiveCount: rt.MaxReceiveCount, Retain: args.Retain, Protect: args.Protect,
		}, child)
		if err != nil {
			return nil, err
		}
		// SSE-SQS, not KMS: EventBridge cannot use the AWS-managed alias/aws/sqs
		// key, whose policy only serves calls made through SQS by the account.
		undelivered, err := sqs.NewQueue(ctx, logical+"-undelivered", &sqs.QueueArgs{
			SqsManagedSseEnabled:    pulumi.Bool(true),
			MessageRetentionSeconds: pulumi.Int(14 * 24 * 3600),
		}, child, keep)
		if err != nil {
			return nil, fmt.Errorf("undelivered-events queue %s: %w", rt.Name, err)
		}
		pattern, err := PatternOf(rt.Sources, rt.Types)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", rt.Name, err)
		}
		rule, err := cloudwatch.NewEventRule(ctx, logical, &cloudwatch.EventRuleArgs{
			EventBusName: bus.Name,
			EventPattern: pulumi.String(pattern),
			Description:  pulumi.String("edw route " + rt.Name),
		}, child)
		if err != nil {
			return nil, fmt.Errorf("event rule %s: %w", rt.Name, err)
		}
		// Only this rule may send to the route's queues.
		for _, q := range []struct {
			suffix   string
			url, arn pulumi.StringOutput
		}{{"", queue.URL, queue.ARN}, {"-undelivered", undelivered.Url, undelivered.Arn}} {
			if _, err := sqs.NewQueuePolicy(ctx, logical+q.suffix, &sqs.QueuePolicyArgs{
				QueueUrl: q.url,
				Policy:   ruleMaySend(args.Account, q.arn, rule.Arn),
			}, child); err != nil {
				return nil, fmt.Errorf("queue policy %s%s: %w", rt.Name, q.suffix, err)
			}
		}
		if _, err := cloudwatch.NewEventTarget(ctx, logical, &cloudwatch.EventTargetArgs{
			Rule:         rule.Name,
			EventBusName: bus.Name,
			TargetId:     pulumi.String("queue"),
			Arn:          queue.ARN,
			RetryPolicy: &cloudwatch.EventTargetRetryPolicyArgs{
				MaximumEventAgeInSeconds: pulumi.Int(routeMaxEventAgeSeconds),
				MaximumRetryAttempts:     pulumi.Int(routeMaxRetryAttempts),
			},
			DeadLetterConfig: &cloudwatch.EventTargetDeadLetterConfigArgs{Arn: undelivered.Arn},
		}, child); err != nil {
			return nil, fmt.Errorf("event target %s: %w", rt.Name, err)
		}
		r.Routes = append(r.Routes, &RouteQueues{
			Name: rt.Name, Queue: queue, UndeliveredARN: undelivered.Arn, UndeliveredName: undelivered.Name,
			RuleARN: rule.Arn, RuleName: rule.Name,
		})
	}
	r.BusName, r.BusARN = bus.Name, bus.Arn
	return r, ctx.RegisterResourceOutputs(r, pulumi.Map{"busName": r.BusName, "busArn": r.BusARN})
}

// ruleMaySend lets EventBridge send to queue only on behalf of rule.
func ruleMaySend(a Account, queue, rule pulumi.StringOutput) pulumi.StringOutput {
	return DocumentOf([]pulumi.StringInput{queue, rule}, func(v []string) []Statement {
		return []Statement{{
			Sid:       "EventBridgeRule",
			Principal: map[string]any{"Service": a.ServicePrincipal("events")},
			Action:    []string{"sqs:SendMessage"},
			Resource:  []string{v[0]},
			Condition: map[string]any{"ArnEquals": map[string]any{"aws:SourceArn": v[1]}},
		}}
	})
}

// RouterAlarmsArgs say which router to watch and where to tell.
type RouterAlarmsArgs struct {
	// Name prefixes the alarm names (the cluster name: unique per stack).
	Name   string
	Router *Router
	// Topic is the stack's alert topic.
	Topic pulumi.StringInput
}

// RouterAlarms are the router's alarms.
type RouterAlarms struct {
	pulumi.ResourceState
}

// NewRouterAlarms alarms, per route, on failed rule invocations, on events
// EventBridge gave up delivering, and on messages the consumer dead-lettered.
func NewRouterAlarms(ctx *pulumi.Context, name string, args RouterAlarmsArgs, opts ...pulumi.ResourceOption) (*RouterAlarms, error) {
	a := &RouterAlarms{}
	if err := ctx.RegisterComponentResource("edw:aws:RouterAlarms", name, a, opts...); err != nil {
		return nil, err
	}
	actions := pulumi.Array{args.Topic}
	alarm := func(suffix, description, namespace, metric, statistic string, dims pulumi.StringMap) error {
		if _, err := cloudwatch.NewMetricAlarm(ctx, name+"-"+suffix, &cloudwatch.MetricAlarmArgs{
			Name:               pulumi.Sprintf("%s-%s", args.Name, suffix),
			AlarmDescription:   pulumi.String(description),
			Namespace:          pulumi.String(namespace),
			MetricName:         pulumi.String(metric),
			Statistic:          pulumi.String(statistic),
			Dimensions:         dims,
			Period:             pulumi.Int(60),
			EvaluationPeriods:  pulumi.Int(1),
			Threshold:          pulumi.Float64(0),
			ComparisonOperator: pulumi.String("GreaterThanThreshold"),
			// No data is a quiet route, not trouble.
			TreatMissingData: pulumi.String("notBreaching"),
			AlarmActions:     actions,
			OkActions:        actions,
		}, pulumi.Parent(a)); err != nil {
			return fmt.Errorf("alarm %s: %w", suffix, err)
		}
		return nil
	}
	for _, rt := range args.Router.Routes {
		prefix := "route-" + rt.Name
		// Rules on a custom bus report their metrics by bus and rule.
		if err := alarm(prefix+"-failed-invocations", "EventBridge failed to deliver events of route "+rt.Name+" to its queue.",
			"AWS/Events", "FailedInvocations", "Sum", pulumi.StringMap{"EventBusName": args.Router.BusName, "RuleName": rt.RuleName}); err != nil {
			return nil, err
		}
		if err := alarm(prefix+"-undelivered", "Events of route "+rt.Name+" that EventBridge gave up delivering wait in its undelivered-events queue.",
			"AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", pulumi.StringMap{"QueueName": rt.UndeliveredName}); err != nil {
			return nil, err
		}
		if err := alarm(prefix+"-dlq-not-empty", "Messages of route "+rt.Name+" are in its dead-letter queue: the consumer could not process them.",
			"AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", pulumi.StringMap{"QueueName": rt.Queue.DLQName}); err != nil {
			return nil, err
		}
	}
	return a, ctx.RegisterResourceOutputs(a, pulumi.Map{})
}

package aws

import (
	"fmt"
	"time"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sqs"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Queue is the work queue and its dead-letter queue.
type Queue struct {
	pulumi.ResourceState
	URL     pulumi.StringOutput `pulumi:"url"`
	ARN     pulumi.StringOutput `pulumi:"arn"`
	Name    pulumi.StringOutput `pulumi:"name"`
	DLQURL  pulumi.StringOutput `pulumi:"dlqUrl"`
	DLQName pulumi.StringOutput `pulumi:"dlqName"`
	DLQARN  pulumi.StringOutput `pulumi:"dlqArn"`
}

// QueueArgs configure the queues.
type QueueArgs struct {
	VisibilityTimeout time.Duration
	MaxReceiveCount   int
	// Retain keeps both queues when the stack is destroyed; Protect has
	// Pulumi refuse to delete or replace them at all.
	Retain  bool
	Protect bool
	Tags    pulumi.StringMap
}

// NewQueue creates an SQS standard queue with SSE that redrives to a DLQ after
// MaxReceiveCount receives, and lets only that queue redrive into the DLQ.
func NewQueue(ctx *pulumi.Context, name string, args QueueArgs, opts ...pulumi.ResourceOption) (*Queue, error) {
	q := &Queue{}
	if err := ctx.RegisterComponentResource("edw:aws:Queue", name, q, opts...); err != nil {
		return nil, err
	}
	keep := dataOptions(args.Retain, args.Protect)
	dlq, err := sqs.NewQueue(ctx, name+"-dlq", &sqs.QueueArgs{
		SqsManagedSseEnabled:    pulumi.Bool(true),
		MessageRetentionSeconds: pulumi.Int(14 * 24 * 3600),
		Tags:                    args.Tags,
	}, pulumi.Parent(q), keep)
	if err != nil {
		return nil, fmt.Errorf("dead-letter queue %s: %w", name, err)
	}
	work, err := sqs.NewQueue(ctx, name, &sqs.QueueArgs{
		SqsManagedSseEnabled:     pulumi.Bool(true),
		VisibilityTimeoutSeconds: pulumi.Int(int(args.VisibilityTimeout.Seconds())),
		MessageRetentionSeconds:  pulumi.Int(4 * 24 * 3600),
		ReceiveWaitTimeSeconds:   pulumi.Int(20),
		RedrivePolicy: dlq.Arn.ApplyT(func(arn string) (string, error) {
			return marshal(map[string]any{"deadLetterTargetArn": arn, "maxReceiveCount": args.MaxReceiveCount})
		}).(pulumi.StringOutput),
		Tags: args.Tags,
	}, pulumi.Parent(q), keep)
	if err != nil {
		return nil, fmt.Errorf("work queue %s: %w", name, err)
	}
	// A separate resource: the DLQ's allow policy names the work queue, whose
	// redrive policy names the DLQ, and inline they would form a cycle.
	if _, err := sqs.NewRedriveAllowPolicy(ctx, name+"-dlq", &sqs.RedriveAllowPolicyArgs{
		QueueUrl: dlq.Url,
		RedriveAllowPolicy: work.Arn.ApplyT(func(arn string) (string, error) {
			return marshal(map[string]any{"redrivePermission": "byQueue", "sourceQueueArns": []string{arn}})
		}).(pulumi.StringOutput),
	}, pulumi.Parent(q)); err != nil {
		return nil, fmt.Errorf("redrive allow policy %s: %w", name, err)
	}
	q.URL, q.ARN, q.Name = work.Url, work.Arn, work.Name
	q.DLQURL, q.DLQARN, q.DLQName = dlq.Url, dlq.Arn, dlq.Name
	return q, ctx.RegisterResourceOutputs(q, pulumi.Map{
		"url": q.URL, "arn": q.ARN, "name": q.Name, "dlqUrl": q.DLQURL, "dlqArn": q.DLQARN, "dlqName": q.DLQName,
	})
}

// dataOptions are the options of a resource that holds data (messages,
// results): retained on destroy and protected from deletion when asked.
func dataOptions(retain, protect bool) pulumi.ResourceOption {
	return pulumi.Composite(pulumi.RetainOnDelete(retain), pulumi.Protect(protect))
}

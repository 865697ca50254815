package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SQS is an SQS standard queue and its dead-letter queue.
type SQS struct {
	client *sqs.Client
	url    string
	dlqURL string
}

// NewSQS uses client (built once, from the default credential chain) for the
// queue at url and dead-letter queue at dlqURL.
func NewSQS(client *sqs.Client, url, dlqURL string) *SQS {
	return &SQS{client: client, url: url, dlqURL: dlqURL}
}

const sqsBatch = 10

func (q *SQS) MaxBatch() int { return sqsBatch }

// Check reads the queue's ARN, with few retries: at start-up a wrong URL or an
// unreachable endpoint should be reported, not ridden out.
func (q *SQS) Check(ctx context.Context) error {
	_, err := q.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: &q.url, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	}, func(o *sqs.Options) { o.RetryMaxAttempts = 2 })
	if err != nil {
		return fmt.Errorf("queue %s at %s: %w", q.url, q.Endpoint(), err)
	}
	return nil
}

// Endpoint is where the client sends requests.
func (q *SQS) Endpoint() string {
	if e := q.client.Options().BaseEndpoint; e != nil && *e != "" {
		return *e
	}
	return fmt.Sprintf("https://sqs.%s.amazonaws.com (the SDK's regional endpoint)", q.client.Options().Region)
}

func (q *SQS) Receive(ctx context.Context, max int, wait time.Duration) ([]*Message, error) {
	out, err := q.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    &q.url,
		MaxNumberOfMessages:         int32(min(max, sqsBatch)),
		WaitTimeSeconds:             int32(min(wait, 20*time.Second) / time.Second),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
	})
	if err != nil {
		return nil, fmt.Errorf("receive from %s: %w", q.url, err)
	}
	msgs := make([]*Message, 0, len(out.Messages))
	for _, m := range out.Messages {
		count, _ := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
		msgs = append(msgs, &Message{
			ID:           aws.ToString(m.MessageId),
			Body:         []byte(aws.ToString(m.Body)),
			ReceiveCount: max1(count),
			Handle:       aws.ToString(m.ReceiptHandle),
		})
	}
	return msgs, nil
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}

func (q *SQS) Delete(ctx context.Context, msgs []*Message) error {
	for start := 0; start < len(msgs); start += sqsBatch {
		batch := msgs[start:min(start+sqsBatch, len(msgs))]
		entries := make([]types.DeleteMessageBatchRequestEntry, 0, len(batch))
		for i, m := range batch {
			entries = append(entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(m.Handle)})
		}
		out, err := q.client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &q.url, Entries: entries})
		if err != nil {
			return fmt.Errorf("delete %d messages from %s: %w", len(batch), q.url, err)
		}
		if len(out.Failed) > 0 {
			f := out.Failed[0]
			return fmt.Errorf("delete from %s: %d of %d failed, first: %s %s", q.url, len(out.Failed), len(batch),
				aws.ToString(f.Code), aws.ToString(f.Message))
		}
	}
	return nil
}

func (q *SQS) Extend(ctx context.Context, m *Message, d time.Duration) error {
	_, err := q.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: &q.url, ReceiptHandle: &m.Handle, VisibilityTimeout: int32(d / time.Second),
	})
	if err != nil {
		return fmt.Errorf("extend visibility of %s on %s: %w", m.ID, q.url, err)
	}
	return nil
}

func (q *SQS) DeadLetter(ctx context.Context, m *Message, reason string) error {
	if q.dlqURL == "" {
		return errors.New("no dead-letter queue configured (EDW_DLQ_URL)")
	}
	_, err := q.client.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:    &q.dlqURL,
		MessageBody: aws.String(string(m.Body)),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"edw-reason":        {DataType: aws.String("String"), StringValue: aws.String(truncate(reason, 256))},
			"edw-source-id":     {DataType: aws.String("String"), StringValue: aws.String(m.ID)},
			"edw-receive-count": {DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(m.ReceiveCount))},
		},
	})
	if err != nil {
		return fmt.Errorf("dead-letter %s to %s: %w", m.ID, q.dlqURL, err)
	}
	return nil
}

// Send sends in batches of 10 and resends only the entries SQS reports as failed,
// so a partial failure neither loses nor duplicates messages.
func (q *SQS) Send(ctx context.Context, bodies [][]byte) error {
	for start := 0; start < len(bodies); start += sqsBatch {
		pending := map[string][]byte{}
		for i, b := range bodies[start:min(start+sqsBatch, len(bodies))] {
			pending[strconv.Itoa(i)] = b
		}
		for attempt := 0; len(pending) > 0; attempt++ {
			if attempt > 0 {
				if attempt == 5 {
					return fmt.Errorf("send to %s: %d messages still failing after %d attempts", q.url, len(pending), attempt)
				}
				if err := sleep(ctx, time.Duration(50<<attempt)*time.Millisecond); err != nil {
					return err
				}
			}
			entries := make([]types.SendMessageBatchRequestEntry, 0, len(pending))
			for id, b := range pending {
				entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(id), MessageBody: aws.String(string(b))})
			}
			out, err := q.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &q.url, Entries: entries})
			if err != nil {
				return fmt.Errorf("send %d messages to %s: %w", len(entries), q.url, err)
			}
			for _, ok := range out.Successful {
				delete(pending, aws.ToString(ok.Id))
			}
			for _, f := range out.Failed {
				if f.SenderFault {
					return fmt.Errorf("send to %s rejected a message: %s %s", q.url, aws.ToString(f.Code), aws.ToString(f.Message))
				}
			}
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (q *SQS) Len(ctx context.Context) (int, error) {
	out, err := q.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: &q.url,
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible},
	})
	if err != nil {
		return 0, fmt.Errorf("length of %s: %w", q.url, err)
	}
	total := 0
	for _, name := range []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages,
		types.QueueAttributeNameApproximateNumberOfMessagesNotVisible} {
		n, err := strconv.Atoi(out.Attributes[string(name)])
		if err != nil {
			return 0, fmt.Errorf("length of %s: %s: %w", q.url, name, err)
		}
		total += n
	}
	return total, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

package queue

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
)

// AzureQueue is an Azure Storage queue and its poison queue.
type AzureQueue struct {
	work       *azqueue.QueueClient
	poison     *azqueue.QueueClient
	visibility time.Duration
	// senders bounds concurrent enqueues: Azure has no batch send.
	senders int
}

// NewAzureQueue uses the service client (built once, from DefaultAzureCredential or
// a connection string) for queue and poison. visibility is how long a received
// message stays hidden.
func NewAzureQueue(svc *azqueue.ServiceClient, queue, poison string, visibility time.Duration) *AzureQueue {
	return &AzureQueue{work: svc.NewQueueClient(queue), poison: svc.NewQueueClient(poison), visibility: visibility, senders: 16}
}

// azureBatch is the most messages one dequeue returns.
const azureBatch = 32

func (q *AzureQueue) MaxBatch() int { return azureBatch }

// Check reads the queue's properties: it fails on a missing queue, a wrong
// account or key, or an unreachable endpoint.
func (q *AzureQueue) Check(ctx context.Context) error {
	if _, err := q.work.GetProperties(policy.WithRetryOptions(ctx, checkRetry()), nil); err != nil {
		return fmt.Errorf("queue %s: %w", q.work.URL(), err)
	}
	return nil
}

// Receive polls: Azure queues have no long polling, so an empty queue is polled
// again with a growing pause until wait has passed.
func (q *AzureQueue) Receive(ctx context.Context, max int, wait time.Duration) ([]*Message, error) {
	deadline := time.Now().Add(wait)
	pause := 50 * time.Millisecond
	for {
		out, err := q.work.DequeueMessages(ctx, &azqueue.DequeueMessagesOptions{
			NumberOfMessages:  ptr(int32(min(max, azureBatch))),
			VisibilityTimeout: ptr(int32(q.visibility / time.Second)),
		})
		if err != nil {
			return nil, fmt.Errorf("receive from %s: %w", q.work.URL(), err)
		}
		if len(out.Messages) > 0 {
			msgs := make([]*Message, 0, len(out.Messages))
			for _, m := range out.Messages {
				msgs = append(msgs, &Message{
					ID:           deref(m.MessageID),
					Body:         []byte(deref(m.MessageText)),
					ReceiveCount: int(derefInt(m.DequeueCount)),
					Handle:       deref(m.PopReceipt),
				})
			}
			return msgs, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, nil
		}
		if err := sleep(ctx, min(pause, left)); err != nil {
			return nil, nil
		}
		pause = min(pause*2, time.Second)
	}
}

// Delete removes messages concurrently: Azure has no batch delete. A 404 means an
// earlier attempt already deleted the message.
func (q *AzureQueue) Delete(ctx context.Context, msgs []*Message) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, q.senders)
	)
	for _, m := range msgs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			_, err := q.work.DeleteMessage(ctx, m.ID, m.Handle, nil)
			if err != nil && !isStatus(err, http.StatusNotFound) {
				mu.Lock()
				errs = append(errs, fmt.Errorf("delete %s from %s: %w", m.ID, q.work.URL(), err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (q *AzureQueue) Extend(ctx context.Context, m *Message, d time.Duration) error {
	out, err := q.work.UpdateMessage(ctx, m.ID, m.Handle, string(m.Body), &azqueue.UpdateMessageOptions{
		VisibilityTimeout: ptr(int32(d / time.Second)),
	})
	if err != nil {
		return fmt.Errorf("extend visibility of %s on %s: %w", m.ID, q.work.URL(), err)
	}
	if out.PopReceipt != nil {
		m.Handle = *out.PopReceipt
	}
	return nil
}

func (q *AzureQueue) DeadLetter(ctx context.Context, m *Message, reason string) error {
	// The poison queue keeps the original body unchanged so it can be replayed;
	// the reason goes to the consumer's log and metrics.
	if _, err := q.poison.EnqueueMessage(ctx, string(m.Body), &azqueue.EnqueueMessageOptions{TimeToLive: ptr(int32(-1))}); err != nil {
		return fmt.Errorf("dead-letter %s to %s (%s): %w", m.ID, q.poison.URL(), reason, err)
	}
	return nil
}

func (q *AzureQueue) Send(ctx context.Context, bodies [][]byte) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, q.senders)
	)
	for _, b := range bodies {
		sem <- struct{}{}
		wg.Add(1)
		go func(body string) {
			defer func() { <-sem; wg.Done() }()
			if _, err := q.work.EnqueueMessage(ctx, body, nil); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}(string(b))
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("send to %s: %d of %d failed, first: %w", q.work.URL(), len(errs), len(bodies), errs[0])
	}
	return nil
}

func (q *AzureQueue) Len(ctx context.Context) (int, error) {
	out, err := q.work.GetProperties(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("length of %s: %w", q.work.URL(), err)
	}
	return int(derefInt32(out.ApproximateMessagesCount)), nil
}

func isStatus(err error, code int) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == code
}

func ptr[T any](v T) *T { return &v }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func derefInt(n *int64) int64 {
	if n == nil {
		return 0
	}
	return *n
}

func derefInt32(n *int32) int32 {
	if n == nil {
		return 0
	}
	return *n
}

// checkRetry is the start-up check's: one retry, each attempt bounded, so a
// wrong endpoint is reported in seconds rather than ridden out like an outage.
func checkRetry() policy.RetryOptions {
	return policy.RetryOptions{MaxRetries: 1, TryTimeout: 10 * time.Second, RetryDelay: 200 * time.Millisecond}
}

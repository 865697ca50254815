// Package queue is the work queue as the worker and the producer see it, with one
// backend per cloud: SQS (sqs.go) and Azure Storage queues (azqueue.go).
package queue

import (
	"context"
	"time"
)

// Message is one received message.
type Message struct {
	// ID is the queue's own id, stable across redeliveries.
	ID   string
	Body []byte
	// ReceiveCount is how many times the message has been received, this time included.
	ReceiveCount int
	// Handle deletes or extends this receipt (SQS receipt handle, Azure pop receipt).
	Handle string
}

// Queue is a work queue with a dead-letter (poison) queue.
type Queue interface {
	// Check reads the queue once, so a program pointed at a queue it cannot
	// reach fails at start-up, saying which queue and endpoint.
	Check(ctx context.Context) error
	// Receive waits up to wait for at most max messages, hiding them for the
	// queue's visibility timeout. It returns an empty slice when none arrived.
	// Cancelling ctx ends the wait at once: a message the service handed out at
	// that instant stays hidden for one visibility timeout and is then delivered
	// again, so nothing is lost, and an idle consumer stops within a second.
	Receive(ctx context.Context, max int, wait time.Duration) ([]*Message, error)
	// Delete removes messages whose results are durably written.
	Delete(ctx context.Context, msgs []*Message) error
	// Extend hides a message for d more from now; it may update m.Handle.
	Extend(ctx context.Context, m *Message, d time.Duration) error
	// DeadLetter copies a message to the dead-letter queue with the reason; the
	// caller deletes it from the work queue afterwards.
	DeadLetter(ctx context.Context, m *Message, reason string) error
	// Send enqueues bodies, batching where the backend can.
	Send(ctx context.Context, bodies [][]byte) error
	// Len is the approximate number of messages waiting or in flight (received,
	// not yet deleted): what KEDA's trigger counts by default (aws-sqs-queue's
	// scaleOnInFlight, azure-queue's queueLengthStrategy "all").
	Len(ctx context.Context) (int, error)
	// MaxBatch is the most messages one Receive or Send call handles.
	MaxBatch() int
}

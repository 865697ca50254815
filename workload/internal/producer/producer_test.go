package producer

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/workload/internal/queue"
)

// refusing is a queue whose sends fail after ok successes.
type refusing struct {
	queue.Queue
	mu    sync.Mutex
	ok    int
	sends int
}

func (q *refusing) MaxBatch() int { return 10 }

func (q *refusing) Send(ctx context.Context, bodies [][]byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sends++
	if q.sends <= q.ok {
		return nil
	}
	return errors.New("send to http://127.0.0.1:1/000/q: dial tcp 127.0.0.1:1: connection refused")
}

// A queue that refuses every send stops the producer after a bounded number of
// failures, even with no count, and the first error is kept and reported.
func TestRunGivesUpOnAQueueThatRefusesEverySend(t *testing.T) {
	q := &refusing{ok: 2}
	var first error
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sum := Run(ctx, q, Config{Count: 0, Concurrency: 1, Msg: "m", MaxConsecutiveFailures: 3,
		OnFirstError: func(err error) { first = err }})
	require.NoError(t, ctx.Err(), "Run stopped by itself")
	assert.True(t, sum.GaveUp)
	assert.Equal(t, int64(20), sum.Sent)
	assert.Equal(t, int64(3), sum.FailedSends)
	assert.GreaterOrEqual(t, sum.Failed, int64(30), "the refused batches, and any handed out but never sent")
	assert.Contains(t, sum.FirstError, "connection refused")
	require.Error(t, first)
	assert.Equal(t, 5, q.sends)
}

func TestRunSendsCountWhenTheQueueAccepts(t *testing.T) {
	q := &refusing{ok: 1 << 30}
	sum := Run(context.Background(), q, Config{Count: 95, Concurrency: 3, Msg: "m"})
	assert.False(t, sum.GaveUp)
	assert.Equal(t, int64(95), sum.Sent)
	assert.Empty(t, sum.FirstError)
}

// partlyRefusing accepts all but the last message of every batch, as an
// EventBridge call with one failed entry does.
type partlyRefusing struct{ queue.Queue }

type partialErr struct{ delivered int }

func (e partialErr) Error() string  { return "1 of the events not accepted: MalformedDetail" }
func (e partialErr) Delivered() int { return e.delivered }

func (q *partlyRefusing) MaxBatch() int { return 10 }

func (q *partlyRefusing) Send(_ context.Context, bodies [][]byte) error {
	return partialErr{delivered: len(bodies) - 1}
}

// The summary counts what the router accepted, not the whole batch as failed.
func TestRunCountsAPartlyAcceptedBatch(t *testing.T) {
	sum := Run(context.Background(), &partlyRefusing{}, Config{Count: 25, Concurrency: 1, Msg: "m", MaxConsecutiveFailures: 10})
	assert.Equal(t, int64(22), sum.Sent)
	assert.Equal(t, int64(3), sum.Failed)
	assert.Equal(t, int64(3), sum.FailedSends)
	assert.Contains(t, sum.FirstError, "MalformedDetail")
}

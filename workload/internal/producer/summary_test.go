package producer

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/workload/internal/queue"
)

// recording is a queue that keeps every body it is sent.
type recording struct {
	queue.Queue
	mu     sync.Mutex
	bodies [][]byte
}

func (q *recording) MaxBatch() int { return 10 }

func (q *recording) Send(_ context.Context, bodies [][]byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.bodies = append(q.bodies, bodies...)
	return nil
}

// With no limit set, three refused sends in a row stop the producer.
func TestTheDefaultLimitIsThreeRefusedSends(t *testing.T) {
	q := &refusing{}
	s := Run(context.Background(), q, Config{Count: 1000, Concurrency: 1, Msg: "m"})
	assert.True(t, s.GaveUp)
	assert.Equal(t, int64(3), s.FailedSends)
}

// Messages are numbered 0..Count-1 in their msg, each once; the summary's rate is
// sent per second, and progress is reported during the run and at its end.
func TestMessagesAreNumberedAndTheSummaryAddsUp(t *testing.T) {
	q := &recording{}
	var progress []Summary
	var mu sync.Mutex
	s := Run(context.Background(), q, Config{Count: 25, Rate: 50, Concurrency: 2, Msg: "m",
		ProgressEvery: 100 * time.Millisecond, Progress: func(s Summary) { mu.Lock(); progress = append(progress, s); mu.Unlock() }})
	require.Equal(t, int64(25), s.Sent)
	var got []string
	for _, raw := range q.bodies {
		var b struct{ Msg string }
		require.NoError(t, json.Unmarshal(raw, &b))
		got = append(got, b.Msg)
	}
	var want []string
	for i := range 25 {
		want = append(want, fmt.Sprintf("m %d", i))
	}
	assert.ElementsMatch(t, want, got)
	assert.InDelta(t, float64(s.Sent)/s.Seconds, s.Rate, 1e-9, "rate is sent per second")
	assert.Positive(t, s.Rate)
	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, len(progress), 2, "during the run (25 at 50/s take about half a second) and at the end")
	assert.Equal(t, int64(25), progress[len(progress)-1].Sent, "the last report is the final count")
}

// Progress with no interval is reported once, at the end.
func TestProgressWithoutAnIntervalComesOnceAtTheEnd(t *testing.T) {
	var calls int
	s := Run(context.Background(), &recording{}, Config{Count: 5, Concurrency: 1, Msg: "m", Progress: func(Summary) { calls++ }})
	assert.Equal(t, int64(5), s.Sent)
	assert.Equal(t, 1, calls)
}

// slow is a queue whose sends take a while, and which records how many ran at once.
type slow struct {
	queue.Queue
	mu            sync.Mutex
	inFlight, max int
}

func (q *slow) MaxBatch() int { return 10 }

func (q *slow) Send(context.Context, [][]byte) error {
	q.mu.Lock()
	q.inFlight++
	q.max = max(q.max, q.inFlight)
	q.mu.Unlock()
	time.Sleep(30 * time.Millisecond)
	q.mu.Lock()
	q.inFlight--
	q.mu.Unlock()
	return nil
}

// Concurrency is the number of sends in flight at once, no more.
func TestConcurrencyBoundsSendsInFlight(t *testing.T) {
	q := &slow{}
	s := Run(context.Background(), q, Config{Count: 100, Concurrency: 2, Msg: "m"})
	assert.Equal(t, int64(100), s.Sent)
	assert.Equal(t, 2, q.max)
}

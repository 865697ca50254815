package worker

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/workload/internal/telemetry"
)

func body(id string) string {
	return fmt.Sprintf(`{"id":%q,"msg":"work %s","srcStamp":%q}`, id, id, time.Now().UTC().Format("2006-01-02 15:04:05.000000"))
}

func newWorker(t *testing.T, q *memQueue, s *memStore, mutate func(*Config)) (*Worker, *telemetry.Metrics) {
	t.Helper()
	cfg := Config{
		Receivers: 3, Wait: 20 * time.Millisecond, MaxReceiveCount: 3, Visibility: 2 * time.Second,
		DrainTimeout: 5 * time.Second, ExitWhenIdle: 300 * time.Millisecond, ProcessedBy: "test-pod", WriteAttempts: 1,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	m := telemetry.NewMetrics()
	w, err := New(q, s, m, &telemetry.Health{}, telemetry.NewLogger(io.Discard, 0), cfg)
	require.NoError(t, err)
	return w, m
}

func run(t *testing.T, w *Worker) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, w.Run(ctx))
	require.NoError(t, ctx.Err(), "Run must end by itself once the queue is idle")
}

func TestEveryMessageBecomesExactlyOneRow(t *testing.T) {
	q, s := newMemQueue(time.Second), newMemStore()
	for i := 0; i < 250; i++ {
		q.add(body(fmt.Sprintf("m-%03d", i)))
	}
	w, m := newWorker(t, q, s, nil)
	run(t, w)
	assert.Equal(t, 250, s.count())
	assert.Equal(t, 0, q.remaining())
	assert.Equal(t, 250.0, testutil.ToFloat64(m.Processed))
	assert.Equal(t, 0.0, testutil.ToFloat64(m.Duplicates))
	assert.Empty(t, q.dlq)
	r := s.rows["m-007"]
	assert.Equal(t, "work m-007", r.Msg)
	assert.Equal(t, "test-pod", r.ProcessedBy)
	assert.Equal(t, 1, r.ReceiveCount)
	assert.False(t, r.DestStamp.Before(r.SrcStamp))
	assert.InDelta(t, r.DestStamp.Sub(r.SrcStamp).Seconds(), r.ProcessingSeconds, 1e-6)
}

func TestReferenceBodyIsKeyedByTheQueueID(t *testing.T) {
	q, s := newMemQueue(time.Second), newMemStore()
	id := q.add(`{"msg":"from the reference producer","srcStamp":"2026-11-23 05:00:00.000000"}`)
	w, _ := newWorker(t, q, s, nil)
	run(t, w)
	require.Contains(t, s.rows, id)
	assert.Equal(t, "from the reference producer", s.rows[id].Msg)
}

func TestMalformedMessagesAreDeadLetteredAndTheRestComplete(t *testing.T) {
	q, s := newMemQueue(time.Second), newMemStore()
	for i := 0; i < 20; i++ {
		q.add(body(fmt.Sprintf("good-%d", i)))
	}
	bad := []string{`not json`, `{"msg":"no stamp"}`, `{"srcStamp":"2026-11-23 05:00:00.000000"}`}
	for _, b := range bad {
		q.add(b)
	}
	w, m := newWorker(t, q, s, nil)
	run(t, w)
	assert.Equal(t, 20, s.count())
	assert.Equal(t, 0, q.remaining(), "poison is removed from the work queue")
	var got []string
	for _, b := range q.dlq {
		got = append(got, string(b))
	}
	assert.ElementsMatch(t, bad, got, "every bad body lands in the DLQ unchanged")
	assert.Equal(t, 3.0, testutil.ToFloat64(m.Poisoned))
}

func TestFailingWritesAreRetriedThenDeadLetteredAtMaxReceiveCount(t *testing.T) {
	q, s := newMemQueue(30*time.Millisecond), newMemStore()
	q.add(body("doomed"))
	q.add(body("fine"))
	s.failFor["doomed"] = true
	w, m := newWorker(t, q, s, func(c *Config) { c.MaxReceiveCount = 4 })
	run(t, w)
	assert.Equal(t, 1, s.count())
	require.Len(t, q.dlq, 1)
	assert.Contains(t, q.reasons[0], "gave up after 4 receives")
	assert.Equal(t, 0, q.remaining())
	assert.Equal(t, 4.0, testutil.ToFloat64(m.Failed), "one failure per receive")
}

func TestTransientWriteFailureIsRetriedWithoutLoss(t *testing.T) {
	q, s := newMemQueue(30*time.Millisecond), newMemStore()
	for i := 0; i < 10; i++ {
		q.add(body(fmt.Sprintf("t-%d", i)))
	}
	s.failN = 4
	w, _ := newWorker(t, q, s, nil)
	run(t, w)
	assert.Equal(t, 10, s.count())
	assert.Empty(t, q.dlq)
	assert.Equal(t, 0, q.remaining())
}

func TestRedeliveryAfterAFailedDeleteMakesNoSecondRow(t *testing.T) {
	q, s := newMemQueue(30*time.Millisecond), newMemStore()
	for i := 0; i < 5; i++ {
		q.add(body(fmt.Sprintf("d-%d", i)))
	}
	q.failDelete = 4 // every retry of the first delete
	w, m := newWorker(t, q, s, func(c *Config) { c.Receivers = 1 })
	run(t, w)
	assert.Equal(t, 5, s.count())
	assert.Equal(t, 0, q.remaining())
	assert.Equal(t, 5.0, testutil.ToFloat64(m.Processed))
	assert.Equal(t, 5.0, testutil.ToFloat64(m.Duplicates), "the redelivered batch is recognised, not rewritten")
}

func TestAFailedDeleteIsRetriedBeforeRedelivery(t *testing.T) {
	q, s := newMemQueue(time.Minute), newMemStore()
	for i := 0; i < 5; i++ {
		q.add(body(fmt.Sprintf("r-%d", i)))
	}
	q.failDelete = 2
	w, m := newWorker(t, q, s, func(c *Config) { c.Receivers = 1 })
	run(t, w)
	assert.Equal(t, 0, q.remaining(), "deleted without waiting for the visibility timeout")
	assert.Equal(t, 5, s.count())
	assert.Equal(t, 0.0, testutil.ToFloat64(m.Duplicates), "no redelivery happened")
}

func TestShutdownFinishesInFlightWork(t *testing.T) {
	q, s := newMemQueue(time.Minute), newMemStore()
	for i := 0; i < 4; i++ {
		q.add(body(fmt.Sprintf("s-%d", i)))
	}
	s.gate = make(chan struct{})
	s.entered = make(chan struct{}, 1)
	w, _ := newWorker(t, q, s, func(c *Config) { c.ExitWhenIdle = 0; c.Receivers = 1 })

	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() { result <- w.Run(ctx) }()
	<-s.entered // work is in flight
	cancel()    // SIGTERM
	select {
	case <-result:
		t.Fatal("Run returned before in-flight writes finished")
	case <-time.After(100 * time.Millisecond):
	}
	close(s.gate)
	select {
	case err := <-result:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the drain")
	}
	assert.Equal(t, 4, s.count(), "the received batch is written")
	assert.Equal(t, 0, q.remaining(), "and deleted")
}

func TestDrainTimeoutLeavesUnfinishedMessagesOnTheQueue(t *testing.T) {
	q, s := newMemQueue(time.Minute), newMemStore()
	q.add(body("stuck"))
	s.gate = make(chan struct{})
	s.entered = make(chan struct{}, 1)
	w, _ := newWorker(t, q, s, func(c *Config) { c.ExitWhenIdle = 0; c.DrainTimeout = 100 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() { result <- w.Run(ctx) }()
	<-s.entered
	cancel()
	time.AfterFunc(300*time.Millisecond, func() { close(s.gate) })
	require.NoError(t, <-result)
	assert.Equal(t, 1, q.remaining(), "not deleted: it will be redelivered")
}

func TestSlowWorkIsKeptHidden(t *testing.T) {
	q, s := newMemQueue(2*time.Second), newMemStore()
	q.add(body("slow"))
	s.gate = make(chan struct{})
	w, m := newWorker(t, q, s, func(c *Config) { c.Receivers = 2 })
	time.AfterFunc(3500*time.Millisecond, func() { close(s.gate) })
	run(t, w)
	assert.Equal(t, 1, s.count())
	assert.Equal(t, 1.0, testutil.ToFloat64(m.Received), "extended visibility: no second receive while the first was working")
}

func TestNewRejectsBadConfig(t *testing.T) {
	_, err := New(newMemQueue(time.Second), newMemStore(), telemetry.NewMetrics(), &telemetry.Health{},
		telemetry.NewLogger(io.Discard, 0), Config{Receivers: 1, MaxReceiveCount: 0, Visibility: time.Minute})
	assert.ErrorContains(t, err, "max receive count 0")
}

func TestInFlightCountsHeldMessagesAndReturnsToZero(t *testing.T) {
	q, s := newMemQueue(time.Minute), newMemStore()
	for i := 0; i < 3; i++ {
		q.add(body(fmt.Sprintf("f-%d", i)))
	}
	s.gate = make(chan struct{})
	s.entered = make(chan struct{}, 3)
	w, m := newWorker(t, q, s, func(c *Config) { c.Receivers = 1 })
	result := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		result <- w.Run(ctx)
	}()
	for range 3 {
		<-s.entered
	}
	assert.Equal(t, 3.0, testutil.ToFloat64(m.InFlight), "the held batch is in flight")
	close(s.gate)
	require.NoError(t, <-result)
	assert.Equal(t, 0.0, testutil.ToFloat64(m.InFlight), "nothing is in flight once it is deleted")
	assert.Equal(t, 3, s.count())
}

package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/workload/internal/message"
	"github.com/edw-dev/edw/workload/internal/queue"
	"github.com/edw-dev/edw/workload/internal/store"
	"github.com/edw-dev/edw/workload/internal/telemetry"
)

// scriptedQueue is a memQueue whose receives and extends fail as failReceive and
// failExtend say; it counts receives.
type scriptedQueue struct {
	*memQueue
	receives    atomic.Int64
	failReceive func(call int64) bool
	failExtend  bool
}

func (q *scriptedQueue) Receive(ctx context.Context, max int, wait time.Duration) ([]*queue.Message, error) {
	if call := q.receives.Add(1); q.failReceive != nil && q.failReceive(call) {
		return nil, errors.New("receive: injected failure")
	}
	return q.memQueue.Receive(ctx, max, wait)
}

func (q *scriptedQueue) Extend(ctx context.Context, m *queue.Message, d time.Duration) error {
	if q.failExtend {
		return errors.New("extend: injected failure")
	}
	return q.memQueue.Extend(ctx, m, d)
}

func scriptedWorker(t *testing.T, q queue.Queue, s *memStore, mutate func(*Config)) (*Worker, *syncBuffer) {
	t.Helper()
	cfg := Config{
		Receivers: 1, Wait: 20 * time.Millisecond, MaxReceiveCount: 3, Visibility: 2 * time.Second,
		DrainTimeout: 5 * time.Second, ExitWhenIdle: 300 * time.Millisecond, ProcessedBy: "test-pod", WriteAttempts: 1,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	logs := &syncBuffer{}
	w, err := New(q, s, telemetry.NewMetrics(), &telemetry.Health{}, telemetry.NewLogger(logs, -4), cfg)
	require.NoError(t, err)
	return w, logs
}

// A failing receive is retried with a doubling backoff (100ms, 200ms, 400ms, …
// at most 5s), reset once a receive works: an outage costs a few calls, not a
// loop hammering the queue. After failures the loop goes on receiving.
func TestReceiveFailuresBackOffAndTheLoopGoesOn(t *testing.T) {
	mq, s := newMemQueue(time.Minute), newMemStore()
	for i := range 5 {
		mq.add(body(fmt.Sprintf("b-%d", i)))
	}
	// Two failures, one good receive (the batch), then failures for good.
	q := &scriptedQueue{memQueue: mq, failReceive: func(call int64) bool { return call != 3 }}
	w, logs := scriptedWorker(t, q, s, func(c *Config) { c.ExitWhenIdle = 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	require.NoError(t, w.Run(ctx))
	assert.Equal(t, 5, s.count(), "the batch after two failed receives is processed")
	// 100 + 200 ms before the good receive, then 100, 200, 400, 800 ms: about seven
	// receives in 1.5s. Without a backoff it would be thousands.
	assert.LessOrEqual(t, q.receives.Load(), int64(10), "receives in 1.5s of failures")
	assert.GreaterOrEqual(t, q.receives.Load(), int64(5), "and it kept trying")
	var backoffs []time.Duration
	for _, m := range regexp.MustCompile(`"backoff":(\d+)`).FindAllStringSubmatch(logs.String(), -1) {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		backoffs = append(backoffs, time.Duration(n))
	}
	require.GreaterOrEqual(t, len(backoffs), 5, logs.String())
	ms := time.Millisecond
	assert.Equal(t, []time.Duration{100 * ms, 200 * ms, 100 * ms, 200 * ms, 400 * ms}, backoffs[:5],
		"doubling, and back to 100ms after the receive that worked")
}

// A queue that goes quiet for less than ExitWhenIdle is not idle: a message
// redelivered after a failed write comes back before the window closes.
func TestAShortQuietSpellIsNotIdleness(t *testing.T) {
	mq, s := newMemQueue(600*time.Millisecond), newMemStore()
	mq.add(body("again"))
	s.failN = 1
	w, _ := scriptedWorker(t, &scriptedQueue{memQueue: mq}, s, func(c *Config) { c.ExitWhenIdle = 2 * time.Second })
	run(t, w)
	assert.Equal(t, 1, s.count(), "written on the second receive, 600ms after the first")
	assert.Equal(t, 0, mq.remaining())
}

// DrainTimeout 0 means the default (30s), not "no time at all".
func TestZeroDrainTimeoutMeansTheDefault(t *testing.T) {
	mq, s := newMemQueue(time.Minute), newMemStore()
	mq.add(body("held"))
	s.gate = make(chan struct{})
	s.entered = make(chan struct{}, 1)
	w, logs := scriptedWorker(t, &scriptedQueue{memQueue: mq}, s, func(c *Config) { c.ExitWhenIdle = 0; c.DrainTimeout = 0 })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	<-s.entered
	cancel()
	time.AfterFunc(300*time.Millisecond, func() { close(s.gate) })
	require.NoError(t, <-done)
	assert.Equal(t, 1, s.count(), "the held write finished during the drain")
	assert.Equal(t, 0, mq.remaining())
	assert.NotContains(t, logs.String(), "drain timeout")
}

// keepHidden logs an extend that failed while the work went on, and nothing
// when extends work.
func TestAFailedExtendIsLogged(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprint("fail=", fail), func(t *testing.T) {
			mq, s := newMemQueue(2*time.Second), newMemStore()
			mq.add(body("slow"))
			s.gate = make(chan struct{})
			w, logs := scriptedWorker(t, &scriptedQueue{memQueue: mq, failExtend: fail}, s, nil)
			time.AfterFunc(1500*time.Millisecond, func() { close(s.gate) }) // one extend, at 1s
			run(t, w)
			assert.Equal(t, 1, s.count())
			if fail {
				assert.Contains(t, logs.String(), "extend visibility failed")
			} else {
				assert.NotContains(t, logs.String(), "extend visibility failed")
			}
		})
	}
}

// A srcStamp exactly MaxClockSkew ahead is still skew; a microsecond more is not.
func TestClockSkewLimitIsInclusive(t *testing.T) {
	clock := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	mq, s := newMemQueue(time.Minute), newMemStore()
	mq.add(stampedBody("at-limit", "x", clock.Add(message.MaxClockSkew)))
	mq.add(stampedBody("past-limit", "x", clock.Add(message.MaxClockSkew+time.Microsecond)))
	w, _ := scriptedWorker(t, &scriptedQueue{memQueue: mq}, s, func(c *Config) { c.ExitWhenIdle = 0 })
	w.now = func() time.Time { return clock }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	deadline := time.After(10 * time.Second)
	for mq.remaining() > 0 {
		select {
		case <-deadline:
			t.Fatal("messages not handled")
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	require.NoError(t, <-done)
	assert.Contains(t, s.rows, "at-limit")
	assert.NotContains(t, s.rows, "past-limit")
	require.Len(t, mq.dlq, 1)
	assert.Contains(t, string(mq.dlq[0]), "past-limit")
}

func TestNewNamesEveryBadSetting(t *testing.T) {
	good := Config{Receivers: 1, MaxReceiveCount: 1, Visibility: 2 * time.Second}
	for name, c := range map[string]struct {
		mutate func(*Config)
		want   string
	}{
		"no receivers":      {func(c *Config) { c.Receivers = 0 }, "receivers 0: want at least 1"},
		"no receive count":  {func(c *Config) { c.MaxReceiveCount = 0 }, "max receive count 0"},
		"short visibility":  {func(c *Config) { c.Visibility = 2*time.Second - time.Millisecond }, "visibility timeout 1.999s: want at least 2s"},
		"smallest accepted": {func(*Config) {}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := good
			c.mutate(&cfg)
			w, err := New(newMemQueue(time.Second), newMemStore(), telemetry.NewMetrics(), &telemetry.Health{}, telemetry.NewLogger(io.Discard, 0), cfg)
			if c.want == "" {
				require.NoError(t, err)
				assert.Equal(t, 3, w.cfg.WriteAttempts, "write attempts default to 3")
				return
			}
			assert.ErrorContains(t, err, c.want)
		})
	}
}

// A failing write is tried WriteAttempts times within one receive, pausing
// between tries, before the message is left for redelivery.
func TestAWriteIsRetriedWithinOneReceive(t *testing.T) {
	mq, s := newMemQueue(time.Minute), newMemStore()
	mq.add(body("stubborn"))
	s.failN = 2
	q := &scriptedQueue{memQueue: mq}
	w, logs := scriptedWorker(t, q, s, func(c *Config) { c.WriteAttempts = 3 })
	run(t, w)
	assert.Equal(t, 1, s.count(), "the third try wrote it")
	assert.Equal(t, 0, mq.remaining(), "deleted on the first receive: no redelivery needed")
	assert.Equal(t, 3, s.puts)
	assert.NotContains(t, logs.String(), "left for redelivery")
}

// handingQueue holds each receive until released, so a test can start shutdown
// while a receive is about to hand over messages.
type handingQueue struct {
	*memQueue
	entered chan struct{}
	release chan struct{}
}

func (q *handingQueue) Receive(ctx context.Context, max int, wait time.Duration) ([]*queue.Message, error) {
	select {
	case q.entered <- struct{}{}:
	default:
	}
	<-q.release
	return q.memQueue.Receive(ctx, max, wait)
}

// Messages a receive hands over as shutdown starts are processed, not left
// hidden for a visibility timeout.
func TestMessagesHandedOverAtShutdownAreProcessed(t *testing.T) {
	mq, s := newMemQueue(time.Minute), newMemStore()
	for i := range 4 {
		mq.add(body(fmt.Sprintf("late-%d", i)))
	}
	q := &handingQueue{memQueue: mq, entered: make(chan struct{}, 1), release: make(chan struct{})}
	w, _ := scriptedWorker(t, q, s, func(c *Config) { c.ExitWhenIdle = 0 })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	<-q.entered
	cancel() // SIGTERM while the receive is out
	close(q.release)
	require.NoError(t, <-done)
	assert.Equal(t, 4, s.count(), "the batch that arrived with the signal is written")
	assert.Equal(t, 0, mq.remaining(), "and deleted")
}

// Every deleted message is observed once in the processing-time histogram; a
// delete that failed is not.
func TestProcessingTimeIsObservedPerDeletedMessage(t *testing.T) {
	for _, failDeletes := range []int{0, 4} {
		t.Run(fmt.Sprint("failing deletes=", failDeletes), func(t *testing.T) {
			mq, s := newMemQueue(time.Minute), newMemStore()
			for i := range 5 {
				mq.add(body(fmt.Sprintf("p-%d", i)))
			}
			mq.failDelete = failDeletes // 4: the first delete and all its retries
			m := telemetry.NewMetrics()
			w, err := New(mq, s, m, &telemetry.Health{}, telemetry.NewLogger(io.Discard, 0), Config{
				Receivers: 1, Wait: 20 * time.Millisecond, MaxReceiveCount: 3, Visibility: 2 * time.Second,
				DrainTimeout: 5 * time.Second, ExitWhenIdle: 300 * time.Millisecond, WriteAttempts: 1,
			})
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			require.NoError(t, w.Run(ctx))
			var d dto.Metric
			require.NoError(t, m.Processing.Write(&d))
			want := uint64(5)
			if failDeletes > 0 {
				want = 0
			}
			assert.Equal(t, want, d.GetHistogram().GetSampleCount())
		})
	}
}

// A conflicting message's log line quotes both bodies' msg whole up to 256
// characters, and cut with "…" beyond.
func TestConflictLogQuotesMsgUpTo256Characters(t *testing.T) {
	for _, n := range []int{256, 257} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			mq, s := newMemQueue(time.Minute), newMemStore()
			stamp := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
			s.rows["c"] = store.Result{ID: "c", Msg: "first", SrcStamp: stamp}
			msg := strings.Repeat("m", n)
			mq.add(stampedBody("c", msg, stamp))
			w, logs := scriptedWorker(t, &scriptedQueue{memQueue: mq}, s, nil)
			run(t, w)
			require.Contains(t, logs.String(), "conflicting message")
			if n == 256 {
				assert.Contains(t, logs.String(), `"msg":"`+msg+`"`)
			} else {
				assert.Contains(t, logs.String(), `"msg":"`+msg[:256]+`…"`)
			}
		})
	}
}

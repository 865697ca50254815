package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/workload/internal/message"
	"github.com/edw-dev/edw/workload/internal/telemetry"
)

// syncBuffer collects log lines written from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func loggedWorker(t *testing.T, q *memQueue, s *memStore, mutate func(*Config)) (*Worker, *telemetry.Metrics, *syncBuffer) {
	t.Helper()
	w, m := newWorker(t, q, s, mutate)
	logs := &syncBuffer{}
	w.log = telemetry.NewLogger(logs, -4)
	return w, m, logs
}

func stampedBody(id, msg string, stamp time.Time) string {
	return fmt.Sprintf(`{"id":%q,"msg":%q,"srcStamp":%q}`, id, msg, stamp.UTC().Format(message.StampLayout))
}

// A write the table refuses for the message's own content (Azure's
// PropertyValueTooLarge) fails the same way on every receive: it goes to the
// dead-letter queue on the first, with the reason, not after MaxReceiveCount
// receives and visibility timeouts.
func TestPermanentWriteFailureIsDeadLetteredAtOnce(t *testing.T) {
	q, s := newMemQueue(time.Minute), newMemStore()
	s.rejectFor = map[string]bool{"big": true}
	q.add(body("big"))
	q.add(body("fine"))
	w, m, _ := loggedWorker(t, q, s, func(c *Config) { c.MaxReceiveCount = 5; c.WriteAttempts = 3 })
	run(t, w)
	require.Len(t, q.dlq, 1)
	assert.Contains(t, q.reasons[0], "PropertyValueTooLarge")
	assert.Equal(t, 0, q.remaining())
	assert.Equal(t, 1, s.count())
	assert.Equal(t, 1.0, testutil.ToFloat64(m.Permanent))
	assert.Equal(t, 0.0, testutil.ToFloat64(m.Failed), "never retried")
	assert.Equal(t, 2, s.puts, "one attempt for each message, no retries of the refused one")
}

func TestResultOverTheBackendsLimitsIsDeadLetteredBeforeAnyWrite(t *testing.T) {
	q, s := newMemQueue(time.Minute), newMemStore()
	s.maxMsg = 100
	q.add(stampedBody("long", strings.Repeat("x", 101), time.Now()))
	w, m, _ := loggedWorker(t, q, s, nil)
	run(t, w)
	require.Len(t, q.dlq, 1)
	assert.Contains(t, q.reasons[0], "more than 100")
	assert.Equal(t, 0, s.puts)
	assert.Equal(t, 1.0, testutil.ToFloat64(m.Permanent))
}

// A second message under an id already processed, with other content, is not a
// redelivery: it is logged with both sides and counted as a conflict; the first
// result stays. A true redelivery stays a quiet duplicate.
func TestConflictingContentUnderAProcessedIDIsFlagged(t *testing.T) {
	q, s := newMemQueue(time.Minute), newMemStore()
	stamp := time.Now().Add(-time.Second)
	q.add(stampedBody("same", "first", stamp))
	w, m, logs := loggedWorker(t, q, s, func(c *Config) { c.Receivers = 1 })
	run(t, w)
	q.add(stampedBody("same", "first", stamp))  // a redelivery, as far as content goes
	q.add(stampedBody("same", "second", stamp)) // a different message with the same id
	run(t, w)

	assert.Equal(t, 1, s.count())
	assert.Equal(t, "first", s.rows["same"].Msg, "the stored result stays")
	assert.Equal(t, 1.0, testutil.ToFloat64(m.Duplicates))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.Conflicts))
	assert.Empty(t, q.dlq, "no replay could store it: not dead-lettered")
	assert.Equal(t, 0, q.remaining(), "deleted, as a duplicate is")
	text := logs.String()
	assert.Contains(t, text, `"msg":"conflicting message`)
	assert.Contains(t, text, `"level":"WARN"`)
	for _, field := range []string{`"queueMessageId":"qid-`, `"receiveCount":1`, `"msg":"second"`, `"storedMsg":"first"`,
		`"storedProcessedBy":"test-pod"`, `"storedReceiveCount":1`} {
		assert.Contains(t, text, field)
	}
}

// A srcStamp slightly ahead of the consumer's clock is skew between hosts: the
// result is stored with messageProcessingTime 0 and counted. Far ahead, the
// stamp is no clock at all: the message is dead-lettered as invalid.
func TestFutureSrcStamp(t *testing.T) {
	q, s := newMemQueue(time.Minute), newMemStore()
	q.add(stampedBody("skewed", "x", time.Now().Add(3*time.Second)))
	q.add(stampedBody("bogus", "x", time.Now().Add(24*time.Hour)))
	w, m, _ := loggedWorker(t, q, s, nil)
	run(t, w)

	require.Contains(t, s.rows, "skewed")
	assert.Equal(t, 0.0, s.rows["skewed"].ProcessingSeconds, "never negative")
	assert.Equal(t, 1.0, testutil.ToFloat64(m.FutureStamps))
	require.Len(t, q.dlq, 1)
	assert.Contains(t, string(q.dlq[0]), "bogus")
	assert.Contains(t, q.reasons[0], `"srcStamp"`)
	assert.Contains(t, q.reasons[0], "ahead of the consumer's clock")
	assert.Contains(t, q.reasons[0], message.ErrInvalid.Error())
}

// --exit-when-idle means "reached the queue and found it empty": a consumer that
// cannot reach its queue keeps trying instead of exiting 0 as if all were done.
func TestUnreachableQueueIsNotIdle(t *testing.T) {
	q, s := newMemQueue(time.Minute), newMemStore()
	q.mu.Lock()
	q.receiveErr = errors.New("dial tcp 127.0.0.1:1: connection refused")
	q.mu.Unlock()
	w, _, _ := loggedWorker(t, q, s, func(c *Config) { c.ExitWhenIdle = 200 * time.Millisecond })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	select {
	case <-done:
		t.Fatal("exited as idle although the queue never answered")
	case <-time.After(1500 * time.Millisecond):
	}
	q.mu.Lock()
	q.receiveErr = nil
	q.mu.Unlock()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("did not exit once the queue answered empty")
	}
}

// Shutdown cancels the long poll after pollGrace: an idle consumer stops within
// about a second, not after up to one Wait.
func TestShutdownCancelsTheLongPoll(t *testing.T) {
	q, s := newMemQueue(time.Minute), newMemStore()
	w, _, _ := loggedWorker(t, q, s, func(c *Config) { c.ExitWhenIdle = 0; c.Wait = 20 * time.Second })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	time.Sleep(200 * time.Millisecond) // every receiver is in its poll
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
		assert.Less(t, time.Since(start), pollGrace+500*time.Millisecond)
	case <-time.After(5 * time.Second):
		t.Fatal("Run waited out the long poll")
	}
}

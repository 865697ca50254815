package worker

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/workload/internal/queue"
	"github.com/edw-dev/edw/workload/internal/telemetry"
)

// stalledQueue is a queue whose receive never returns by itself: a hung
// connection, a deadlock in a client. Only cancelling it (shutdown) ends it.
type stalledQueue struct{ *memQueue }

func (q stalledQueue) Receive(ctx context.Context, _ int, _ time.Duration) ([]*queue.Message, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// healthz is the status /healthz answers now.
func healthz(h *telemetry.Health) int {
	rec := httptest.NewRecorder()
	telemetry.Handler(telemetry.NewMetrics(), h).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	return rec.Code
}

// runWatched runs a worker on q with wait and stall limit until stop is
// cancelled, and returns its health.
func runWatched(t *testing.T, q queue.Queue, wait, stallAfter time.Duration) (*telemetry.Health, context.CancelFunc, <-chan error) {
	t.Helper()
	h := &telemetry.Health{}
	w, err := New(q, newMemStore(), telemetry.NewMetrics(), h, telemetry.NewLogger(io.Discard, 0), Config{
		Receivers: 2, Wait: wait, MaxReceiveCount: 3, Visibility: 2 * time.Second, DrainTimeout: time.Second,
		ProcessedBy: "test-pod", StallAfter: stallAfter,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	return h, cancel, done
}

// A receive that never returns makes /healthz fail once it has run past the
// stall limit, so the kubelet restarts the pod and its messages go back to
// the queue; before that, and after shutdown starts, the pod is live.
func TestAStalledReceiveFailsLiveness(t *testing.T) {
	const wait, limit = 50 * time.Millisecond, 300 * time.Millisecond
	h, stop, done := runWatched(t, stalledQueue{newMemQueue(time.Second)}, wait, limit)
	assert.Equal(t, http.StatusOK, healthz(h), "live while the receive is younger than the limit")
	require.Eventually(t, func() bool { return healthz(h) == http.StatusServiceUnavailable }, 3*time.Second, 10*time.Millisecond,
		"a receive stuck past the limit is a stall")
	assert.ErrorContains(t, h.Live(), "stalled")

	stop()
	require.NoError(t, <-done)
	assert.Equal(t, http.StatusOK, healthz(h), "a stopping consumer drains; liveness must not cut it short")
}

// Empty long polls take the whole wait, every one of them: a limit just
// above the wait never trips on them.
func TestLongPollsAreNotStalls(t *testing.T) {
	const wait, limit = 200 * time.Millisecond, 300 * time.Millisecond
	h, stop, done := runWatched(t, newMemQueue(time.Second), wait, limit)
	defer func() { stop(); <-done }()
	assert.Never(t, func() bool { return healthz(h) != http.StatusOK }, 5*wait, 10*time.Millisecond,
		"an empty long poll of the full wait is an iteration like any other")
}

// The limit defaults to the wait plus slack for slow backend attempts, and
// one at or below the wait is refused: every empty long poll would trip it.
func TestTheStallLimitFollowsTheWait(t *testing.T) {
	assert.Equal(t, 110*time.Second, StallLimit(20*time.Second), "SQS's longest long poll plus three 30s attempt timeouts")
	good := Config{Receivers: 1, MaxReceiveCount: 1, Visibility: 2 * time.Second, Wait: 20 * time.Second}
	w, err := New(newMemQueue(time.Second), newMemStore(), telemetry.NewMetrics(), &telemetry.Health{}, telemetry.NewLogger(io.Discard, 0), good)
	require.NoError(t, err)
	assert.Equal(t, StallLimit(20*time.Second), w.cfg.StallAfter)

	bad := good
	bad.StallAfter = 20 * time.Second
	_, err = New(newMemQueue(time.Second), newMemStore(), telemetry.NewMetrics(), &telemetry.Health{}, telemetry.NewLogger(io.Discard, 0), bad)
	assert.ErrorContains(t, err, "stall limit 20s: want more than the long-poll wait 20s, or 0 for 1m50s")
}

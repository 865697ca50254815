package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func TestReadyOnlyOnceTheQueueAnswered(t *testing.T) {
	h := &Health{}
	handler := Handler(NewMetrics(), h)
	code, body := get(t, handler, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code, "not ready before the queue answered")
	assert.Contains(t, body, "queue not reachable yet")

	h.SetReady(true)
	code, body = get(t, handler, "/readyz")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ready\n", body)

	h.SetReady(false)
	code, _ = get(t, handler, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code, "not ready again once the queue stops answering")

	code, body = get(t, handler, "/healthz")
	assert.Equal(t, http.StatusOK, code, "live whatever the queue does")
	assert.Equal(t, "ok\n", body)
}

// An iteration that runs past the limit fails /healthz with a line saying
// which loop and for how long; a loop that ended, or shutdown, clears it.
func TestLivenessFailsOnlyOnAnIterationPastTheLimit(t *testing.T) {
	now := time.Unix(1000, 0)
	h := &Health{now: func() time.Time { return now }}
	handler := Handler(NewMetrics(), h)
	h.Begin(0)
	now = now.Add(time.Hour)
	code, _ := get(t, handler, "/healthz")
	assert.Equal(t, http.StatusOK, code, "nothing is watched before Watch")

	h.Watch(110 * time.Second)
	h.Begin(0)
	h.Begin(1)
	now = now.Add(110 * time.Second)
	code, _ = get(t, handler, "/healthz")
	assert.Equal(t, http.StatusOK, code, "the limit itself is allowed")
	h.Begin(1)
	now = now.Add(time.Second)
	code, body := get(t, handler, "/healthz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "receive loop 0 stalled: its iteration began 1m51s ago, limit 1m50s\n", body)

	h.End(0)
	code, _ = get(t, handler, "/healthz")
	assert.Equal(t, http.StatusOK, code, "a loop that returned is not stalled")
	now = now.Add(time.Hour)
	h.Stopping()
	code, _ = get(t, handler, "/healthz")
	assert.Equal(t, http.StatusOK, code, "draining after shutdown is bounded by its own timeout")
}

func TestMetricsAreServedByTheirContractNames(t *testing.T) {
	m := NewMetrics()
	m.Received.Add(7)
	m.Processed.Add(5)
	m.Duplicates.Inc()
	m.Poisoned.Add(2)
	m.Failed.Add(3)
	m.Latency.Observe(0.5)
	code, body := get(t, Handler(m, &Health{}), "/metrics")
	require.Equal(t, http.StatusOK, code)
	for _, line := range []string{
		"edw_consumer_messages_received_total 7",
		"edw_consumer_messages_processed_total 5",
		"edw_consumer_messages_duplicate_total 1",
		"edw_consumer_messages_poisoned_total 2",
		"edw_consumer_messages_failed_total 3",
		"edw_consumer_end_to_end_seconds_count 1",
		"edw_consumer_processing_seconds_count 0",
	} {
		assert.Contains(t, body, line+"\n")
	}
	assert.Contains(t, body, "go_goroutines", "Go runtime metrics")
	assert.Contains(t, body, "process_", "process metrics")

	got := m.Totals()
	assert.Equal(t, int64(7), got.Received)
	assert.Equal(t, int64(5), got.Processed)
	assert.Equal(t, int64(1), got.Duplicates)
	assert.Equal(t, int64(2), got.DeadLettered)
	assert.Equal(t, int64(3), got.Failed)
}

func TestServeAnswersUntilTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &lockedBuffer{}
	addr, err := Serve(ctx, "127.0.0.1:0", Handler(NewMetrics(), &Health{}), NewLogger(logs, slog.LevelInfo))
	require.NoError(t, err)
	url := "http://" + addr.String() + "/healthz"
	resp, err := http.Get(url)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "ok\n", string(body))

	cancel()
	require.Eventually(t, func() bool {
		_, err := http.Get(url)
		return err != nil
	}, 5*time.Second, 10*time.Millisecond, "the server stops with its context")
	// The serving goroutine returns just after the listener closes; what it logs
	// then would come within microseconds.
	assert.Never(t, func() bool { return logs.String() != "" }, 200*time.Millisecond, 10*time.Millisecond,
		"a shutdown is not an error: %s", logs.String())

	_, err = Serve(context.Background(), "127.0.0.1:-1", http.NotFoundHandler(), NewLogger(io.Discard, slog.LevelInfo))
	assert.ErrorContains(t, err, "listen on 127.0.0.1:-1")
}

func TestLoggerWritesJSONAtItsLevel(t *testing.T) {
	var out bytes.Buffer
	log := NewLogger(&out, slog.LevelWarn)
	log.Info("hidden")
	log.Warn("shown", "id", "m-1")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 1, "info is below warn")
	var rec map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &rec))
	assert.Equal(t, "shown", rec["msg"])
	assert.Equal(t, "WARN", rec["level"])
	assert.Equal(t, "m-1", rec["id"])
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRouteConsumerLabelsItsSeriesWithTheRoute: a route's consumer labels
// every edw_ series route=<route>, which the dashboards split by; the Go and
// process collectors stay unlabelled, and a single pipeline's consumer adds
// no route label at all (its series, and the dashboards' queries on them, stay
// as they were).
func TestRouteConsumerLabelsItsSeriesWithTheRoute(t *testing.T) {
	routeOf := func(m *Metrics) map[string][]string {
		m.Processed.Inc()
		m.Latency.Observe(0.1)
		families, err := m.Registry.Gather()
		require.NoError(t, err)
		got := map[string][]string{}
		for _, f := range families {
			for _, s := range f.GetMetric() {
				route := "(none)"
				for _, l := range s.GetLabel() {
					if l.GetName() == "route" {
						route = l.GetValue()
					}
				}
				got[f.GetName()] = append(got[f.GetName()], route)
			}
		}
		return got
	}
	routed := routeOf(NewRouteMetrics("orders"))
	plain := routeOf(NewMetrics())
	edw := 0
	for name, routes := range routed {
		want := "(none)"
		if strings.HasPrefix(name, "edw_") {
			want = "orders"
			edw++
		}
		for _, r := range routes {
			assert.Equal(t, want, r, name)
		}
		for _, r := range plain[name] {
			assert.Equal(t, "(none)", r, "%s of a single pipeline", name)
		}
	}
	assert.Equal(t, 12, edw, "every edw_ family: 11 of the consumer's and edw_build_info")
	m := NewRouteMetrics("orders")
	m.Processed.Add(3)
	assert.Equal(t, int64(3), m.Totals().Processed, "the totals read the labelled counters")
}

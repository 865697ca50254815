// Package telemetry is the consumer's Prometheus metrics, its health endpoints and
// its JSON logger.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/edw-dev/edw/workload/internal/version"
)

// Metrics are the consumer's counters and histograms, on their own registry.
type Metrics struct {
	Registry   *prometheus.Registry
	Received   prometheus.Counter
	Processed  prometheus.Counter
	Duplicates prometheus.Counter
	// Conflicts are messages whose id already holds a result with different
	// content: two messages sent with one id, not a redelivery.
	Conflicts prometheus.Counter
	Poisoned  prometheus.Counter
	// Permanent are messages dead-lettered at once because no retry could store
	// them (malformed, over the table's limits); Poisoned counts them too.
	Permanent prometheus.Counter
	Failed    prometheus.Counter
	// FutureStamps are results whose srcStamp lay ahead of this consumer's clock
	// (within message.MaxClockSkew): stored with messageProcessingTime 0.
	FutureStamps prometheus.Counter
	// InFlight is messages received and not yet deleted or left for redelivery:
	// the work a SIGTERM now would have to drain.
	InFlight prometheus.Gauge
	// Processing is seconds from receive to delete, per message.
	Processing prometheus.Histogram
	// Latency is seconds from srcStamp to the result write: end-to-end.
	Latency prometheus.Histogram
}

// NewMetrics registers the consumer's metrics on a new registry.
func NewMetrics() *Metrics { return NewRouteMetrics("") }

// NewRouteMetrics registers the consumer's metrics on a new registry, every
// edw_ series labelled route=<route> when the consumer serves a route. The
// consumer says which route it serves, rather than a scrape's relabelling
// guessing it from pod labels, so every scraper (managed Prometheus, the
// Prometheus Operator, annotation-based setups, the demo) sees the same
// series and the dashboards can split by route. Without a route the series
// carry no route label: a single pipeline's series stay as they were.
func NewRouteMetrics(route string) *Metrics {
	var labels prometheus.Labels
	if route != "" {
		labels = prometheus.Labels{"route": route}
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "edw", Subsystem: "consumer", Name: name, Help: help, ConstLabels: labels})
	}
	m := &Metrics{
		Registry:   prometheus.NewRegistry(),
		Received:   counter("messages_received_total", "Messages received from the work queue, redeliveries included."),
		Processed:  counter("messages_processed_total", "Messages whose result this consumer wrote."),
		Duplicates: counter("messages_duplicate_total", "Messages whose result an earlier delivery had already written."),
		Conflicts:  counter("messages_conflict_total", "Messages whose id already holds a result with different content; the stored result stays."),
		Poisoned:   counter("messages_poisoned_total", "Messages moved to the dead-letter or poison queue."),
		Permanent:  counter("messages_permanent_failure_total", "Messages dead-lettered at once because no retry could store them."),
		Failed:     counter("messages_failed_total", "Processing attempts that failed and were left for redelivery."),
		FutureStamps: counter("src_stamp_in_future_total",
			"Results whose srcStamp was ahead of the consumer's clock; stored with messageProcessingTime 0."),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "edw", Subsystem: "consumer", Name: "messages_in_flight",
			Help:        "Messages received and not yet deleted, dead-lettered or left for redelivery.",
			ConstLabels: labels,
		}),
		Processing: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "edw", Subsystem: "consumer", Name: "processing_seconds",
			Help:        "Seconds from receiving a message to deleting it.",
			Buckets:     prometheus.ExponentialBuckets(0.001, 2, 16),
			ConstLabels: labels,
		}),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "edw", Subsystem: "consumer", Name: "end_to_end_seconds",
			Help:        "Seconds from the message's srcStamp to its result being written.",
			Buckets:     prometheus.ExponentialBuckets(0.01, 2, 16),
			ConstLabels: labels,
		}),
	}
	// edw_build_info: which build each pod runs, 1 per pod (count by version
	// shows a rollout's progress), as Prometheus' own *_build_info do.
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "edw", Name: "build_info",
		Help: "Always 1; the labels name the consumer's build.", ConstLabels: labels}, []string{"version", "revision", "goversion"})
	v, rev := version.Get()
	build.WithLabelValues(v, rev, runtime.Version()).Set(1)
	m.Registry.MustRegister(build)
	m.Registry.MustRegister(m.Received, m.Processed, m.Duplicates, m.Conflicts, m.Poisoned, m.Permanent, m.Failed, m.FutureStamps,
		m.InFlight, m.Processing, m.Latency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Totals are the counters at one moment: the consumer prints them as its last
// line, so whoever ran it counts exactly what it did, drain included.
type Totals struct {
	Received     int64 `json:"received"`
	Processed    int64 `json:"processed"`
	Duplicates   int64 `json:"duplicates"`
	Conflicts    int64 `json:"conflicts"`
	DeadLettered int64 `json:"deadLettered"`
	Failed       int64 `json:"failed"`
}

// Totals reads the counters.
func (m *Metrics) Totals() Totals {
	return Totals{
		Received: value(m.Received), Processed: value(m.Processed), Duplicates: value(m.Duplicates),
		Conflicts: value(m.Conflicts), DeadLettered: value(m.Poisoned), Failed: value(m.Failed),
	}
}

func value(c prometheus.Counter) int64 {
	var d dto.Metric
	if err := c.Write(&d); err != nil {
		return 0
	}
	return int64(d.GetCounter().GetValue())
}

// Health is liveness and readiness: ready once the queue has answered and
// while it keeps answering; live unless a receive loop has stalled, that is
// spent longer than the stall limit in one iteration. A consumer stuck so
// holds its messages (their visibility extended) and receives nothing, and
// only a restart frees them; a queue that cannot be reached is not a stall
// (every failed receive ends an iteration), so an outage costs readiness,
// never a restart loop. The zero value is ready for nothing and always live.
type Health struct {
	ready atomic.Bool

	mu sync.Mutex
	// limit is the stall limit, zero until Watch.
	limit time.Duration
	// began holds, per running receive loop, when its iteration began.
	began    map[int]time.Time
	stopping bool
	now      func() time.Time
}

// SetReady records whether the last queue call succeeded.
func (h *Health) SetReady(ok bool) { h.ready.Store(ok) }

// Ready reports readiness.
func (h *Health) Ready() bool { return h.ready.Load() }

// Watch starts the liveness check with limit, the longest one receive loop
// iteration may take.
func (h *Health) Watch(limit time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.limit, h.began, h.stopping = limit, map[int]time.Time{}, false
}

// Begin records that receive loop `loop` began an iteration (and so ended
// the one before).
func (h *Health) Begin(loop int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.began != nil {
		h.began[loop] = h.clock()
	}
}

// End records that a receive loop returned: it no longer counts.
func (h *Health) End(loop int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.began, loop)
}

// Stopping records that shutdown began: the drain that follows is bounded by
// its own timeout and the pod's grace period, and a liveness failure then
// would only cut it short.
func (h *Health) Stopping() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopping = true
}

// Live returns an error naming a receive loop whose iteration has run past
// the limit, if there is one.
func (h *Health) Live() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.limit <= 0 || h.stopping {
		return nil
	}
	now := h.clock()
	for loop, began := range h.began {
		if took := now.Sub(began); took > h.limit {
			return fmt.Errorf("receive loop %d stalled: its iteration began %s ago, limit %s", loop, took.Round(time.Second), h.limit)
		}
	}
	return nil
}

func (h *Health) clock() time.Time {
	if h.now != nil {
		return h.now()
	}
	return time.Now()
}

// Handler serves /metrics, /healthz and /readyz.
func Handler(m *Metrics, h *Health) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if err := h.Live(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !h.Ready() {
			http.Error(w, "queue not reachable yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	return mux
}

// Serve listens on addr until ctx ends. It returns the bound address at once
// (useful with ":0") and serves in the background.
func Serve(ctx context.Context, addr string, handler http.Handler, log *slog.Logger) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	return ln.Addr(), nil
}

// NewLogger is a JSON slog logger.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

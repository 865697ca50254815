// Command consumer receives work messages, records a result for each in the table
// and deletes them; KEDA scales it on the queue's length. See DESIGN's workload
// contract for its environment.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/edw-dev/edw/workload/internal/backend"
	"github.com/edw-dev/edw/workload/internal/telemetry"
	"github.com/edw-dev/edw/workload/internal/worker"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "consumer:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		maxReceive   = flag.Int("max-receive-count", 5, "receives after which a failing message goes to the dead-letter / poison queue")
		metricsAddr  = flag.String("metrics-addr", ":9090", "address serving /metrics, /healthz and /readyz")
		exitIdle     = flag.Duration("exit-when-idle", 0, "exit 0 once the queue has been empty this long (0 = never)")
		receivers    = flag.Int("receivers", 4, "concurrent receive loops; each processes its batch concurrently")
		visibility   = flag.Duration("visibility-timeout", 60*time.Second, "the queue's visibility timeout; in-flight messages are extended every half of it")
		drainTimeout = flag.Duration("drain-timeout", 25*time.Second, "how long in-flight work may finish after SIGTERM")
		wait         = flag.Duration("wait", 20*time.Second, "long-poll wait of one receive")
		debug        = flag.Bool("debug", false, "log at debug level")
	)
	flag.Parse()
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := telemetry.NewLogger(os.Stderr, level)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	env := backend.FromEnv(os.Getenv)
	b, err := backend.Open(ctx, env, true, *visibility)
	if err != nil {
		return err
	}
	metrics, health := telemetry.NewMetrics(), &telemetry.Health{}
	// The metrics server outlives the receive loop so the last scrape sees the drain.
	serveCtx, stopServe := context.WithCancel(context.Background())
	defer stopServe()
	addr, err := telemetry.Serve(serveCtx, *metricsAddr, telemetry.Handler(metrics, health), log)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	w, err := worker.New(b.Queue, b.Store, metrics, health, log, worker.Config{
		Receivers:       *receivers,
		Wait:            *wait,
		MaxReceiveCount: *maxReceive,
		Visibility:      *visibility,
		DrainTimeout:    *drainTimeout,
		ExitWhenIdle:    *exitIdle,
		ProcessedBy:     host,
	})
	if err != nil {
		return err
	}
	log.Info("consumer started", "cloud", env.Cloud, "metrics", addr.String(), "receivers", *receivers, "maxReceiveCount", *maxReceive)
	return w.Run(ctx)
}

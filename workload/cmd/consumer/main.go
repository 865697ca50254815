// Command consumer receives work messages, records a result for each in the table
// and deletes them; KEDA scales it on the queue's length. Its environment is the
// workload contract (README.md, "The workload"; --help lists it).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"syscall"
	"time"

	"github.com/edw-dev/edw/workload/internal/backend"
	"github.com/edw-dev/edw/workload/internal/telemetry"
	"github.com/edw-dev/edw/workload/internal/version"
	"github.com/edw-dev/edw/workload/internal/worker"
)

// checkTimeout bounds the start-up check; each backend retries it only briefly.
const checkTimeout = 30 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run returns the exit code: 0 done, 1 failed, 2 bad flags or environment.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if version.Requested(args) {
		fmt.Fprintln(stdout, version.String("consumer"))
		return 0
	}
	cfg, err := parseFlags(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "consumer: %v\n(consumer --help lists the flags and the environment)\n", err)
		return 2
	}
	env := backend.FromEnv(getenv)
	err = env.Validate(true)
	if rerr := routeProblem(getenv("EDW_ROUTE")); rerr != nil {
		err = errors.Join(err, rerr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "consumer: %v\n(consumer --help lists the environment)\n", err)
		return 2
	}
	cfg.route = getenv("EDW_ROUTE")
	if err := consume(cfg, env, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "consumer:", err)
		return 1
	}
	return 0
}

func consume(cfg config, env backend.Env, stdout, stderr io.Writer) error {
	level := slog.LevelInfo
	if cfg.debug {
		level = slog.LevelDebug
	}
	log := telemetry.NewLogger(stderr, level)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	b, err := backend.Open(ctx, env, true, cfg.visibility)
	if err != nil {
		return err
	}
	metrics, health := telemetry.NewRouteMetrics(cfg.route), &telemetry.Health{}
	// The metrics server outlives the receive loop so the last scrape sees the drain.
	serveCtx, stopServe := context.WithCancel(context.Background())
	defer stopServe()
	addr, err := telemetry.Serve(serveCtx, cfg.metricsAddr, telemetry.Handler(metrics, health), log)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	w, err := worker.New(b.Queue, b.Store, metrics, health, log, worker.Config{
		Receivers:       cfg.receivers,
		Wait:            cfg.wait,
		MaxReceiveCount: cfg.maxReceive,
		Visibility:      cfg.visibility,
		DrainTimeout:    cfg.drainTimeout,
		ExitWhenIdle:    cfg.exitIdle,
		ProcessedBy:     host,
		Route:           cfg.route,
		StallAfter:      cfg.stallAfter,
	})
	if err != nil {
		return err
	}

	// Reach the queue and the table before anything else: a consumer that cannot
	// must say so and fail, not look idle.
	checkCtx, cancel := context.WithTimeout(ctx, checkTimeout)
	err = b.Check(checkCtx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped during the check: nothing was received
		}
		return err
	}
	// The queue answered: ready now, not after the first long poll returns.
	health.SetReady(true)
	log.Info("consumer started", "cloud", env.Cloud, "route", cfg.route, "metrics", addr.String(), "receivers", cfg.receivers, "maxReceiveCount", cfg.maxReceive)

	err = w.Run(ctx)
	// The totals, drain included, for whoever ran the consumer (the demo sums them).
	_ = json.NewEncoder(stdout).Encode(metrics.Totals())
	return err
}

// dnsLabel is a route's name as the stack allows it (edw:routes): it names the
// route's Deployment, so it is a DNS label.
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// routeProblem checks EDW_ROUTE, which prefixes every result id.
func routeProblem(route string) error {
	if route == "" || dnsLabel.MatchString(route) {
		return nil
	}
	return fmt.Errorf("EDW_ROUTE=%q: want the route's name, a DNS label (1-63 lowercase letters, digits and '-', starting and ending with a letter or digit)", route)
}

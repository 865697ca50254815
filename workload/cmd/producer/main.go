// Command producer sends work messages: --count of them (or until stopped) at
// --rate per second, to the work queue or (--via router) as events to the
// stack's router, with progress on stderr and a one-line JSON summary on
// stdout. Its environment is the workload contract (README.md, "The workload";
// --help lists it).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/edw-dev/edw/workload/internal/backend"
	"github.com/edw-dev/edw/workload/internal/producer"
	"github.com/edw-dev/edw/workload/internal/router"
	"github.com/edw-dev/edw/workload/internal/version"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run returns the exit code: 0 all sent, 1 a send failed, 2 bad flags or environment.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if version.Requested(args) {
		fmt.Fprintln(stdout, version.String("producer"))
		return 0
	}
	cfg, err := parseFlags(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "producer: %v\n(producer --help lists the flags and the environment)\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	to, code := open(ctx, cfg, getenv, stderr)
	if to == nil {
		return code
	}
	var progress func(producer.Summary)
	if !cfg.quiet {
		progress = func(s producer.Summary) {
			fmt.Fprintf(stderr, "sent %d failed %d in %.1fs (%.0f msg/s)\n", s.Sent, s.Failed, s.Seconds, s.Rate)
		}
	}
	sum := producer.Run(ctx, to, producer.Config{
		Count: cfg.count, Rate: cfg.rate, Concurrency: cfg.concurrency, Msg: cfg.msg,
		Progress: progress, ProgressEvery: time.Second, MaxConsecutiveFailures: cfg.maxFailures,
		OnFirstError: func(err error) {
			fmt.Fprintf(stderr, "producer: send failed: %v (giving up after %d failed sends in a row)\n", err, cfg.maxFailures)
		},
	})
	_ = json.NewEncoder(stdout).Encode(sum)
	switch {
	case sum.GaveUp:
		fmt.Fprintf(stderr, "producer: gave up after %d failed sends in a row; %d of %d messages failed; first error: %s\n",
			cfg.maxFailures, sum.Failed, sum.Sent+sum.Failed, sum.FirstError)
		return 1
	case sum.FirstError != "":
		fmt.Fprintf(stderr, "producer: %d of %d messages failed; first error: %s (and %d more failed sends)\n",
			sum.Failed, sum.Sent+sum.Failed, sum.FirstError, sum.FailedSends-1)
		return 1
	case sum.Failed > 0:
		// Cut short by a signal: those messages were never sent.
		return 1
	}
	return 0
}

// sendAttempts: a producer is run by hand or as a Job, so a send failing for
// good is better reported within seconds than ridden out like the consumer does.
const sendAttempts = 3

// open returns where the messages go, the queue or the router (--via), or nil
// and the exit code, having said why on stderr.
func open(ctx context.Context, cfg config, getenv func(string) string, stderr io.Writer) (producer.Sender, int) {
	if cfg.via == "router" {
		env := router.FromEnv(getenv)
		if err := env.Validate(); err != nil {
			fmt.Fprintf(stderr, "producer: %v\n(producer --help lists the environment)\n", err)
			return nil, 2
		}
		p, err := router.Open(ctx, env, cfg.source, cfg.typ, sendAttempts, backend.DefaultAttemptTimeout)
		if err != nil {
			fmt.Fprintln(stderr, "producer:", err)
			return nil, 1
		}
		return p, 0
	}
	env := backend.FromEnv(getenv)
	env.Attempts = sendAttempts
	if err := env.Validate(false); err != nil {
		fmt.Fprintf(stderr, "producer: %v\n(producer --help lists the environment)\n", err)
		return nil, 2
	}
	b, err := backend.Open(ctx, env, false, 0)
	if err != nil {
		fmt.Fprintln(stderr, "producer:", err)
		return nil, 1
	}
	return b.Queue, 0
}

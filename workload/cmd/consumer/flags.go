package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/edw-dev/edw/workload/internal/backend"
)

// config is the consumer's flags, each checked by parseFlags.
type config struct {
	maxReceive   int
	metricsAddr  string
	exitIdle     time.Duration
	receivers    int
	visibility   time.Duration
	drainTimeout time.Duration
	wait         time.Duration
	stallAfter   time.Duration
	debug        bool
	// route is EDW_ROUTE, from the environment.
	route string
}

// Limits the flags are checked against.
const (
	maxLongPoll      = 20 * time.Second // SQS's longest ReceiveMessage wait
	maxVisibility    = 12 * time.Hour   // SQS's longest visibility timeout (Azure allows 7 days)
	maxReceiveLimit  = 1000             // SQS redrive's largest maxReceiveCount
	maxReceiverLoops = 100
)

// parseFlags reads args and checks every flag, naming each bad one with its
// value and what is allowed. --help prints the flags and the environment and
// returns flag.ErrHelp.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("consumer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.maxReceive, "max-receive-count", 5, "receives after which a failing message goes to the dead-letter / poison queue (1-1000)")
	fs.StringVar(&c.metricsAddr, "metrics-addr", ":9090", "address serving /metrics, /healthz and /readyz (host:port; port 0 picks one)")
	fs.DurationVar(&c.exitIdle, "exit-when-idle", 0, "exit 0 once the queue has answered empty for this long (0 = never)")
	fs.IntVar(&c.receivers, "receivers", 4, "concurrent receive loops; each processes its batch concurrently (1-100)")
	fs.DurationVar(&c.visibility, "visibility-timeout", 60*time.Second, "the queue's visibility timeout, whole seconds from 2s to 12h; in-flight messages are extended every half of it")
	fs.DurationVar(&c.drainTimeout, "drain-timeout", 25*time.Second, "how long in-flight work may finish after SIGTERM (more than 0)")
	fs.DurationVar(&c.wait, "wait", 20*time.Second, "long-poll wait of one receive, 0s to 20s (SQS's limit)")
	fs.DurationVar(&c.stallAfter, "stall-after", 0, "/healthz fails once one receive loop iteration has run this long; more than --wait (0 = --wait plus 90s)")
	fs.BoolVar(&c.debug, "debug", false, "log at debug level")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: consumer [flags]\n\n"+
			"Receives work messages, records a result for each in the table and deletes it;\n"+
			"prints its totals as one JSON line on stdout when it exits.\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), "\n"+backend.EnvHelp(true))
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var errs []error
	bad := func(name string, value any, want string) {
		errs = append(errs, fmt.Errorf("--%s %v: want %s", name, value, want))
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected argument %q: the consumer takes only flags", fs.Arg(0)))
	}
	if c.maxReceive < 1 || c.maxReceive > maxReceiveLimit {
		bad("max-receive-count", c.maxReceive, "1 to 1000")
	}
	if _, port, err := net.SplitHostPort(c.metricsAddr); err != nil {
		bad("metrics-addr", strconv.Quote(c.metricsAddr), "host:port, e.g. :9090 or 127.0.0.1:0")
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		bad("metrics-addr", strconv.Quote(c.metricsAddr), "a port from 0 to 65535")
	}
	if c.exitIdle < 0 {
		bad("exit-when-idle", c.exitIdle, "0 (never) or more")
	}
	if c.receivers < 1 || c.receivers > maxReceiverLoops {
		bad("receivers", c.receivers, "1 to 100")
	}
	if c.visibility < 2*time.Second || c.visibility > maxVisibility || c.visibility%time.Second != 0 {
		bad("visibility-timeout", c.visibility, "whole seconds from 2s to 12h")
	}
	if c.drainTimeout <= 0 {
		bad("drain-timeout", c.drainTimeout, "more than 0")
	}
	if c.wait < 0 || c.wait > maxLongPoll {
		bad("wait", c.wait, "0s to 20s (SQS's long-poll limit)")
	}
	// An empty long poll takes the whole wait: a limit at or below it would
	// fail every idle consumer's liveness probe.
	if c.stallAfter < 0 || (c.stallAfter > 0 && c.stallAfter <= c.wait) {
		bad("stall-after", c.stallAfter, "0 (the wait plus 90s) or more than --wait")
	}
	return c, errors.Join(errs...)
}

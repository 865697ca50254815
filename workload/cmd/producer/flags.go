package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/edw-dev/edw/workload/internal/backend"
	"github.com/edw-dev/edw/workload/internal/producer"
	"github.com/edw-dev/edw/workload/internal/router"
)

// config is the producer's flags, each checked by parseFlags.
type config struct {
	count, concurrency, maxFailures int
	rate                            float64
	msg                             string
	quiet                           bool
	// via is "queue" (send to the work queue) or "router" (publish events to
	// the stack's router, with source and typ).
	via, source, typ string
}

// parseFlags reads args and checks every flag, naming each bad one with its
// value and what is allowed. --help prints the flags and the environment and
// returns flag.ErrHelp.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("producer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.count, "count", 1000, "messages to send; 0 sends until stopped")
	fs.Float64Var(&c.rate, "rate", 0, "messages per second; 0 sends as fast as the queue accepts")
	fs.IntVar(&c.concurrency, "concurrency", 4, "batches in flight at once (1-64)")
	fs.IntVar(&c.maxFailures, "max-failures", producer.DefaultMaxConsecutiveFailures, "give up after this many failed sends in a row (at least 1)")
	fs.StringVar(&c.msg, "msg", "edw work item", "text of each message's msg field, followed by its number")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress on stderr")
	fs.StringVar(&c.via, "via", "queue", "queue (send to the work queue) or router (publish events to the stack's router: EventBridge or Event Grid)")
	fs.StringVar(&c.source, "source", "edw.producer", "with --via router: every event's source")
	fs.StringVar(&c.typ, "type", "edw.work", "with --via router: every event's type (EventBridge detail-type)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: producer [flags]\n\n"+
			"Sends work messages, with progress on stderr and a one-line JSON summary on stdout;\n"+
			"exits 1 if any send failed, printing the first error.\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), "\n"+backend.EnvHelp(false)+router.EnvHelp)
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var errs []error
	bad := func(name string, value any, want string) {
		errs = append(errs, fmt.Errorf("--%s %v: want %s", name, value, want))
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected argument %q: the producer takes only flags", fs.Arg(0)))
	}
	if c.count < 0 {
		bad("count", c.count, "0 (until stopped) or more")
	}
	if c.rate < 0 || math.IsNaN(c.rate) || math.IsInf(c.rate, 0) {
		bad("rate", c.rate, "0 (unlimited) or more messages per second")
	}
	if c.concurrency < 1 || c.concurrency > 64 {
		bad("concurrency", c.concurrency, "1 to 64")
	}
	if c.maxFailures < 1 {
		bad("max-failures", c.maxFailures, "at least 1")
	}
	switch c.via {
	case "queue":
		// An event's source and type mean nothing on the queue: asking for
		// them there is a mistake worth naming.
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "source" || f.Name == "type" {
				bad(f.Name, strconv.Quote(f.Value.String()), "--via router (the work queue carries no source or type)")
			}
		})
	case "router":
		// Both routers filter on exact values; an empty one matches no route.
		if strings.TrimSpace(c.source) == "" {
			bad("source", strconv.Quote(c.source), "a non-empty event source, e.g. edw.producer")
		}
		if strings.TrimSpace(c.typ) == "" {
			bad("type", strconv.Quote(c.typ), "a non-empty event type, e.g. edw.work")
		}
	default:
		bad("via", strconv.Quote(c.via), "queue or router")
	}
	return c, errors.Join(errs...)
}

// Command producer sends work messages: --count of them (or until stopped) at
// --rate per second, with progress on stderr and a one-line JSON summary on stdout.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/edw-dev/edw/workload/internal/backend"
	"github.com/edw-dev/edw/workload/internal/producer"
)

func main() {
	sum, err := run()
	if sum != nil {
		_ = json.NewEncoder(os.Stdout).Encode(sum)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "producer:", err)
		os.Exit(1)
	}
	if sum != nil && sum.Failed > 0 {
		os.Exit(1)
	}
}

func run() (*producer.Summary, error) {
	var (
		count       = flag.Int("count", 1000, "messages to send; 0 sends until stopped")
		rate        = flag.Float64("rate", 0, "messages per second; 0 sends as fast as the queue accepts")
		concurrency = flag.Int("concurrency", 4, "batches in flight at once")
		prefix      = flag.String("msg", "edw work item", "text of each message's msg field, followed by its number")
		quiet       = flag.Bool("quiet", false, "no progress on stderr")
	)
	flag.Parse()
	if *count < 0 || *rate < 0 || *concurrency < 1 {
		return nil, fmt.Errorf("--count and --rate must not be negative and --concurrency at least 1")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	b, err := backend.Open(ctx, backend.FromEnv(os.Getenv), false, 0)
	if err != nil {
		return nil, err
	}
	var progress func(producer.Summary)
	if !*quiet {
		progress = func(s producer.Summary) {
			fmt.Fprintf(os.Stderr, "sent %d failed %d in %.1fs (%.0f msg/s)\n", s.Sent, s.Failed, s.Seconds, s.Rate)
		}
	}
	sum := producer.Run(ctx, b.Queue, producer.Config{
		Count: *count, Rate: *rate, Concurrency: *concurrency, Msg: *prefix, Progress: progress, ProgressEvery: time.Second,
	})
	return &sum, nil
}

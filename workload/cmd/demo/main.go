// Command demo runs the whole event flow on one machine with no cloud account:
// it creates a queue and table on local emulators, runs the producer, and starts
// and stops consumer processes by KEDA's own scaling rule with the numbers from
// the stack config, printing backlog, replicas, throughput and end-to-end latency
// every second. scripts/demo.sh starts the emulators and runs it.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/edw-dev/edw/workload/internal/autoscale"
	"github.com/edw-dev/edw/workload/internal/backend"
	"github.com/edw-dev/edw/workload/internal/emulator"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type options struct {
	project, stack       string
	consumer, producer   string
	messages             int
	rate                 float64
	polling, cooldown    time.Duration
	maxDuration          time.Duration
	sqs, dynamodb, azure string
}

func run() error {
	var o options
	flag.StringVar(&o.project, "project", "Pulumi.yaml", "Pulumi project file with the config defaults")
	flag.StringVar(&o.stack, "stack", "Pulumi.aws.yaml", "stack config file whose values override the defaults")
	flag.StringVar(&o.consumer, "consumer", "consumer", "consumer binary")
	flag.StringVar(&o.producer, "producer", "producer", "producer binary")
	flag.IntVar(&o.messages, "messages", 0, "messages to send (0 = edw:producerMessageCount)")
	flag.Float64Var(&o.rate, "rate", -1, "messages per second (-1 = edw:producerRate)")
	flag.DurationVar(&o.polling, "polling", 0, "override edw:pollingIntervalSeconds")
	flag.DurationVar(&o.cooldown, "cooldown", -1, "override edw:cooldownSeconds")
	flag.DurationVar(&o.maxDuration, "max-duration", 15*time.Minute, "stop after this long")
	flag.StringVar(&o.sqs, "sqs-endpoint", "", "SQS emulator (aws stack)")
	flag.StringVar(&o.dynamodb, "dynamodb-endpoint", "", "DynamoDB emulator (aws stack)")
	flag.StringVar(&o.azure, "azurite", "", "Azurite connection string (azure stack)")
	flag.Parse()

	cfg, err := loadStackConfig(o.project, o.stack)
	if err != nil {
		return err
	}
	if o.messages == 0 {
		o.messages = cfg.int("producerMessageCount")
	}
	if o.rate < 0 {
		o.rate = float64(cfg.int("producerRate"))
	}
	polling := time.Duration(cfg.int("pollingIntervalSeconds")) * time.Second
	if o.polling > 0 {
		polling = o.polling
	}
	cooldown := time.Duration(cfg.int("cooldownSeconds")) * time.Second
	if o.cooldown >= 0 {
		cooldown = o.cooldown
	}
	rule := autoscale.Rule{
		MinReplicas: cfg.int("consumerMinReplicas"), MaxReplicas: cfg.int("consumerMaxReplicas"),
		Target: cfg.int("messagesPerPod"), Activation: cfg.int("activationQueueLength"), Cooldown: cooldown,
	}
	visibility := cfg.int("visibilityTimeoutSeconds")
	maxReceive := cfg.int("maxReceiveCount")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	name := fmt.Sprintf("edw-demo-%d", time.Now().Unix())
	var env []string
	switch cfg.str("cloud") {
	case "aws":
		env, err = emulator.AWS(ctx, o.sqs, o.dynamodb, name, visibility, maxReceive)
	case "azure":
		env, err = emulator.Azure(ctx, o.azure, name)
	default:
		err = fmt.Errorf("stack %s: edw:cloud %q", o.stack, cfg.str("cloud"))
	}
	if err != nil {
		return err
	}
	envMap := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		envMap[k] = v
	}
	for k, v := range envMap {
		if strings.HasPrefix(k, "AWS_") {
			os.Setenv(k, v)
		}
	}
	be, err := backend.Open(ctx, backend.FromEnv(func(k string) string { return envMap[k] }), false, time.Minute)
	if err != nil {
		return err
	}

	fmt.Printf("edw demo: %s stack rules — %d..%d consumers, %d messages per consumer, activation above %d, polling %s, cooldown %s\n",
		cfg.str("cloud"), rule.MinReplicas, rule.MaxReplicas, rule.Target, rule.Activation, polling, cooldown)
	fmt.Printf("sending %d messages at %s\n", o.messages, rateText(o.rate))

	producer := exec.CommandContext(ctx, o.producer, "--quiet", "--count="+strconv.Itoa(o.messages), "--rate="+strconv.FormatFloat(o.rate, 'f', -1, 64))
	producer.Env = append(os.Environ(), env...)
	producer.Stderr = os.Stderr
	if err := producer.Start(); err != nil {
		return fmt.Errorf("start producer: %w", err)
	}
	producerDone := make(chan error, 1)
	go func() { producerDone <- producer.Wait() }()

	pool := &pool{binary: o.consumer, env: env, args: []string{"--max-receive-count=" + strconv.Itoa(maxReceive),
		fmt.Sprintf("--visibility-timeout=%ds", visibility), "--wait=1s"}}
	defer pool.stopAll()
	scaler := &autoscale.Scaler{Rule: rule}

	start, lastPoll := time.Now(), time.Time{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var (
		produced   bool
		maxSeen    int
		lastTotal  float64
		peakRate   float64
		desired    int
		lastBacklg int
	)
	for {
		select {
		case <-ctx.Done():
			return summary(ctx, envMap, o.messages, pool, start, maxSeen, peakRate, "interrupted")
		case err := <-producerDone:
			if err != nil {
				return fmt.Errorf("producer: %w", err)
			}
			produced = true
			producerDone = nil
		case now := <-tick.C:
			backlog, err := be.Queue.Len(ctx)
			if err != nil {
				fmt.Fprintln(os.Stderr, "read backlog:", err)
				continue
			}
			lastBacklg = backlog
			if lastPoll.IsZero() || now.Sub(lastPoll) >= polling {
				lastPoll = now
				desired = scaler.Desired(now, backlog, pool.size())
				pool.scaleTo(desired)
			}
			maxSeen = max(maxSeen, pool.size())
			stats := pool.scrape()
			rate := stats.processed - lastTotal
			lastTotal = stats.processed
			peakRate = math.Max(peakRate, rate)
			fmt.Printf("t=%4.0fs backlog=%6d replicas=%2d (desired %2d) processed=%7.0f %6.0f msg/s  p50=%s p95=%s\n",
				now.Sub(start).Seconds(), backlog, pool.size(), desired, stats.processed, rate,
				seconds(stats.quantile(0.5)), seconds(stats.quantile(0.95)))
			if produced && lastBacklg == 0 && pool.size() == 0 {
				return summary(ctx, envMap, o.messages, pool, start, maxSeen, peakRate, "drained and scaled to zero")
			}
			if now.Sub(start) > o.maxDuration {
				return summary(ctx, envMap, o.messages, pool, start, maxSeen, peakRate, "max duration reached")
			}
		}
	}
}

func rateText(r float64) string {
	if r == 0 {
		return "full speed"
	}
	return fmt.Sprintf("%.0f msg/s", r)
}

func seconds(s float64) string {
	if math.IsNaN(s) {
		return "   -  "
	}
	return fmt.Sprintf("%5.2fs", s)
}

func summary(ctx context.Context, env map[string]string, sent int, p *pool, start time.Time, maxReplicas int, peak float64, why string) error {
	p.stopAll()
	s := p.scrape()
	rows, err := emulator.CountRows(context.WithoutCancel(ctx), env)
	if err != nil {
		return fmt.Errorf("count results: %w", err)
	}
	fmt.Printf("\n%d messages sent, %d result rows in the table", sent, rows)
	elapsed := time.Since(start).Seconds()
	fmt.Printf("\nsummary (%s): %.0f processed, %.0f duplicates, %.0f dead-lettered in %.0fs; peak %d consumers, peak %.0f msg/s; end-to-end p50 %s p95 %s\n",
		why, s.processed, s.duplicates, s.poisoned, elapsed, maxReplicas, peak, seconds(s.quantile(0.5)), seconds(s.quantile(0.95)))
	return nil
}

// pool is the consumer processes, newest last.
type pool struct {
	binary string
	env    []string
	args   []string
	procs  []*proc
	// retired keeps the last scrape of stopped consumers so totals never go back.
	retired stats
}

type proc struct {
	cmd  *exec.Cmd
	addr string
	last stats
	done chan struct{}
}

func (p *pool) size() int { return len(p.procs) }

func (p *pool) scaleTo(n int) {
	for len(p.procs) < n {
		addr, err := freeAddr()
		if err != nil {
			fmt.Fprintln(os.Stderr, "consumer port:", err)
			return
		}
		cmd := exec.Command(p.binary, append([]string{"--metrics-addr=" + addr}, p.args...)...)
		cmd.Env = append(os.Environ(), p.env...)
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "start consumer:", err)
			return
		}
		pr := &proc{cmd: cmd, addr: addr, done: make(chan struct{})}
		go func() { _ = cmd.Wait(); close(pr.done) }()
		p.procs = append(p.procs, pr)
	}
	if len(p.procs) > n {
		extra := p.procs[n:]
		p.procs = p.procs[:n]
		p.retire(extra)
	}
}

// retire stops consumers as Kubernetes does on scale-down: SIGTERM, then let them
// drain, reading their metrics until they exit so the drained work is counted.
func (p *pool) retire(procs []*proc) {
	for _, pr := range procs {
		_ = pr.cmd.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.After(40 * time.Second)
	for _, pr := range procs {
	wait:
		for {
			if s, err := scrapeOne(pr.addr); err == nil {
				pr.last = s
			}
			select {
			case <-pr.done:
				break wait
			case <-deadline:
				_ = pr.cmd.Process.Kill()
				<-pr.done
				break wait
			case <-time.After(50 * time.Millisecond):
			}
		}
		p.retired.add(pr.last)
	}
}

func (p *pool) stopAll() { p.scaleTo(0) }

func (p *pool) scrape() stats {
	total := stats{buckets: map[float64]float64{}}
	total.add(p.retired)
	for _, pr := range p.procs {
		if s, err := scrapeOne(pr.addr); err == nil {
			pr.last = s
		}
		total.add(pr.last)
	}
	return total
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// stats are the consumer counters and the end-to-end latency histogram.
type stats struct {
	processed, duplicates, poisoned float64
	buckets                         map[float64]float64 // upper bound → cumulative count
	count                           float64
}

func (s *stats) add(o stats) {
	if s.buckets == nil {
		s.buckets = map[float64]float64{}
	}
	s.processed += o.processed
	s.duplicates += o.duplicates
	s.poisoned += o.poisoned
	s.count += o.count
	for le, c := range o.buckets {
		s.buckets[le] += c
	}
}

// quantile interpolates within the histogram's buckets, as PromQL's
// histogram_quantile does.
func (s stats) quantile(q float64) float64 {
	if s.count == 0 {
		return math.NaN()
	}
	bounds := make([]float64, 0, len(s.buckets))
	for le := range s.buckets {
		bounds = append(bounds, le)
	}
	sort.Float64s(bounds)
	rank := q * s.count
	prevBound, prevCount := 0.0, 0.0
	for _, le := range bounds {
		c := s.buckets[le]
		if c >= rank {
			if math.IsInf(le, 1) {
				return prevBound
			}
			if c == prevCount {
				return le
			}
			return prevBound + (le-prevBound)*(rank-prevCount)/(c-prevCount)
		}
		prevBound, prevCount = le, c
	}
	return prevBound
}

var client = &http.Client{Timeout: 500 * time.Millisecond}

// scrapeOne reads a consumer's /metrics in the Prometheus text format.
func scrapeOne(addr string) (stats, error) {
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		return stats{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return stats{}, errors.New(resp.Status)
	}
	s := stats{buckets: map[float64]float64{}}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		switch {
		case name == "edw_consumer_messages_processed_total":
			s.processed = v
		case name == "edw_consumer_messages_duplicate_total":
			s.duplicates = v
		case name == "edw_consumer_messages_poisoned_total":
			s.poisoned = v
		case name == "edw_consumer_end_to_end_seconds_count":
			s.count = v
		case strings.HasPrefix(name, `edw_consumer_end_to_end_seconds_bucket{le="`):
			raw := strings.TrimSuffix(strings.TrimPrefix(name, `edw_consumer_end_to_end_seconds_bucket{le="`), `"}`)
			le, err := strconv.ParseFloat(raw, 64)
			if err == nil {
				s.buckets[le] = v
			}
		}
	}
	return s, sc.Err()
}

// Command demo runs the whole event flow on one machine with no cloud account:
// it creates a queue and table on local emulators, runs the producer, and starts
// and stops consumer processes as KEDA and the HPA scale the deployed consumer
// (autoscale.Deployment: the ScaledObject's numbers from the stack config and
// Kubernetes' default HPA behaviour), printing backlog, replicas, throughput,
// end-to-end latency and what the autoscaler is waiting for every second.
// Ctrl-C stops it within seconds with the summary so far; a second Ctrl-C
// stops at once. scripts/demo.sh starts the emulators and runs it.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/edw-dev/edw/workload/internal/autoscale"
	"github.com/edw-dev/edw/workload/internal/backend"
	"github.com/edw-dev/edw/workload/internal/chart"
	"github.com/edw-dev/edw/workload/internal/emulator"
	"github.com/edw-dev/edw/workload/internal/telemetry"
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
	pollPhase            time.Duration
	stabilize            time.Duration
	hpaTiming, setup     bool
	maxDuration          time.Duration
	sqs, dynamodb, azure string
	chart                string
	routes               string
}

// recording is the run as the demo saw it, second by second, for its chart:
// the single pipeline's samples, or each route's.
type recording struct {
	path, title string
	samples     []chart.Sample
	routes      []chart.Route
}

// stopTimeout bounds how long stopping consumers may take before they are killed.
const stopTimeout = 40 * time.Second

func run() error {
	var o options
	behavior := autoscale.DemoBehavior()
	flag.StringVar(&o.project, "project", "Pulumi.yaml", "Pulumi project file with the config defaults")
	flag.StringVar(&o.stack, "stack", "Pulumi.aws.yaml", "stack config file whose values override the defaults")
	flag.StringVar(&o.consumer, "consumer", "consumer", "consumer binary")
	flag.StringVar(&o.producer, "producer", "producer", "producer binary")
	flag.IntVar(&o.messages, "messages", 0, "messages to send (0 = edw:producerMessageCount)")
	flag.Float64Var(&o.rate, "rate", -1, "messages per second, 0 = full speed (-1 = edw:producerRate)")
	flag.DurationVar(&o.polling, "polling", 0, "override KEDA's pollingInterval (edw:pollingIntervalSeconds)")
	flag.DurationVar(&o.pollPhase, "poll-phase", -1, "when KEDA's first poll falls after the first message, under --polling (-1ns: a random point, as for a ScaledObject deployed long before; 0: at once)")
	flag.DurationVar(&o.cooldown, "cooldown", -1, "override KEDA's cooldownPeriod (edw:cooldownSeconds)")
	flag.DurationVar(&o.stabilize, "scale-down-stabilization", behavior.ScaleDownStabilization, "the HPA's scale-down stabilization window (Kubernetes' default 300s)")
	flag.BoolVar(&o.hpaTiming, "hpa-timing", false, "also simulate the HPA's 15s sync, 10% tolerance and scale-up limit (+4 pods or +100% per 15s)")
	flag.DurationVar(&o.maxDuration, "max-duration", 15*time.Minute, "stop after this long")
	flag.BoolVar(&o.setup, "setup", false, "only create the queue, dead-letter queue and table, print their environment as export lines, and exit (to run the producer and consumer by hand)")
	flag.StringVar(&o.sqs, "sqs-endpoint", "", "SQS emulator (aws stack)")
	flag.StringVar(&o.dynamodb, "dynamodb-endpoint", "", "DynamoDB emulator (aws stack)")
	flag.StringVar(&o.azure, "azurite", "", "Azurite connection string (azure stack)")
	flag.StringVar(&o.chart, "chart", "", "where to write the run's SVG chart (default: a file in the temp directory, printed at the end)")
	flag.StringVar(&o.routes, "routes", "", "run routes instead of the single pipeline: name[=messages],... (e.g. orders=3000,payments=500); "+
		"each gets its own queue, dead-letter queue and table, producer, consumers (EDW_ROUTE) and autoscaler; without =messages a route sends --messages")
	flag.Parse()
	if err := o.validate(); err != nil {
		return err
	}

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
	if o.hpaTiming {
		behavior = autoscale.DefaultBehavior()
	}
	behavior.ScaleDownStabilization = o.stabilize
	rule := autoscale.Rule{
		MinReplicas: cfg.int("consumerMinReplicas"), MaxReplicas: cfg.int("consumerMaxReplicas"),
		Target: cfg.int("messagesPerPod"), Activation: cfg.int("activationQueueLength"), Cooldown: cooldown,
	}
	visibility := cfg.int("visibilityTimeoutSeconds")
	maxReceive := cfg.int("maxReceiveCount")

	routes, _ := parseRoutes(o.routes) // validate checked it
	if len(routes) == 0 {
		routes = []routeSpec{{}}
	}
	for i := range routes {
		if routes[i].messages == 0 {
			routes[i].messages = o.messages
		}
	}

	// The first SIGINT or SIGTERM stops the demo in order (producers, then
	// consumers, then the count); a second one kills what is left at once.
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	lanes := make([]*lane, len(routes))
	for i, r := range routes {
		// Every route scales on its own, with the stack's numbers, as each
		// route's ScaledObject does; its consumers serve it (EDW_ROUTE).
		lanes[i] = &lane{
			route: r.name, messages: r.messages, pool: &pool{binary: o.consumer},
			deployment: &autoscale.Deployment{Rule: rule, Polling: polling, Phase: pollPhase(o.pollPhase, polling), Behavior: behavior},
		}
	}
	go func() {
		<-signals
		fmt.Println("\nstopping: producers and consumers get SIGTERM and finish what they hold (Ctrl-C again to kill them now)")
		stop()
		<-signals
		fmt.Fprintln(os.Stderr, "demo: killed")
		for _, l := range lanes {
			l.pool.killAll()
		}
		os.Exit(130)
	}()

	name := fmt.Sprintf("edw-demo-%d", time.Now().Unix())
	for _, l := range lanes {
		queueName := name
		if l.route != "" {
			queueName += "-" + l.route
		}
		switch cfg.str("cloud") {
		case "aws":
			l.env, err = emulator.AWS(ctx, o.sqs, o.dynamodb, queueName, visibility, maxReceive)
		case "azure":
			l.env, err = emulator.Azure(ctx, o.azure, queueName)
		default:
			err = fmt.Errorf("stack %s: edw:cloud %q", o.stack, cfg.str("cloud"))
		}
		if err != nil {
			return err
		}
		if l.route != "" {
			l.env = append(l.env, "EDW_ROUTE="+l.route)
		}
	}
	if o.setup {
		for _, kv := range lanes[0].env {
			k, v, _ := strings.Cut(kv, "=")
			fmt.Printf("export %s=%s\n", k, shellQuote(v))
		}
		return nil
	}
	for _, l := range lanes {
		l.envMap = map[string]string{}
		for _, kv := range l.env {
			k, v, _ := strings.Cut(kv, "=")
			l.envMap[k] = v
		}
		for k, v := range l.envMap {
			if strings.HasPrefix(k, "AWS_") {
				os.Setenv(k, v)
			}
		}
		env := l.envMap
		if l.be, err = backend.Open(ctx, backend.FromEnv(func(k string) string { return env[k] }), false, time.Minute); err != nil {
			return err
		}
		l.pool.env = l.env
		l.pool.args = []string{"--max-receive-count=" + strconv.Itoa(maxReceive), fmt.Sprintf("--visibility-timeout=%ds", visibility), "--wait=1s"}
	}

	fmt.Printf("edw demo: %s stack as deployed — KEDA: %d..%d consumers, %d messages per consumer, activation above %d, polling %s, cooldown %s\n",
		cfg.str("cloud"), rule.MinReplicas, rule.MaxReplicas, rule.Target, rule.Activation, polling, cooldown)
	fmt.Printf("  backlog = waiting + in-flight messages, as KEDA's trigger counts them; HPA scale-down stabilization %s", behavior.ScaleDownStabilization)
	if o.hpaTiming {
		fmt.Printf("; HPA sync %s, tolerance %.0f%%, scale-up at most +%d pods or +%d%% per %s\n",
			behavior.SyncPeriod, 100*behavior.Tolerance, behavior.ScaleUpPods, behavior.ScaleUpPercent, behavior.Period)
	} else {
		fmt.Printf("; scale-up at the poll that sees the backlog (--hpa-timing adds the HPA's sync and limits)\n")
	}
	phases := make([]string, len(lanes))
	for i, l := range lanes {
		phases[i] = l.deployment.Phase.Round(time.Millisecond).String()
		if l.route != "" {
			phases[i] = l.route + " " + phases[i]
		}
	}
	fmt.Printf("  KEDA's first poll falls %s after the first message: its loop polls when the ScaledObject is reconciled, long before (--poll-phase)\n",
		strings.Join(phases, ", "))
	if len(lanes) == 1 && lanes[0].route == "" {
		fmt.Printf("sending %d messages at %s; Ctrl-C stops with a summary\n", o.messages, rateText(o.rate))
	} else {
		fmt.Printf("routes, each with its own queue, consumers and ScaledObject (there is no router emulator: each route's producer fills its queue):\n")
		for _, l := range lanes {
			fmt.Printf("  %s: sending %d messages at %s\n", l.route, l.messages, rateText(o.rate))
		}
		fmt.Println("Ctrl-C stops with a summary")
	}

	for _, l := range lanes {
		if l.prod, err = startProducer(o.producer, append(os.Environ(), l.env...), l.messages, o.rate); err != nil {
			for _, started := range lanes {
				started.pool.killAll()
			}
			return err
		}
		l.pool.setProducer(l.prod)
		defer l.pool.killAll()
	}

	rec := &recording{path: o.chart, title: chartTitle(cfg.str("cloud"), lanes)}
	if rec.path == "" {
		rec.path = filepath.Join(os.TempDir(), name+".svg")
	}
	start := time.Now()
	for _, l := range lanes {
		// KEDA's loop already runs when the first messages go: its phase
		// (--poll-phase) counts from here, and a poll due now reads the
		// queue now.
		backlog, err := l.be.Queue.Len(ctx)
		if err != nil {
			return fmt.Errorf("read backlog%s: %w", routeSuffix(l.route), err)
		}
		replicas, _ := l.deployment.Step(start, backlog)
		l.pool.scaleTo(replicas)
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	label := labeller(lanes)
	for {
		select {
		case <-ctx.Done():
			return finish(lanes, start, rec, "interrupted")
		case now := <-tick.C:
			done := true
			for _, l := range lanes {
				l.noteProducerExit()
				line, ok := l.step(ctx, now, start)
				if !ok {
					done = false
					continue
				}
				fmt.Println(label(l) + line)
				done = done && l.produced && l.samples[len(l.samples)-1].Backlog == 0 && l.pool.size() == 0
			}
			if done {
				return finish(lanes, start, rec, "drained and scaled to zero")
			}
			if now.Sub(start) > o.maxDuration {
				return finish(lanes, start, rec, "max duration reached")
			}
		}
	}
}

// routeSpec is one route of --routes: its name and how many messages its
// producer sends (0: --messages).
type routeSpec struct {
	name     string
	messages int
}

// routeName is what the stack allows as a route's name (edw:routes).
var routeName = regexp.MustCompile(`^[a-z](?:[a-z0-9]|-[a-z0-9])*$`)

// parseRoutes reads --routes: name[=messages],...
func parseRoutes(s string) ([]routeSpec, error) {
	if s == "" {
		return nil, nil
	}
	var out []routeSpec
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		name, count, hasCount := strings.Cut(part, "=")
		r := routeSpec{name: name}
		if len(name) > 40 || !routeName.MatchString(name) {
			return nil, fmt.Errorf("route %q: want a route name as edw:routes takes it (1-40 lower-case letters, digits and single hyphens, starting with a letter)", name)
		}
		if seen[name] {
			return nil, fmt.Errorf("route %q: named twice", name)
		}
		seen[name] = true
		if hasCount {
			n, err := strconv.Atoi(count)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("route %s: messages %q: want a whole number, 1 or more", name, count)
			}
			r.messages = n
		}
		out = append(out, r)
	}
	if len(out) > maxDemoRoutes {
		return nil, fmt.Errorf("%d routes: the demo runs at most %d (the chart tells that many apart)", len(out), maxDemoRoutes)
	}
	return out, nil
}

// maxDemoRoutes bounds --routes: each route runs its own producer and
// consumers on this one machine, and the chart has a colour per route.
const maxDemoRoutes = 6

// lane is one pipeline the demo runs: the stack's own queue, or a route's
// queue with its own producer, consumers and autoscaler, as each route has its
// own Deployment and ScaledObject.
type lane struct {
	route      string
	messages   int
	env        []string
	envMap     map[string]string
	be         *backend.Backend
	deployment *autoscale.Deployment
	pool       *pool
	prod       *producerProc

	produced            bool
	maxSeen             int
	lastTotal, peakRate float64
	lastWhy             string
	samples             []chart.Sample
}

// noteProducerExit marks the lane's producer done once it has exited.
func (l *lane) noteProducerExit() {
	if l.prod.done == nil {
		return
	}
	select {
	case <-l.prod.done:
		if l.prod.err != nil {
			// Its stderr said why; what it did send is still worth draining.
			fmt.Fprintf(os.Stderr, "demo: the producer%s failed (%v); draining what it sent\n", routeSuffix(l.route), l.prod.err)
		}
		l.produced = true
		l.prod.done = nil
	default:
	}
}

// step is one second of the lane: read the backlog, let the autoscaler
// decide, scale the consumers, record the second. It returns the second's
// line, or false when the backlog could not be read.
func (l *lane) step(ctx context.Context, now, start time.Time) (string, bool) {
	backlog, err := l.be.Queue.Len(ctx)
	if err != nil {
		if ctx.Err() == nil {
			fmt.Fprintf(os.Stderr, "read backlog%s: %v\n", routeSuffix(l.route), err)
		}
		return "", false
	}
	replicas, why := l.deployment.Step(now, backlog)
	l.pool.scaleTo(replicas)
	l.maxSeen = max(l.maxSeen, l.pool.size())
	stats := l.pool.scrape()
	rate := stats.processed - l.lastTotal
	l.lastTotal = stats.processed
	l.peakRate = math.Max(l.peakRate, rate)
	line := fmt.Sprintf("t=%4.0fs backlog=%6d replicas=%2d (desired %2d) processed=%7.0f %6.0f msg/s  p50=%s p95=%s",
		now.Sub(start).Seconds(), backlog, l.pool.size(), replicas, stats.processed, rate,
		seconds(stats.quantile(0.5)), seconds(stats.quantile(0.95)))
	// A waiting line repeats its reason only when it changes, with the
	// countdown, so a quiet stretch still says what it waits for.
	if why != "" && (why != l.lastWhy || strings.Contains(why, "in about")) {
		line += "\n        " + why
	}
	l.lastWhy = why
	l.samples = append(l.samples, chart.Sample{Seconds: now.Sub(start).Seconds(), Backlog: backlog,
		Replicas: l.pool.size(), Throughput: rate, P95: stats.quantile(0.95)})
	return line, true
}

// labeller prefixes a route's lines with its name, padded so the columns
// line up; the single pipeline's lines have no prefix.
func labeller(lanes []*lane) func(*lane) string {
	width := 0
	for _, l := range lanes {
		width = max(width, len(l.route))
	}
	return func(l *lane) string {
		if l.route == "" {
			return ""
		}
		return fmt.Sprintf("%-*s ", width, l.route)
	}
}

func chartTitle(cloud string, lanes []*lane) string {
	if len(lanes) == 1 && lanes[0].route == "" {
		return fmt.Sprintf("edw demo, %s stack: %d messages", cloud, lanes[0].messages)
	}
	var parts []string
	for _, l := range lanes {
		parts = append(parts, fmt.Sprintf("%s %d", l.route, l.messages))
	}
	return fmt.Sprintf("edw demo, %s stack, routes: %s messages", cloud, strings.Join(parts, ", "))
}

func routeSuffix(route string) string {
	if route == "" {
		return ""
	}
	return " of route " + route
}

func (o options) validate() error {
	var errs []error
	bad := func(name string, v any, want string) {
		errs = append(errs, fmt.Errorf("--%s %v: want %s", name, v, want))
	}
	if o.messages < 0 {
		bad("messages", o.messages, "0 (the stack's edw:producerMessageCount) or more")
	}
	if o.rate < 0 && o.rate != -1 || math.IsNaN(o.rate) || math.IsInf(o.rate, 0) {
		bad("rate", o.rate, "0 (full speed) or more, or -1 (the stack's edw:producerRate)")
	}
	if o.polling < 0 {
		bad("polling", o.polling, "more than 0, or 0 for the stack's edw:pollingIntervalSeconds")
	}
	if o.pollPhase < 0 && o.pollPhase != -1 {
		bad("poll-phase", o.pollPhase, "0 or more, or -1ns for a random point")
	}
	if o.polling > 0 && o.pollPhase >= o.polling {
		bad("poll-phase", o.pollPhase, "less than --polling")
	}
	if o.cooldown < 0 && o.cooldown != -1 {
		bad("cooldown", o.cooldown, "0 or more, or -1ns for the stack's edw:cooldownSeconds")
	}
	if o.stabilize < 0 {
		bad("scale-down-stabilization", o.stabilize, "0 or more")
	}
	if o.maxDuration <= 0 {
		bad("max-duration", o.maxDuration, "more than 0")
	}
	if _, err := parseRoutes(o.routes); err != nil {
		errs = append(errs, fmt.Errorf("--routes %s: %w", o.routes, err))
	}
	if o.setup && o.routes != "" {
		errs = append(errs, errors.New("--setup with --routes: --setup prints one pipeline's environment; run it once per queue"))
	}
	if flag.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected argument %q", flag.Arg(0)))
	}
	return errors.Join(errs...)
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

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

// finish stops the producers, then the consumers (they drain and report their
// exact totals), then counts the tables, and prints the summary: what happened
// so far, even when interrupted or when a table cannot be read. With routes
// there is a summary per route.
func finish(lanes []*lane, start time.Time, rec *recording, why string) error {
	sent := make([]int, len(lanes))
	for i, l := range lanes {
		sent[i] = l.prod.stop()
	}
	var wg sync.WaitGroup
	for _, l := range lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.pool.stopAll()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	var total float64
	totalRows, counted := 0, true
	for i, l := range lanes {
		s := l.pool.scrape()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		rows, err := emulator.CountRows(ctx, l.envMap)
		cancel()
		rowsText := strconv.Itoa(rows)
		if err != nil {
			rowsText, counted = "?", false
			fmt.Fprintf(os.Stderr, "demo: count results%s: %v\n", routeSuffix(l.route), err)
		}
		prefix := ""
		if l.route != "" {
			prefix = "route " + l.route + ": "
		}
		fmt.Printf("\n%s%d messages sent, %s result rows in the table", prefix, sent[i], rowsText)
		fmt.Printf("\n%ssummary (%s): %.0f processed, %.0f duplicates, %.0f conflicts, %.0f dead-lettered in %.0fs; peak %d consumers, peak %.0f msg/s; end-to-end p50 %s p95 %s\n",
			prefix, why, s.processed, s.duplicates, s.conflicts, s.poisoned, elapsed, l.maxSeen, l.peakRate, seconds(s.quantile(0.5)), seconds(s.quantile(0.95)))
		switch {
		case err != nil:
		case s.inexact > 0:
			fmt.Printf("(%d consumers were killed before reporting their totals: processed counts their last scrape)\n", s.inexact)
		case int(s.processed) != rows:
			fmt.Printf("processed (%.0f) differs from the table (%d rows): a write whose answer was lost counts as a duplicate when retried\n", s.processed, rows)
		}
		total += s.processed
		totalRows += rows
		if l.route != "" {
			rec.routes = append(rec.routes, chart.Route{Name: l.route, Samples: l.samples, Processed: s.processed, Rows: rows})
		} else {
			rec.samples = l.samples
		}
	}
	if !counted {
		totalRows = 0
	}
	if err := writeChart(rec, total, totalRows); err != nil {
		fmt.Fprintln(os.Stderr, "demo: chart:", err)
	} else if rec.drawn() {
		fmt.Printf("chart: %s\n", rec.path)
	}
	return nil
}

// drawn says whether the run has a second to draw.
func (rec *recording) drawn() bool {
	if len(rec.routes) == 0 {
		return len(rec.samples) > 0
	}
	for _, r := range rec.routes {
		if len(r.Samples) == 0 {
			return false
		}
	}
	return true
}

// writeChart draws the run; a run stopped before its first second has nothing to draw.
func writeChart(rec *recording, processed float64, rows int) error {
	if !rec.drawn() {
		return nil
	}
	f, err := os.Create(rec.path)
	if err != nil {
		return err
	}
	werr := chart.Write(f, chart.Run{Title: rec.title, Samples: rec.samples, Routes: rec.routes, Processed: processed, Rows: rows})
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	return werr
}

// producerProc is the producer process; its stdout is its JSON summary.
type producerProc struct {
	cmd    *exec.Cmd
	out    bytes.Buffer
	done   chan struct{}
	err    error
	exited chan struct{}
}

func startProducer(binary string, env []string, count int, rate float64) (*producerProc, error) {
	p := &producerProc{done: make(chan struct{}), exited: make(chan struct{})}
	p.cmd = exec.Command(binary, "--quiet", "--count="+strconv.Itoa(count), "--rate="+strconv.FormatFloat(rate, 'f', -1, 64))
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = &p.out, os.Stderr
	p.cmd.SysProcAttr = childAttr()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start producer: %w", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
		close(p.done)
	}()
	return p, nil
}

// stop ends the producer (SIGTERM: it stops sending and prints its summary)
// and returns how many messages it sent.
func (p *producerProc) stop() int {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			p.kill()
			<-p.exited
		}
	}
	var sum struct{ Sent int }
	_ = json.Unmarshal(p.out.Bytes(), &sum)
	return sum.Sent
}

func (p *producerProc) kill() {
	if p != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
	}
}

// pool is the consumer processes, newest last.
type pool struct {
	binary string
	env    []string
	args   []string

	mu       sync.Mutex
	procs    []*proc
	producer *producerProc
	// retired sums the final totals of consumers that have exited, so the
	// totals never go back and count the drain exactly.
	retired stats
}

type proc struct {
	cmd *exec.Cmd
	// addr is where the consumer serves /metrics, from its start-up log line:
	// it binds a port of its own choosing, so no two consumers can share one
	// (a port picked for them could be taken in between, and one consumer's
	// counts scraped twice).
	addr atomic.Pointer[string]
	out  bytes.Buffer // the consumer's final totals, one JSON line
	// lastLog is its last log line, to say why it exited early.
	lastLog atomic.Pointer[string]
	last    stats
	done    chan struct{}
}

// scrape reads the consumer's metrics once it has said where they are.
func (pr *proc) scrape() (stats, error) {
	addr := pr.addr.Load()
	if addr == nil {
		return stats{}, errors.New("metrics address not known yet")
	}
	return scrapeOne(*addr)
}

// readLog follows the consumer's JSON log for its metrics address and last line.
func (pr *proc) readLog(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		pr.lastLog.Store(&line)
		var started struct {
			Msg     string `json:"msg"`
			Metrics string `json:"metrics"`
		}
		if pr.addr.Load() == nil && json.Unmarshal([]byte(line), &started) == nil && started.Msg == "consumer started" {
			pr.addr.Store(&started.Metrics)
		}
	}
}

func (p *pool) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.procs)
}

func (p *pool) scaleTo(n int) {
	p.mu.Lock()
	for len(p.procs) < n {
		pr := &proc{done: make(chan struct{})}
		pr.cmd = exec.Command(p.binary, append([]string{"--metrics-addr=127.0.0.1:0"}, p.args...)...)
		pr.cmd.Env = append(os.Environ(), p.env...)
		pr.cmd.Stdout = &pr.out
		logs, err := pr.cmd.StderrPipe()
		if err != nil {
			fmt.Fprintln(os.Stderr, "consumer log:", err)
			break
		}
		// Its own process group: the terminal's Ctrl-C reaches the demo, which
		// stops consumers in order and collects what they report.
		pr.cmd.SysProcAttr = childAttr()
		if err := pr.cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "start consumer:", err)
			break
		}
		go func() {
			pr.readLog(logs) // to EOF before Wait, which closes the pipe
			if err := pr.cmd.Wait(); err != nil {
				if last := pr.lastLog.Load(); last != nil {
					fmt.Fprintf(os.Stderr, "demo: a consumer exited (%v): %s\n", err, *last)
				}
			}
			close(pr.done)
		}()
		p.procs = append(p.procs, pr)
	}
	var extra []*proc
	if len(p.procs) > n {
		extra = p.procs[n:]
		p.procs = p.procs[:n]
	}
	p.mu.Unlock()
	if len(extra) > 0 {
		p.retire(extra)
	}
}

// retire stops consumers as Kubernetes does on scale-down: SIGTERM, let them
// drain, and take each one's final totals from its last line.
func (p *pool) retire(procs []*proc) {
	for _, pr := range procs {
		_ = pr.cmd.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.After(stopTimeout)
	for _, pr := range procs {
	wait:
		for {
			if s, err := pr.scrape(); err == nil {
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
		final := pr.last
		if t, ok := finalTotals(pr.out.Bytes()); ok {
			final.processed, final.duplicates, final.conflicts, final.poisoned = float64(t.Processed), float64(t.Duplicates),
				float64(t.Conflicts), float64(t.DeadLettered)
		} else {
			final.inexact = 1
		}
		p.mu.Lock()
		p.retired.add(final)
		p.mu.Unlock()
	}
}

// finalTotals reads the totals line a consumer prints when it exits.
func finalTotals(out []byte) (telemetry.Totals, bool) {
	var t telemetry.Totals
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	if len(lines) == 0 || json.Unmarshal(lines[len(lines)-1], &t) != nil {
		return t, false
	}
	return t, true
}

func (p *pool) stopAll() { p.scaleTo(0) }

func (p *pool) setProducer(prod *producerProc) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.producer = prod
}

// killAll kills the producer and every consumer still running: for a second
// Ctrl-C, and for an early return.
func (p *pool) killAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.producer.kill()
	for _, pr := range p.procs {
		_ = pr.cmd.Process.Kill()
	}
}

func (p *pool) scrape() stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	total := stats{buckets: map[float64]float64{}}
	total.add(p.retired)
	for _, pr := range p.procs {
		if s, err := pr.scrape(); err == nil {
			pr.last = s
		}
		total.add(pr.last)
	}
	return total
}

// stats are the consumer counters and the end-to-end latency histogram.
type stats struct {
	processed, duplicates, conflicts, poisoned float64
	// inexact counts consumers whose final totals never arrived (killed).
	inexact int
	buckets map[float64]float64 // upper bound → cumulative count
	count   float64
}

func (s *stats) add(o stats) {
	if s.buckets == nil {
		s.buckets = map[float64]float64{}
	}
	s.processed += o.processed
	s.duplicates += o.duplicates
	s.poisoned += o.poisoned
	s.conflicts += o.conflicts
	s.inexact += o.inexact
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
	return parseStats(resp.Body)
}

// parseStats reads the counters and the latency histogram from a consumer's
// metrics in the Prometheus text format. It parses the format rather than
// matching lines: a route's consumer labels its series (route="orders"), and
// each family is summed over its series whatever their labels.
func parseStats(r io.Reader) (stats, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return stats{}, fmt.Errorf("parse metrics: %w", err)
	}
	counter := func(name string) float64 {
		total := 0.0
		for _, m := range families[name].GetMetric() {
			total += m.GetCounter().GetValue()
		}
		return total
	}
	s := stats{
		processed: counter("edw_consumer_messages_processed_total"), duplicates: counter("edw_consumer_messages_duplicate_total"),
		poisoned: counter("edw_consumer_messages_poisoned_total"), conflicts: counter("edw_consumer_messages_conflict_total"),
		buckets: map[float64]float64{},
	}
	for _, m := range families["edw_consumer_end_to_end_seconds"].GetMetric() {
		h := m.GetHistogram()
		s.count += float64(h.GetSampleCount())
		for _, b := range h.GetBucket() {
			s.buckets[b.GetUpperBound()] += float64(b.GetCumulativeCount())
		}
	}
	return s, nil
}

// pollPhase is the first poll's offset: phase when given, else a random
// point within one polling interval, where a long-running scale loop's next
// poll falls when a burst begins.
func pollPhase(phase, polling time.Duration) time.Duration {
	if phase >= 0 || polling <= 0 {
		return max(phase, 0)
	}
	return rand.N(polling)
}

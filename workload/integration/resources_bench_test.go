package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edw-dev/edw/workload/internal/backend"
	"github.com/edw-dev/edw/workload/internal/message"
	"github.com/edw-dev/edw/workload/internal/telemetry"
)

// The resource benchmarks measure what the consumer and the producer cost a
// node: CPU-seconds and peak RSS per 1,000 messages, beside the bare loops of
// bench_test.go doing the same SDK calls in the same run. Peak RSS cannot be
// reset inside one process, so every run is a process of its own: the real
// binary for our side, this test binary re-executed in a helper mode for the
// bare side. CPU is the kernel's (wait4's rusage) for that process; peak RSS is
// its own address space's high-water mark (peakrss_test.go says why not wait4's).
// CPU-seconds, not wall time, are compared: the machine may be shared, and a
// busy neighbour stretches wall time but not the CPU a process spends.
//
// EDW_COST_WRITE=1 writes the figures to docs/cost/measured.json, which the
// cost table (workload/internal/cost) is generated from.

const (
	// resourceHelperEnv selects the bare loop in a re-exec of this test binary.
	resourceHelperEnv = "EDW_RESOURCE_HELPER"
	helperCountEnv    = "EDW_RESOURCE_COUNT"
	helperLoopsEnv    = "EDW_RESOURCE_LOOPS"
)

// The consumer's and the producer's defaults and the largest values their
// flags accept (cmd/consumer --receivers 1-100, cmd/producer --concurrency
// 1-64). The batch size is not a flag: every receive and send asks for the
// queue's largest (SQS 10, Azure 32), so these are the largest batches too.
const (
	defaultReceivers, maxReceivers     = 4, 100
	defaultConcurrency, maxConcurrency = 4, 64
)

// cpuFactors are the most CPU per message our side may spend over the bare
// loop's, per side. Measured on 2 shared cores: see docs/cost.md for the
// figures; the factor leaves room for a noisy machine and still fails a
// framework that spends several times the SDK's own work.
var cpuFactors = map[string]float64{"consumer": 2.0, "producer": 2.0}

// init runs the bare loop when this binary was re-executed as a helper. It runs
// before TestMain, so the process's rusage holds the loop and nothing else
// (TestMain builds the binaries with `go build`, whose children wait4 would count).
func init() {
	if mib, err := strconv.Atoi(os.Getenv(holdEnv)); err == nil {
		holdMemory(mib)
		os.Exit(0)
	}
	mode := os.Getenv(resourceHelperEnv)
	if mode == "" {
		return
	}
	if err := runResourceHelper(mode); err != nil {
		fmt.Fprintf(os.Stderr, "resource helper %s: %v\n", mode, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runResourceHelper(mode string) error {
	n, err := strconv.Atoi(os.Getenv(helperCountEnv))
	if err != nil {
		return fmt.Errorf("%s: %w", helperCountEnv, err)
	}
	loops, err := strconv.Atoi(os.Getenv(helperLoopsEnv))
	if err != nil {
		return fmt.Errorf("%s: %w", helperLoopsEnv, err)
	}
	ctx := context.Background()
	be, err := backend.Open(ctx, backend.FromEnv(os.Getenv), mode == "consume", 30*time.Second)
	if err != nil {
		return fmt.Errorf("open the backend: %w", err)
	}
	switch mode {
	case "consume":
		return bareConsumeWith(ctx, be.Queue, be.Store, n, loops)
	case "send":
		// The bodies are built here, as the producer builds its own.
		all := make([][]byte, n)
		for i := range all {
			if all[i], err = message.Encode(message.Body{ID: fmt.Sprintf("bare-%d-%d", time.Now().UnixNano(), i), Msg: "bench " + strconv.Itoa(i), SrcStamp: time.Now()}); err != nil {
				return fmt.Errorf("encode message %d: %w", i, err)
			}
		}
		return bareSendWith(ctx, be.Queue, all, loops)
	}
	return fmt.Errorf("unknown mode %q", mode)
}

// usage is what one process spent.
type usage struct {
	CPU    time.Duration // user + system
	MaxRSS int64         // bytes
	Wall   time.Duration
}

func rusageOf(cmd *exec.Cmd, peak *peakRSS, wall time.Duration) usage {
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return usage{
		CPU:    time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime)),
		MaxRSS: peak.stop(),
		Wall:   wall,
	}
}

// runOurConsumer runs the consumer binary on s's queue until the queue is empty,
// then stops it with SIGTERM (its drain then has nothing left to finish).
func runOurConsumer(b *testing.B, s *stack, n, receivers int) usage {
	b.Helper()
	cmd := exec.Command(bin.consumer, "--receivers", strconv.Itoa(receivers), "--wait", "1s",
		"--metrics-addr", "127.0.0.1:0", "--visibility-timeout", "30s")
	cmd.Env = append(os.Environ(), s.env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	peak := watchPeakRSS(cmd)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// The queue is watched from its own goroutine: an emulator that stalls must
	// not keep the deadline from firing.
	empty := make(chan struct{})
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if s.len(b) == 0 {
					close(empty)
					return
				}
			}
		}
	}()
	deadline := time.After(5 * time.Minute)
	for {
		select {
		case err := <-done:
			if err != nil {
				b.Fatalf("consumer: %v: %s", err, errOut.String())
			}
			var tot telemetry.Totals
			if err := json.Unmarshal(out.Bytes(), &tot); err != nil {
				b.Fatalf("consumer totals %q: %v", out.String(), err)
			}
			if tot.Processed < int64(n) {
				b.Fatalf("consumer processed %d of %d messages", tot.Processed, n)
			}
			return rusageOf(cmd, peak, time.Since(start))
		case <-deadline:
			_ = cmd.Process.Kill()
			b.Fatalf("consumer did not empty the queue of %d messages in 5 minutes", n)
		case <-empty:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			empty = nil
		}
	}
}

// runHelper runs this test binary as the bare loop in mode on s's queue.
func runHelper(b *testing.B, s *stack, mode string, n, loops int) usage {
	b.Helper()
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), s.env...)
	cmd.Env = append(cmd.Env, resourceHelperEnv+"="+mode, helperCountEnv+"="+strconv.Itoa(n), helperLoopsEnv+"="+strconv.Itoa(loops))
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatalf("bare %s loop: %v", mode, err)
	}
	peak := watchPeakRSS(cmd)
	if err := cmd.Wait(); err != nil {
		b.Fatalf("bare %s loop: %v: %s", mode, err, errOut.String())
	}
	return rusageOf(cmd, peak, time.Since(start))
}

func runOurProducer(b *testing.B, s *stack, n, concurrency int) usage {
	b.Helper()
	cmd := exec.Command(bin.producer, "--count", strconv.Itoa(n), "--concurrency", strconv.Itoa(concurrency), "--quiet", "--msg", "bench")
	cmd.Env = append(os.Environ(), s.env...)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatalf("producer: %v", err)
	}
	peak := watchPeakRSS(cmd)
	if err := cmd.Wait(); err != nil {
		b.Fatalf("producer: %v: %s", err, errOut.String())
	}
	return rusageOf(cmd, peak, time.Since(start))
}

// Measured is one side's figures per 1,000 messages at one setting, as
// docs/cost/measured.json records them.
type Measured struct {
	Side     string `json:"side"`    // consumer or producer
	Target   string `json:"target"`  // the emulators
	Setting  string `json:"setting"` // default or max
	Loops    int    `json:"loops"`   // receivers or batches in flight
	Batch    int    `json:"batch"`
	Messages int    `json:"messages"` // per run
	// InFlight is the most messages the run can hold at once: its loops'
	// full batches, or every message when there are fewer.
	InFlight  int     `json:"inFlight"`
	BodyBytes int     `json:"bodyBytes"`
	CPUms     float64 `json:"cpuMsPer1000"`     // ours, median run
	BareCPUms float64 `json:"bareCpuMsPer1000"` // the bare loop, median run
	RSSMiB    float64 `json:"peakRssMiB"`       // ours, the largest run
	BareRSS   float64 `json:"barePeakRssMiB"`
	CPURatio  float64 `json:"cpuRatio"` // ours ÷ bare
	// Rate and Cores are ours at its median run: messages per second, and the
	// CPU it used over that time (CPU-seconds per second), which is what one
	// consumer with a backlog uses.
	Rate  float64 `json:"msgPerSecond"`
	Cores float64 `json:"cores"`
}

// resourceRuns is how many runs each side gets per setting, in ABBA order.
var resourceABBA = []bool{true, false, false, true}

func BenchmarkResources(b *testing.B) {
	var all []Measured
	for _, name := range []string{"aws-fauxqs-dynalite", "azure-azurite"} {
		target := benchTargets(b)[name]
		for _, side := range []string{"consumer", "producer"} {
			for _, setting := range []string{"default", "max"} {
				b.Run(name+"/"+side+"/"+setting, func(b *testing.B) {
					for range b.N {
						all = append(all, measureSide(b, name, target, side, setting))
					}
				})
			}
		}
	}
	// Every run in all finished its measurement (a failed setup or run stops
	// before it is added), so even a partly failed benchmark records them.
	if os.Getenv("EDW_COST_WRITE") == "1" && len(all) > 0 {
		writeMeasured(b, all)
	}
}

func measureSide(b *testing.B, name string, target benchTarget, side, setting string) Measured {
	loops := map[string]map[string]int{
		"consumer": {"default": defaultReceivers, "max": maxReceivers},
		"producer": {"default": defaultConcurrency, "max": maxConcurrency},
	}[side][setting]
	n := target.n
	if side == "producer" {
		n = target.sendN
	}
	var ours, bare []usage
	var batch, body int
	for _, isOurs := range resourceABBA {
		s := target.open(b)
		be := openBackend(b, s)
		batch = be.Queue.MaxBatch()
		if side == "consumer" {
			// At the largest setting, as many messages in flight at once as the
			// emulator serves: all of 100 × 10 on fauxqs; Azurite stalls well
			// before 100 × 32 (see benchTargets).
			if setting == "max" {
				n = target.maxN
			}
			msgs := bodies(b, n)
			body = len(msgs[0])
			if err := bareSend(context.Background(), be.Queue, msgs); err != nil {
				b.Fatal(err)
			}
		}
		switch {
		case side == "consumer" && isOurs:
			ours = append(ours, runOurConsumer(b, s, n, loops))
		case side == "consumer":
			bare = append(bare, runHelper(b, s, "consume", n, loops))
		case isOurs:
			ours = append(ours, runOurProducer(b, s, n, loops))
		default:
			bare = append(bare, runHelper(b, s, "send", n, loops))
		}
		s.drop(b)
	}
	if side == "producer" {
		body = len(bodies(b, 1)[0])
	}
	m := Measured{Side: side, Target: name, Setting: setting, Loops: loops, Batch: batch, Messages: n, BodyBytes: body, InFlight: min(n, loops*batch),
		CPUms:     perThousand(medianCPU(ours), n),
		BareCPUms: perThousand(medianCPU(bare), n),
		RSSMiB:    maxRSS(ours), BareRSS: maxRSS(bare)}
	m.CPURatio = m.CPUms / m.BareCPUms
	m.Rate = float64(n) / medianWall(ours).Seconds()
	m.Cores = medianCPU(ours).Seconds() / medianWall(ours).Seconds()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(m.CPUms, "cpu-ms/1k")
	b.ReportMetric(m.BareCPUms, "bare-cpu-ms/1k")
	b.ReportMetric(m.RSSMiB, "peak-MiB")
	b.ReportMetric(m.BareRSS, "bare-peak-MiB")
	b.ReportMetric(m.CPURatio, "cpu-ratio")
	b.Logf("%s %s (%d loops, batches of %d, %d messages of %d bytes): %.0f CPU-ms per 1,000 messages and %.1f MiB peak, bare loop %.0f CPU-ms and %.1f MiB; CPU ratio %.2f (median of %d runs each; wall %s and %s)",
		side, setting, loops, batch, n, body, m.CPUms, m.RSSMiB, m.BareCPUms, m.BareRSS, m.CPURatio, len(ours),
		medianWall(ours).Round(time.Millisecond), medianWall(bare).Round(time.Millisecond))
	if factor, ok := cpuFactors[side]; !ok || m.CPURatio > factor {
		b.Errorf("%s %s: CPU per message is %.2f × the bare loop's, above the factor %.2f that docs/cost.md states", side, setting, m.CPURatio, factor)
	}
	return m
}

func perThousand(d time.Duration, n int) float64 {
	return float64(d.Microseconds()) / 1000 / float64(n) * 1000
}

func medianCPU(u []usage) time.Duration {
	return median(mapUsage(u, func(u usage) time.Duration { return u.CPU }))
}

func medianWall(u []usage) time.Duration {
	return median(mapUsage(u, func(u usage) time.Duration { return u.Wall }))
}

func maxRSS(u []usage) float64 {
	return float64(slices.Max(mapUsage(u, func(u usage) int64 { return u.MaxRSS }))) / (1 << 20)
}

func mapUsage[T any](u []usage, f func(usage) T) []T {
	out := make([]T, len(u))
	for i, x := range u {
		out[i] = f(x)
	}
	return out
}

// writeMeasured records the figures for the cost table, with when and where
// they were measured. Runs already in the file that this one did not measure
// (another target or side, when -bench selected fewer) are kept.
func writeMeasured(b *testing.B, all []Measured) {
	type file struct {
		Measured string     `json:"measured"`
		Machine  string     `json:"machine"`
		Runs     []Measured `json:"runs"`
	}
	path := filepath.Join("..", "..", "docs", "cost", "measured.json")
	var old file
	if raw, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(raw, &old); err != nil {
			b.Fatalf("%s: %v", path, err)
		}
	}
	key := func(m Measured) string { return m.Target + "/" + m.Side + "/" + m.Setting }
	runs := all
	for _, m := range old.Runs {
		if !slices.ContainsFunc(all, func(n Measured) bool { return key(n) == key(m) }) {
			runs = append(runs, m)
		}
	}
	slices.SortStableFunc(runs, func(a, b Measured) int { return strings.Compare(key(a), key(b)) })
	raw, err := json.MarshalIndent(file{time.Now().UTC().Format(time.DateOnly),
		fmt.Sprintf("%s/%s, %d CPUs", runtime.GOOS, runtime.GOARCH, runtime.NumCPU()), runs}, "", "  ")
	if err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, append(raw, '\n'), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("wrote %s", path)
}

// TestCostDocStatesTheCPUFactors: the factors the resource benchmark enforces
// are the ones docs/cost.md states.
func TestCostDocStatesTheCPUFactors(t *testing.T) {
	doc, err := os.ReadFile("../../docs/cost.md")
	if err != nil {
		t.Fatal(err)
	}
	for side, factor := range cpuFactors {
		if want := fmt.Sprintf("more than **%.1f ×** the bare loop's", factor); !strings.Contains(string(doc), want) {
			t.Errorf("docs/cost.md does not say %q (the %s's factor)", want, side)
		}
	}
}

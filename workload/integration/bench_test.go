package integration

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edw-dev/edw/workload/internal/backend"
	"github.com/edw-dev/edw/workload/internal/message"
	"github.com/edw-dev/edw/workload/internal/producer"
	"github.com/edw-dev/edw/workload/internal/queue"
	"github.com/edw-dev/edw/workload/internal/store"
	"github.com/edw-dev/edw/workload/internal/telemetry"
	"github.com/edw-dev/edw/workload/internal/worker"
)

// The benchmarks compare our consumer and producer with a bare loop making the
// same SDK calls with the same batch sizes and concurrency against the same
// emulator in the same run, so the ratio says what the framework costs (parsing,
// metrics, visibility keeping) independently of how fast this machine is.
// Run them with: scripts/test-workload.sh -bench . -benchtime 1x -run '^$' ./integration/

// loops is the consumer's default number of receive loops and the producer's
// default batches in flight; the bare loops use the same.
const loops = 4

type benchTarget struct {
	// n messages per consumer run; sends are much faster than receives, so a
	// producer run sends sendN to last long enough to measure.
	n, sendN int
	// maxN is messages per consumer run at the resource benchmark's largest
	// setting: at most that many are in flight at once.
	maxN int
	open func(b *testing.B) *stack
}

func benchTargets(b *testing.B) map[string]benchTarget {
	return map[string]benchTarget{
		"aws-fauxqs-dynalite": {n: 3000, sendN: 20000, maxN: 3000, open: func(b *testing.B) *stack {
			return awsStack(b, need(b, "EDW_TEST_SQS_ENDPOINT"), need(b, "EDW_TEST_DYNAMODB_ENDPOINT"), 30)
		}},
		// Each run gets its own Azurite: after tens of thousands of requests
		// Azurite 3.37 can spin on one request at full CPU for minutes, which
		// would measure Azurite, not edw.
		// With 100 receivers × 32 in flight Azurite stops answering (1,300
		// messages in flight, their writes pending for minutes, on 2 shared
		// cores), so the largest setting holds 640 at once here.
		"azure-azurite": {n: 1000, sendN: 3000, maxN: 640, open: func(b *testing.B) *stack {
			emu := startAzurite(b, need(b, "EDW_TEST_EMULATOR_DIR"), false)
			s := azureStack(b, emu.conn)
			s.drop = emu.stop
			return s
		}},
	}
}

// openBackend builds our queue and store for s the way the binaries do: from the
// contract's environment.
func openBackend(b *testing.B, s *stack) *backend.Backend {
	b.Helper()
	for _, kv := range s.env {
		k, v, _ := strings.Cut(kv, "=")
		b.Setenv(k, v)
	}
	be, err := backend.Open(context.Background(), backend.FromEnv(os.Getenv), true, 30*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	return be
}

func bodies(b *testing.B, n int) [][]byte {
	b.Helper()
	out := make([][]byte, n)
	for i := range out {
		raw, err := message.Encode(message.Body{ID: fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i), Msg: "bench", SrcStamp: time.Now()})
		if err != nil {
			b.Fatal(err)
		}
		out[i] = raw
	}
	return out
}

// bareSend sends bodies in batches of the queue's size from loops goroutines.
func bareSend(ctx context.Context, q queue.Queue, all [][]byte) error {
	return bareSendWith(ctx, q, all, loops)
}

// bareSendWith is bareSend from the given number of goroutines.
func bareSendWith(ctx context.Context, q queue.Queue, all [][]byte, loops int) error {
	batches := make(chan [][]byte)
	go func() {
		defer close(batches)
		for start := 0; start < len(all); start += q.MaxBatch() {
			batches <- all[start:min(start+q.MaxBatch(), len(all))]
		}
	}()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range batches {
				if err := q.Send(ctx, batch); err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// bareConsume is the ceiling: receive a batch, write every message at once,
// delete the batch, in loops goroutines, until n messages are deleted.
func bareConsume(ctx context.Context, q queue.Queue, s store.Store, n int) error {
	return bareConsumeWith(ctx, q, s, n, loops)
}

// bareConsumeWith is bareConsume with the given number of receive loops.
func bareConsumeWith(ctx context.Context, q queue.Queue, s store.Store, n, loops int) error {
	var deleted, failed atomic.Int64
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && deleted.Load() < int64(n) {
				msgs, err := q.Receive(ctx, q.MaxBatch(), time.Second)
				if err != nil {
					cancel(err)
					return
				}
				var (
					pw      sync.WaitGroup
					mu      sync.Mutex
					written []*queue.Message
				)
				for _, m := range msgs {
					pw.Add(1)
					go func() {
						defer pw.Done()
						now := time.Now()
						if _, err := s.Put(ctx, store.Result{ID: m.ID, Msg: "bench", SrcStamp: now, DestStamp: now}); err != nil {
							// A write the emulator dropped (under load dynalite
							// closes connections) is left to be received again, as
							// the consumer leaves it; only a run of them fails.
							if failed.Add(1) > int64(n) {
								cancel(err)
							}
							return
						}
						mu.Lock()
						written = append(written, m)
						mu.Unlock()
					}()
				}
				pw.Wait()
				if len(written) > 0 {
					if err := q.Delete(ctx, written); err != nil {
						cancel(err)
						return
					}
					deleted.Add(int64(len(written)))
				}
			}
		}()
	}
	wg.Wait()
	return context.Cause(ctx)
}

// countingQueue ends the consumer's run once n messages are deleted, so the
// measurement stops at the last delete rather than after an idle timeout.
type countingQueue struct {
	queue.Queue
	n       int64
	deleted atomic.Int64
	done    func()
}

func (c *countingQueue) Delete(ctx context.Context, msgs []*queue.Message) error {
	err := c.Queue.Delete(ctx, msgs)
	if err == nil && c.deleted.Add(int64(len(msgs))) >= c.n {
		c.done()
	}
	return err
}

func runConsumer(b *testing.B, be *backend.Backend, n int) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	q := &countingQueue{Queue: be.Queue, n: int64(n), done: cancel}
	w, err := worker.New(q, be.Store, telemetry.NewMetrics(), &telemetry.Health{}, telemetry.NewLogger(io.Discard, 0), worker.Config{
		Receivers: loops, Wait: time.Second, MaxReceiveCount: 5, Visibility: 30 * time.Second,
		DrainTimeout: 30 * time.Second, ProcessedBy: "bench",
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Run(ctx); err != nil {
		b.Fatal(err)
	}
	if got := q.deleted.Load(); got < int64(n) {
		b.Fatalf("consumer deleted %d of %d messages before the deadline", got, n)
	}
}

// Each side runs four times per iteration in the order ABBA BAAB, so an emulator
// that slows as it fills up favours neither side; each side's median run is what
// counts, so a rare emulator stall does not decide the ratio.
var abba = []bool{true, false, false, true, false, true, true, false}

func BenchmarkConsumer(b *testing.B) {
	for name, target := range benchTargets(b) {
		b.Run(name, func(b *testing.B) {
			var ours, bare []time.Duration
			for range b.N {
				for _, isOurs := range abba {
					// A fresh queue and table, filled before the clock starts.
					s := target.open(b)
					be := openBackend(b, s)
					if err := bareSend(context.Background(), be.Queue, bodies(b, target.n)); err != nil {
						b.Fatal(err)
					}
					start := time.Now()
					if isOurs {
						runConsumer(b, be, target.n)
						ours = append(ours, time.Since(start))
					} else {
						if err := bareConsume(context.Background(), be.Queue, be.Store, target.n); err != nil {
							b.Fatal(err)
						}
						bare = append(bare, time.Since(start))
					}
					s.drop(b)
				}
			}
			report(b, "consumer", target.n, ours, bare)
		})
	}
}

func BenchmarkProducer(b *testing.B) {
	for name, target := range benchTargets(b) {
		b.Run(name, func(b *testing.B) {
			var ours, bare []time.Duration
			for range b.N {
				for _, isOurs := range abba {
					s := target.open(b)
					be := openBackend(b, s)
					if isOurs {
						sum := producer.Run(context.Background(), be.Queue, producer.Config{Count: target.sendN, Concurrency: loops, Msg: "bench"})
						if sum.Sent != int64(target.sendN) {
							b.Fatalf("producer sent %d of %d (%d failed)", sum.Sent, target.sendN, sum.Failed)
						}
						ours = append(ours, time.Duration(sum.Seconds*float64(time.Second)))
					} else {
						all := bodies(b, target.sendN)
						start := time.Now()
						if err := bareSend(context.Background(), be.Queue, all); err != nil {
							b.Fatal(err)
						}
						bare = append(bare, time.Since(start))
					}
					s.drop(b)
				}
			}
			report(b, "producer", target.sendN, ours, bare)
		})
	}
}

// floors are the lowest ratios the benchmarks accept, per side; docs/testing.md
// states them and TestDocsStateTheBenchmarkFloors keeps the two the same. Below a floor the benchmark fails: the framework then costs more than
// its parsing, metrics and visibility keeping can explain.
var floors = map[string]float64{"consumer": 0.60, "producer": 0.60}

// report prints messages per second of each side's median run and their ratio,
// and fails below the side's floor.
func report(b *testing.B, what string, perRun int, ours, bare []time.Duration) {
	o, r := float64(perRun)/median(ours).Seconds(), float64(perRun)/median(bare).Seconds()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(o, what+"-msg/s")
	b.ReportMetric(r, "bare-msg/s")
	b.ReportMetric(o/r, "ratio")
	b.Logf("%s: %.0f msg/s, bare loop %.0f msg/s, ratio %.2f (median of %d runs each; slowest %s and %s)",
		what, o, r, o/r, len(ours), slices.Max(ours).Round(time.Millisecond), slices.Max(bare).Round(time.Millisecond))
	if floor, ok := floors[what]; !ok || o/r < floor {
		b.Errorf("%s: ratio %.2f is below the floor %.2f that docs/testing.md states", what, o/r, floor)
	}
}

// TestDocsStateTheBenchmarkFloors: the floors the benchmarks enforce are the
// ones the testing page promises (the README links it).
func TestDocsStateTheBenchmarkFloors(t *testing.T) {
	readme, err := os.ReadFile("../../docs/testing.md")
	if err != nil {
		t.Fatal(err)
	}
	for what, floor := range floors {
		want := fmt.Sprintf("%s ratio below %.2f", what, floor)
		if !strings.Contains(string(readme), want) {
			t.Errorf("docs/testing.md does not say %q", want)
		}
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Sorted(slices.Values(d))
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// Package producer sends work messages in batches at a bounded rate, to the
// work queue or, as events, to the stack's router.
package producer

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edw-dev/edw/workload/internal/message"
)

// Sender is where messages go: a queue.Queue or a router.Publisher.
type Sender interface {
	Send(ctx context.Context, bodies [][]byte) error
	MaxBatch() int
}

// partial is a send error after which some of the batch was delivered (an
// EventBridge call can accept some entries and refuse others).
type partial interface {
	error
	Delivered() int
}

// Config says what to send.
type Config struct {
	// Count is how many messages; 0 sends until ctx ends.
	Count int
	// Rate is messages per second; 0 is unlimited.
	Rate        float64
	Concurrency int
	Msg         string
	// Progress, when set, is called every ProgressEvery and once at the end.
	Progress      func(Summary)
	ProgressEvery time.Duration
	// MaxConsecutiveFailures is how many sends in a row may fail before Run
	// gives up; a queue that refuses every send is not worth sending to forever.
	// 0 means DefaultMaxConsecutiveFailures.
	MaxConsecutiveFailures int
	// OnFirstError, when set, is told the first send error as it happens, so a
	// user learns the cause at once, not when Run gives up.
	OnFirstError func(error)
}

// DefaultMaxConsecutiveFailures stops a producer whose queue has refused three
// sends in a row; each send has already been retried by the SDK.
const DefaultMaxConsecutiveFailures = 3

// Summary is the producer's result line.
type Summary struct {
	Sent    int64   `json:"sent"`
	Failed  int64   `json:"failed"`
	Seconds float64 `json:"seconds"`
	Rate    float64 `json:"rate"`
	// FailedSends counts the send calls (batches) that failed.
	FailedSends int64 `json:"failedSends,omitempty"`
	// FirstError is why the first failed send failed.
	FirstError string `json:"firstError,omitempty"`
	// GaveUp says Run stopped because the queue refused MaxConsecutiveFailures
	// sends in a row.
	GaveUp bool `json:"gaveUp,omitempty"`
}

// sendGrace is how long sends in flight may finish once Run is stopped.
const sendGrace = 5 * time.Second

// Run sends until Count messages were attempted, ctx ends, or the queue refused
// MaxConsecutiveFailures sends in a row (then Summary.GaveUp is set).
func Run(ctx context.Context, q Sender, cfg Config) Summary {
	start := time.Now()
	limit := cfg.MaxConsecutiveFailures
	if limit <= 0 {
		limit = DefaultMaxConsecutiveFailures
	}
	// Generation stops when ctx ends (SIGTERM) or Run gives up. Sends already
	// in flight run on: one cut off half way may have landed, and the summary
	// would count it failed. They get sendGrace after ctx ends; giving up
	// cancels them at once.
	stopped := ctx
	ctx, giveUp := context.WithCancel(ctx)
	defer giveUp()
	sendCtx, cancelSends := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSends()
	defer context.AfterFunc(stopped, func() { time.AfterFunc(sendGrace, cancelSends) })()
	var (
		sent, failed, failedSends, consecutive atomic.Int64
		mu                                     sync.Mutex
		firstErr                               error
		gaveUp                                 bool
	)
	summary := func() Summary {
		s := Summary{Sent: sent.Load(), Failed: failed.Load(), FailedSends: failedSends.Load(), Seconds: time.Since(start).Seconds()}
		if s.Seconds > 0 {
			s.Rate = float64(s.Sent) / s.Seconds
		}
		mu.Lock()
		if firstErr != nil {
			s.FirstError = firstErr.Error()
		}
		mu.Unlock()
		return s
	}

	batches := make(chan [][]byte)
	go func() {
		defer close(batches)
		batch := q.MaxBatch()
		var tick <-chan time.Time
		if cfg.Rate > 0 {
			// One batch per tick keeps the average at Rate without bursts above a batch.
			t := time.NewTicker(time.Duration(float64(batch) / cfg.Rate * float64(time.Second)))
			defer t.Stop()
			tick = t.C
		}
		for n := 0; cfg.Count == 0 || n < cfg.Count; {
			size := batch
			if cfg.Count > 0 {
				size = min(batch, cfg.Count-n)
			}
			bodies := make([][]byte, 0, size)
			for i := 0; i < size; i++ {
				raw, err := message.Encode(message.Body{ID: newID(), Msg: fmt.Sprintf("%s %d", cfg.Msg, n+i), SrcStamp: time.Now()})
				if err != nil {
					failed.Add(1)
					continue
				}
				bodies = append(bodies, raw)
			}
			n += size
			select {
			case <-ctx.Done():
				return
			case batches <- bodies:
			}
			if tick != nil {
				select {
				case <-ctx.Done():
					return
				case <-tick:
				}
			}
		}
	}()

	var wg sync.WaitGroup
	for i := 0; i < max(cfg.Concurrency, 1); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for bodies := range batches {
				if ctx.Err() != nil {
					failed.Add(int64(len(bodies))) // stopped: never sent
					continue
				}
				err := q.Send(sendCtx, bodies)
				if err == nil {
					consecutive.Store(0)
					sent.Add(int64(len(bodies)))
					continue
				}
				delivered := 0
				var p partial
				if errors.As(err, &p) {
					delivered = min(p.Delivered(), len(bodies))
				}
				sent.Add(int64(delivered))
				failed.Add(int64(len(bodies) - delivered))
				if sendCtx.Err() != nil {
					continue // cut off, not refused
				}
				failedSends.Add(1)
				mu.Lock()
				if firstErr == nil {
					firstErr = err
					if cfg.OnFirstError != nil {
						cfg.OnFirstError(err)
					}
				}
				if consecutive.Add(1) >= int64(limit) && !gaveUp {
					gaveUp = true
					giveUp()
					cancelSends()
				}
				mu.Unlock()
			}
		}()
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	if cfg.Progress != nil && cfg.ProgressEvery > 0 {
		t := time.NewTicker(cfg.ProgressEvery)
		defer t.Stop()
	loop:
		for {
			select {
			case <-done:
				break loop
			case <-t.C:
				cfg.Progress(summary())
			}
		}
	}
	<-done
	s := summary()
	if cfg.Progress != nil {
		cfg.Progress(s)
	}
	s.GaveUp = gaveUp
	return s
}

// newID is a random (version 4) UUID.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

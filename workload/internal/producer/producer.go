// Package producer sends work messages in batches at a bounded rate.
package producer

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edw-dev/edw/workload/internal/message"
	"github.com/edw-dev/edw/workload/internal/queue"
)

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
}

// Summary is the producer's result line.
type Summary struct {
	Sent    int64   `json:"sent"`
	Failed  int64   `json:"failed"`
	Seconds float64 `json:"seconds"`
	Rate    float64 `json:"rate"`
}

// Run sends until Count messages were attempted or ctx ends.
func Run(ctx context.Context, q queue.Queue, cfg Config) Summary {
	start := time.Now()
	var sent, failed atomic.Int64
	summary := func() Summary {
		s := Summary{Sent: sent.Load(), Failed: failed.Load(), Seconds: time.Since(start).Seconds()}
		if s.Seconds > 0 {
			s.Rate = float64(s.Sent) / s.Seconds
		}
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
				if err := q.Send(ctx, bodies); err != nil {
					failed.Add(int64(len(bodies)))
					continue
				}
				sent.Add(int64(len(bodies)))
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

// Package worker is the consumer's loop: receive a batch, process each message
// with bounded concurrency, write its result, then delete it. It knows the queue
// and the store only through their interfaces.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edw-dev/edw/workload/internal/failure"
	"github.com/edw-dev/edw/workload/internal/message"
	"github.com/edw-dev/edw/workload/internal/queue"
	"github.com/edw-dev/edw/workload/internal/store"
	"github.com/edw-dev/edw/workload/internal/telemetry"
)

// Config tunes the loop.
type Config struct {
	// Receivers is how many receive loops run at once; each processes its batch
	// concurrently, so at most Receivers × batch messages are in flight.
	Receivers int
	// Wait is the long-poll wait of one receive.
	Wait time.Duration
	// MaxReceiveCount is the receive after which a message that still fails is
	// dead-lettered.
	MaxReceiveCount int
	// Visibility is the queue's visibility timeout; in-flight messages are
	// extended every half of it so slow work is not redelivered to another pod.
	Visibility time.Duration
	// DrainTimeout bounds how long in-flight work may finish after shutdown starts.
	DrainTimeout time.Duration
	// ExitWhenIdle, when positive, ends Run once no message arrived for that long.
	ExitWhenIdle time.Duration
	// ProcessedBy names this consumer in result rows (the pod name).
	ProcessedBy string
	// WriteAttempts is how often a failing write is tried within one receive.
	WriteAttempts int
	// Route is the route this consumer serves (EDW_ROUTE), empty on a single
	// pipeline: it prefixes every result's id and is stored in the row.
	Route string
	// StallAfter is how long one receive loop iteration (a receive and the
	// batch it brought, or a failed receive and its backoff) may take before
	// the health endpoint reports the consumer stalled; zero means
	// StallLimit(Wait). It must exceed Wait, or an empty long poll would trip it.
	StallAfter time.Duration
}

// stallSlack is what an iteration may take beyond the long poll: three of
// the backends' 30s attempt timeouts (backend.DefaultAttemptTimeout), so a
// receive or a write whose attempts hang twice and then succeed is slow, not
// stalled. A normal iteration takes the wait plus milliseconds.
const stallSlack = 90 * time.Second

// StallLimit is the default stall limit for a long-poll wait: the wait itself
// (an empty long poll takes all of it) plus stallSlack.
func StallLimit(wait time.Duration) time.Duration { return wait + stallSlack }

// pollGrace is how long a receive in progress at shutdown may still answer.
const pollGrace = 750 * time.Millisecond

// Worker runs the loop.
type Worker struct {
	q       queue.Queue
	s       store.Store
	metrics *telemetry.Metrics
	health  *telemetry.Health
	log     *slog.Logger
	cfg     Config
	now     func() time.Time

	// lastReceive is when messages last arrived or work last finished.
	lastReceive atomic.Int64
	// lastFailure is when a receive last failed; lastEmpty when one last reached
	// the queue and found it empty. Idle means the queue answered "empty", never
	// that it could not be reached.
	lastFailure, lastEmpty atomic.Int64
	// inFlight counts batches being processed: a slow batch is not idleness.
	inFlight atomic.Int64
}

// New checks cfg and returns a worker.
func New(q queue.Queue, s store.Store, m *telemetry.Metrics, h *telemetry.Health, log *slog.Logger, cfg Config) (*Worker, error) {
	switch {
	case cfg.Receivers < 1:
		return nil, fmt.Errorf("receivers %d: want at least 1", cfg.Receivers)
	case cfg.MaxReceiveCount < 1:
		return nil, fmt.Errorf("max receive count %d: want at least 1", cfg.MaxReceiveCount)
	case cfg.Visibility < 2*time.Second:
		return nil, fmt.Errorf("visibility timeout %s: want at least 2s", cfg.Visibility)
	case cfg.StallAfter != 0 && cfg.StallAfter <= cfg.Wait:
		return nil, fmt.Errorf("stall limit %s: want more than the long-poll wait %s, or 0 for %s", cfg.StallAfter, cfg.Wait, StallLimit(cfg.Wait))
	}
	if cfg.StallAfter == 0 {
		cfg.StallAfter = StallLimit(cfg.Wait)
	}
	if cfg.WriteAttempts < 1 {
		cfg.WriteAttempts = 3
	}
	return &Worker{q: q, s: s, metrics: m, health: h, log: log, cfg: cfg, now: time.Now}, nil
}

// Run processes messages until ctx ends (SIGTERM) or the queue has been idle for
// ExitWhenIdle. On shutdown it stops receiving, lets in-flight messages finish for
// up to DrainTimeout, and returns nil: anything unfinished is still on the queue.
func (w *Worker) Run(ctx context.Context) error {
	receiving, stop := context.WithCancel(ctx)
	defer stop()
	// Work outlives the receive context so SIGTERM finishes what was received.
	working, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()

	// A receive in progress when shutdown starts gets pollGrace to answer by
	// itself: on a busy queue it answers within milliseconds, and cutting it
	// off could leave messages dequeued for nobody, hidden for a whole
	// visibility timeout. One still waiting after that is an idle long poll,
	// and is cancelled, so an idle consumer exits within about a second.
	polling, cancelPolls := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelPolls()
	defer context.AfterFunc(ctx, func() { time.AfterFunc(pollGrace, cancelPolls) })()

	w.lastReceive.Store(w.now().UnixNano())
	w.lastFailure.Store(0)
	w.lastEmpty.Store(0)
	var idle atomic.Bool
	if w.cfg.ExitWhenIdle > 0 {
		go w.watchIdle(receiving, stop, &idle)
	}

	w.health.Watch(w.cfg.StallAfter)
	var wg sync.WaitGroup
	for i := 0; i < w.cfg.Receivers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer w.health.End(i)
			w.receiveLoop(i, polling, receiving, working)
		}()
	}
	<-receiving.Done()
	w.health.Stopping()

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	drain := w.cfg.DrainTimeout
	if drain <= 0 {
		drain = 30 * time.Second
	}
	select {
	case <-done:
	case <-time.After(drain):
		cancelWork()
		w.log.Warn("drain timeout: unfinished messages stay on the queue for redelivery", "timeout", drain)
		<-done
	}
	if idle.Load() {
		w.log.Info("queue idle, exiting", "idle", w.cfg.ExitWhenIdle)
	} else {
		w.log.Info("stopped receiving and drained in-flight messages")
	}
	return nil
}

func (w *Worker) watchIdle(ctx context.Context, stop context.CancelFunc, idle *atomic.Bool) {
	tick := time.NewTicker(min(w.cfg.ExitWhenIdle/4, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			// The window restarts at every message and every failed receive, and
			// must hold at least one receive that reached the queue and found it empty.
			since := max(w.lastReceive.Load(), w.lastFailure.Load())
			quiet := w.now().Sub(time.Unix(0, since)) >= w.cfg.ExitWhenIdle
			if w.inFlight.Load() == 0 && quiet && w.lastEmpty.Load() >= since {
				idle.Store(true)
				stop()
				return
			}
		}
	}
}

// receiveLoop receives until receiving ends. polling ends pollGrace after
// shutdown (SIGTERM) and cancels the receive then in progress, long poll
// included, so an idle consumer stops within about a second instead of after
// up to one Wait (20s); a message the queue handed to a cancelled call is not
// lost: it stays hidden for one visibility timeout and is then delivered again.
// Going idle ends only receiving: the poll in progress runs out normally.
// Processing runs on working and is never cut short by either.
// Each iteration tells the health check it began, so one stuck anywhere
// (a receive that never returns, a batch that never finishes) shows as a
// stall once it outlasts the limit.
func (w *Worker) receiveLoop(loop int, polling, receiving, working context.Context) {
	backoff := 100 * time.Millisecond
	for receiving.Err() == nil {
		w.health.Begin(loop)
		msgs, err := w.q.Receive(polling, w.q.MaxBatch(), w.cfg.Wait)
		if receiving.Err() != nil && len(msgs) == 0 {
			return
		}
		if err != nil {
			w.lastFailure.Store(w.now().UnixNano())
			w.health.SetReady(false)
			w.log.Warn("receive failed; retrying", "err", err, "backoff", backoff)
			if sleep(receiving, backoff) != nil {
				return
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		w.health.SetReady(true)
		if len(msgs) == 0 {
			w.lastEmpty.Store(w.now().UnixNano())
			continue
		}
		w.lastReceive.Store(w.now().UnixNano())
		w.metrics.Received.Add(float64(len(msgs)))
		w.processBatch(working, msgs)
	}
}

// outcome of one message.
type outcome int

const (
	ack   outcome = iota // result written (or already there): delete
	dead                 // dead-lettered: delete
	retry                // leave on the queue for redelivery
)

func (w *Worker) processBatch(ctx context.Context, msgs []*queue.Message) {
	start := w.now()
	// Time spent working, deletes and their retries included, counts as activity
	// for --exit-when-idle.
	w.inFlight.Add(1)
	w.metrics.InFlight.Add(float64(len(msgs)))
	defer func() {
		w.lastReceive.Store(w.now().UnixNano())
		w.metrics.InFlight.Sub(float64(len(msgs)))
		w.inFlight.Add(-1)
	}()
	// keepHidden must have returned before Delete reads the handles: an extend
	// replaces a message's pop receipt, and an extend cut off half way may have
	// replaced it on the server already, so it is never cancelled, only not repeated.
	stopHiding, hidingDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(hidingDone)
		w.keepHidden(ctx, stopHiding, msgs)
	}()

	outcomes := make([]outcome, len(msgs))
	var wg sync.WaitGroup
	for i, m := range msgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outcomes[i] = w.process(ctx, m)
		}()
	}
	wg.Wait()
	close(stopHiding)
	<-hidingDone

	var remove []*queue.Message
	for i, m := range msgs {
		if outcomes[i] != retry {
			remove = append(remove, m)
		}
	}
	if len(remove) == 0 {
		return
	}
	if err := w.deleteWithRetry(ctx, remove); err != nil {
		// The results are written; redelivery finds them and deletes again.
		w.log.Warn("delete failed; messages will be redelivered and recognised as duplicates", "err", err, "count", len(remove))
		return
	}
	elapsed := w.now().Sub(start).Seconds()
	for range remove {
		w.metrics.Processing.Observe(elapsed)
	}
}

// deleteWithRetry rides out a short outage: the results are already written, so
// retrying is safe, and a delete that succeeds now spares a redelivery later.
func (w *Worker) deleteWithRetry(ctx context.Context, msgs []*queue.Message) error {
	var err error
	for attempt := range 4 {
		if attempt > 0 && sleep(ctx, time.Duration(250<<attempt)*time.Millisecond) != nil {
			break
		}
		if err = w.q.Delete(ctx, msgs); err == nil {
			return nil
		}
	}
	return err
}

// keepHidden extends the visibility of a batch still in flight every half timeout.
func (w *Worker) keepHidden(ctx context.Context, stop <-chan struct{}, msgs []*queue.Message) {
	tick := time.NewTicker(w.cfg.Visibility / 2)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
			for _, m := range msgs {
				if err := w.q.Extend(ctx, m, w.cfg.Visibility); err != nil && ctx.Err() == nil {
					w.log.Warn("extend visibility failed", "id", m.ID, "err", err)
				}
			}
		}
	}
}

func (w *Worker) process(ctx context.Context, m *queue.Message) outcome {
	body, err := message.Decode(m.Body, m.ID, w.cfg.Route)
	if err != nil {
		// A malformed body or envelope fails the same way on every receive:
		// dead-letter it now.
		return w.deadLetter(ctx, m, err, true)
	}
	if ahead := body.SrcStamp.Sub(w.now()); ahead > message.MaxClockSkew {
		return w.deadLetter(ctx, m, fmt.Errorf("%w: \"srcStamp\" %s is %s ahead of the consumer's clock; up to %s is taken for clock skew",
			message.ErrInvalid, body.SrcStamp.Format(message.StampLayout), ahead.Round(time.Second), message.MaxClockSkew), true)
	}
	result := func(now time.Time) store.Result {
		return store.Result{
			ID:        body.ID,
			Msg:       body.Msg,
			SrcStamp:  body.SrcStamp,
			DestStamp: now,
			// A srcStamp ahead of this clock (skew between hosts, within
			// MaxClockSkew) counts as processed at once, never in negative time.
			ProcessingSeconds: max(0, now.Sub(body.SrcStamp).Seconds()),
			ProcessedBy:       w.cfg.ProcessedBy,
			ReceiveCount:      m.ReceiveCount,
			Route:             body.Route,
			Source:            body.Source,
			Type:              body.Type,
		}
	}
	if err := w.s.Validate(result(w.now())); err != nil {
		return w.deadLetter(ctx, m, err, true)
	}
	var lastErr error
	for attempt := 0; attempt < w.cfg.WriteAttempts; attempt++ {
		if attempt > 0 && sleep(ctx, time.Duration(100<<(2*attempt))*time.Millisecond) != nil {
			break
		}
		r := result(w.now())
		written, err := w.s.Put(ctx, r)
		var conflict *store.ConflictError
		switch {
		case err == nil && written:
			w.metrics.Processed.Inc()
			w.metrics.Latency.Observe(r.ProcessingSeconds)
			if r.SrcStamp.After(r.DestStamp) {
				w.metrics.FutureStamps.Inc()
				w.log.Debug("srcStamp ahead of this consumer's clock; stored with messageProcessingTime 0",
					"id", r.ID, "srcStamp", r.SrcStamp.Format(message.StampLayout), "ahead", r.SrcStamp.Sub(r.DestStamp))
			}
			return ack
		case err == nil:
			w.metrics.Duplicates.Inc()
			return ack
		case errors.As(err, &conflict):
			// Not a redelivery: another message was sent with this id. The first
			// result stands (one id, one row) and no retry or replay could store
			// this one, so it is deleted like a duplicate, but loudly: a warning
			// with both sides, its content included, and a metric of its own.
			w.metrics.Conflicts.Inc()
			w.log.Warn("conflicting message: its id already holds a result with different content; the stored result stays",
				"id", r.ID, "queueMessageId", m.ID, "receiveCount", m.ReceiveCount,
				"srcStamp", r.SrcStamp.Format(message.StampLayout), "msg", clip(r.Msg, 256),
				"storedSrcStamp", conflict.Existing.SrcStamp.Format(message.StampLayout), "storedMsg", clip(conflict.Existing.Msg, 256),
				"storedProcessedBy", conflict.Existing.ProcessedBy, "storedReceiveCount", conflict.Existing.ReceiveCount)
			return ack
		case failure.IsPermanent(err):
			return w.deadLetter(ctx, m, err, true)
		}
		lastErr = err
	}
	w.metrics.Failed.Inc()
	if m.ReceiveCount >= w.cfg.MaxReceiveCount {
		return w.deadLetter(ctx, m, fmt.Errorf("gave up after %d receives: %w", m.ReceiveCount, lastErr), false)
	}
	w.log.Warn("write failed; message left for redelivery", "id", m.ID, "receiveCount", m.ReceiveCount, "err", lastErr)
	return retry
}

// deadLetter moves m to the dead-letter queue with the reason. permanent says
// it goes at once, because no retry could process it.
func (w *Worker) deadLetter(ctx context.Context, m *queue.Message, reason error, permanent bool) outcome {
	if err := w.q.DeadLetter(ctx, m, reason.Error()); err != nil {
		// Never drop: without a copy in the dead-letter queue the message stays put.
		w.log.Error("dead-letter failed; message left on the queue", "id", m.ID, "reason", reason, "err", err)
		return retry
	}
	w.metrics.Poisoned.Inc()
	if permanent {
		w.metrics.Permanent.Inc()
	}
	w.log.Warn("message dead-lettered", "id", m.ID, "receiveCount", m.ReceiveCount, "reason", reason.Error(),
		"permanent", permanent, "invalid", errors.Is(reason, message.ErrInvalid))
	return dead
}

// clip shortens s for a log line.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/edw-dev/edw/lab/internal/keda"
	"github.com/edw-dev/edw/lab/internal/kubelet"
)

// run is one scaling run on the lab: KEDA operator, the workload as rendered
// (identity swapped), the process kubelet, and a per-second timeline.
type run struct {
	l        *labState
	w        *workload
	cs       kubernetes.Interface
	op       *keda.Operator
	k        *kubelet.Kubelet
	tl       *timeline
	hpa      string
	paused   atomic.Bool
	stopKube context.CancelFunc
	kubeDone chan struct{}
}

func startRun(ctx context.Context, t *testing.T, render string, at placement, opts ...func(*run)) *run {
	t.Helper()
	l := lab(t)
	if l.env.Consumer == "" || l.env.Producer == "" {
		t.Skip("EDW_LAB_CONSUMER or EDW_LAB_PRODUCER not set")
	}
	op := l.keda(t)
	cs, err := kubernetes.NewForConfig(l.cluster.REST)
	if err != nil {
		t.Fatal(err)
	}
	r := &run{l: l, cs: cs}
	for _, o := range opts {
		o(r)
	}
	r.op = op
	r.w = newWorkload(ctx, t, l, render, at)
	dir := t.TempDir()
	r.w.deploy(ctx, t, l, cs)
	r.hpa = "keda-hpa-" + r.w.scaled.GetName()
	logs := filepath.Join(dir, "pods")
	if err := os.MkdirAll(logs, 0o700); err != nil {
		t.Fatal(err)
	}
	r.k = kubelet.New(kubelet.Config{
		Client: cs, Namespace: r.w.namespace, Name: r.w.deployment.GetName(), Container: "consumer",
		Binary: l.env.Consumer, LogDir: logs, Substitute: r.w.pod, Paused: r.isPaused,
	})
	kctx, cancel := context.WithCancel(context.Background())
	r.stopKube, r.kubeDone = cancel, make(chan struct{})
	go func() {
		defer close(r.kubeDone)
		_ = r.k.Run(kctx)
	}()
	t.Cleanup(r.stopKubelet)
	waitScaledObjectReady(ctx, t, l, r.w.scaled, r.op)
	return r
}

func (r *run) isPaused() bool { return r.paused.Load() }

func (r *run) stopKubelet() {
	r.stopKube()
	<-r.kubeDone
}

// until samples every second until done returns true; it fails the test after limit.
func (r *run) until(ctx context.Context, t *testing.T, limit time.Duration, what string, done func(sample) bool) sample {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		s := r.tl.record(ctx, r.w, r.k, r.cs, r.hpa)
		if done(s) {
			return s
		}
		if err := r.op.Check(); err != nil {
			t.Fatal(err)
		}
		if err := r.l.cluster.Check(); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			r.tl.print(t, "timeline so far")
			t.Fatalf("%s: not within %s; operator log:\n%s", what, limit, tailFile(r.op.Log(), 3000))
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(time.Until(r.tl.start.Add(s.At + time.Second))):
		}
	}
}

// TestKEDAScalesTheConsumer: the real KEDA operator reads the ScaledObject as
// rendered (identity swapped for the emulators), scales the consumer from zero,
// real consumer processes drain the queue into the table, and KEDA scales back to
// zero after the cooldown. Both clouds.
func TestKEDAScalesTheConsumer(t *testing.T) {
	// Both clouds at once (and beside TestKEDAAndHPAScaleZeroToN), to wait out
	// the cooldown once: Azure's workload moves to its own namespace.
	t.Parallel()
	for _, tc := range []struct {
		cloud, render string
		at            placement
	}{
		{"aws", "aws", placement{}}, {"azure", "azure-auto", placement{namespace: "edw-azure"}},
	} {
		t.Run(tc.cloud, func(t *testing.T) {
			t.Parallel()
			scaleFromZero(t, tc.render, tc.at, 300)
		})
	}
}

// scaleFromZero runs N messages through the workload and checks the whole cycle.
func scaleFromZero(t *testing.T, render string, at placement, n int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	r := startRun(ctx, t, render, at)
	rule := r.w.rule
	t.Logf("%s: ScaledObject as rendered: min %d max %d queueLength %d activation %d polling %s cooldown %s",
		render, rule.Min, rule.Max, rule.Target, rule.Activation, rule.Polling, rule.Cooldown)
	r.tl = &timeline{start: time.Now()}
	// The Deployment is created without replicas (1 by default); an inactive
	// KEDA takes it to zero first.
	r.until(ctx, t, rule.Polling+30*time.Second, "KEDA scales the idle consumer to zero", func(s sample) bool {
		return s.Desired == 0 && s.Running == 0
	})

	r.tl = &timeline{start: time.Now()}
	if err := r.w.produce(ctx, r.l, n); err != nil {
		t.Fatal(err)
	}
	sent := time.Since(r.tl.start)
	r.until(ctx, t, rule.Polling+3*time.Minute, fmt.Sprintf("%d rows", n), func(s sample) bool { return s.Rows >= n })
	drained := r.until(ctx, t, 30*time.Second, "queue empty", func(s sample) bool { return s.Backlog == 0 })
	end := r.until(ctx, t, rule.Cooldown+rule.Polling+time.Minute, "KEDA scales back to zero", func(s sample) bool {
		return s.Desired == 0 && s.Running == 0
	})
	r.tl.print(t, fmt.Sprintf("%s: %d messages, per second", render, n))

	up := r.tl.first(func(s sample) bool { return s.Desired >= 1 })
	firstRow := r.tl.first(func(s sample) bool { return s.Rows > 0 })
	peak := 0
	for _, s := range r.tl.samples {
		peak = max(peak, s.Desired)
	}
	t.Logf("%s: sent %d in %s; KEDA 0→1 after %s; first-message → first-row %s; all %d rows after %s; "+
		"queue empty → 0 replicas %s (cooldown %s, polling %s); peak replicas %d",
		render, n, sent.Round(time.Millisecond), up, firstRow, n, r.tl.first(func(s sample) bool { return s.Rows >= n }),
		end.At-drained.At, rule.Cooldown, rule.Polling, peak)

	rows, err := r.w.backend.Rows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids, msgs := map[string]int{}, map[string]int{}
	for _, row := range rows {
		ids[row.ID]++
		msgs[row.Msg]++
	}
	if len(rows) != n || len(ids) != n || len(msgs) != n {
		t.Errorf("want %d rows with %d distinct ids and messages, got %d rows, %d ids, %d messages", n, n, len(rows), len(ids), len(msgs))
	}
	if up < 0 || peak < 1 {
		t.Error("KEDA never scaled the consumer up")
	}
	if st := r.k.Status(); st.Restarts != 0 {
		t.Errorf("%d consumer processes exited on their own", st.Restarts)
	}
	if back := end.At - drained.At; back < rule.Cooldown-rule.Polling {
		t.Errorf("scaled to zero %s after the queue emptied, before the %s cooldown", back, rule.Cooldown)
	}
}

package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// decision is one replica count the lab's KEDA and HPA settled on for a backlog;
// the workload module's TestRuleMatchesTheLab replays them through the demo's rule.
type decision struct {
	Backlog  int `json:"backlog"`
	Current  int `json:"current"`
	Desired  int `json:"desired"`
	CooledMs int `json:"cooledMs,omitempty"` // ms from the queue emptying to zero replicas
	IdleMs   int `json:"idleMs,omitempty"`   // ms since the queue emptied, within the cooldown
}

// report is what the scaling tests hand the workload module's comparison.
type report struct {
	Rule struct {
		Min, Max, Target, Activation int
		CooldownMs, PollingMs        int
	} `json:"rule"`
	Decisions []decision `json:"decisions"`
}

// TestKEDAAndHPAScaleZeroToN: beyond one replica KEDA hands over to the HPA it
// creates, which kube-controller-manager runs against KEDA's metrics adapter
// through the aggregator. With the pods held pending (the process kubelet
// paused), the backlog stays put, so the replica count must settle on
// ceil(backlog / queueLength) within min..max, as Kubernetes computes it; then
// the pods run, drain the queue, and KEDA scales to zero after the cooldown.
func TestKEDAAndHPAScaleZeroToN(t *testing.T) {
	l := lab(t)
	if l.env.KedaAdapter == "" || l.env.ControllerManager == "" || l.env.NetNS == "" {
		t.Skip("needs EDW_LAB_KEDA_ADAPTER, EDW_LAB_KUBE_CONTROLLER_MANAGER and EDW_LAB_NETNS")
	}
	// Beside TestKEDAScalesTheConsumer when the test command started a second
	// pair of SQS and DynamoDB emulators: the same queue names, another namespace.
	at := placement{}
	if l.env.SQSEndpoint2 != "" && l.env.DynamoDBEndpoint2 != "" {
		at = placement{namespace: "edw-hpa", sqs: l.env.SQSEndpoint2, dynamodb: l.env.DynamoDBEndpoint2}
		t.Parallel()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	r := startRun(ctx, t, "aws", at, func(r *run) { r.paused.Store(true) })
	if l.adapter == nil {
		t.Fatal("the metrics adapter is not running")
	}
	rule := r.w.rule
	t.Logf("ScaledObject as rendered: min %d max %d queueLength %d activation %d polling %s cooldown %s",
		rule.Min, rule.Max, rule.Target, rule.Activation, rule.Polling, rule.Cooldown)
	var rep report
	rep.Rule.Min, rep.Rule.Max, rep.Rule.Target, rep.Rule.Activation = rule.Min, rule.Max, rule.Target, rule.Activation
	rep.Rule.CooldownMs, rep.Rule.PollingMs = int(rule.Cooldown.Milliseconds()), int(rule.Polling.Milliseconds())

	r.tl = &timeline{start: time.Now()}
	idle := r.until(ctx, t, rule.Polling+30*time.Second, "KEDA scales the idle consumer to zero", func(s sample) bool {
		return s.Desired == 0
	})
	rep.Decisions = append(rep.Decisions, decision{Backlog: idle.Backlog, Current: 1, Desired: 0})

	// Backlogs that need 3, 9 and more than max replicas at the rendered queueLength.
	total := 0
	for _, want := range []int{3, 9, rule.Max + 5} {
		add := want*rule.Target - total - rule.Target/2
		if err := r.w.produce(ctx, r.l, add); err != nil {
			t.Fatal(err)
		}
		total += add
		expect := min(max((total+rule.Target-1)/rule.Target, max(rule.Min, 1)), rule.Max)
		before := r.k.Status().Desired
		// Scale-up is rate-limited (the HPA's default behavior: +100% or +4 pods
		// per 15 s) and the HPA syncs every 15 s: allow a few periods.
		s := r.until(ctx, t, rule.Polling+2*time.Minute, fmt.Sprintf("backlog %d: %d replicas", total, expect), func(s sample) bool {
			return s.Backlog == total && s.Desired == expect && s.HPADesired == expect
		})
		// Settled: it must stay there, every second of the next thirty.
		hold := r.until(ctx, t, 40*time.Second, "hold", func(x sample) bool { return x.At >= s.At+30*time.Second })
		held := r.tl.between(s.At, hold.At)
		if len(held) < 25 {
			t.Errorf("backlog %d: only %d samples in the %s hold", total, len(held), hold.At-s.At)
		}
		for _, x := range held {
			// HPADesired is -1 for a second whose read failed: unknown, not a move.
			if x.Desired != expect || (x.HPADesired >= 0 && x.HPADesired != expect) {
				t.Errorf("backlog %d: at %s replicas were %d (HPA %d), not %d, while the backlog stood still",
					total, x.At, x.Desired, x.HPADesired, expect)
				break
			}
		}
		t.Logf("backlog %d (queueLength %d): KEDA/HPA settled on %d replicas, ceil(%d/%d) within %d..%d = %d",
			total, rule.Target, hold.Desired, total, rule.Target, max(rule.Min, 1), rule.Max, expect)
		rep.Decisions = append(rep.Decisions, decision{Backlog: total, Current: before, Desired: hold.Desired})
	}
	h, err := r.cs.AutoscalingV2().HorizontalPodAutoscalers(r.w.namespace).Get(ctx, r.hpa, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(h.Spec)
	t.Logf("the HPA KEDA created: %s", b)

	// The pods start; they drain the queue; KEDA scales to zero after the cooldown.
	r.paused.Store(false)
	r.until(ctx, t, 3*time.Minute, fmt.Sprintf("%d rows", total), func(s sample) bool { return s.Rows >= total })
	drained := r.until(ctx, t, 30*time.Second, "queue empty", func(s sample) bool { return s.Backlog == 0 })
	before := r.k.Status().Desired
	end := r.until(ctx, t, rule.Cooldown+rule.Polling+time.Minute, "KEDA scales back to zero", func(s sample) bool {
		return s.Desired == 0 && s.Running == 0
	})
	// Halfway through the cooldown, with the queue empty: what was running then.
	mid := drained.At + rule.Cooldown/2
	held := r.tl.first(func(s sample) bool { return s.At >= mid })
	for _, s := range r.tl.samples {
		if s.At == held {
			rep.Decisions = append(rep.Decisions, decision{Backlog: 0, Current: before, Desired: s.Desired,
				IdleMs: int((s.At - drained.At).Milliseconds())})
			break
		}
	}
	rep.Decisions = append(rep.Decisions, decision{Backlog: 0, Current: before, Desired: 0,
		CooledMs: int((end.At - drained.At).Milliseconds())})
	r.tl.print(t, fmt.Sprintf("aws, pods held pending at backlogs, then released: %d messages, per second", total))
	rows, err := r.w.backend.Rows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, row := range rows {
		ids[row.ID] = true
	}
	if len(rows) != total || len(ids) != total {
		t.Errorf("want %d rows with distinct ids, got %d rows, %d ids", total, len(rows), len(ids))
	}
	t.Logf("drain with %d replicas: all %d rows after %s; queue empty → 0 replicas %s (cooldown %s)",
		before, total, r.tl.first(func(s sample) bool { return s.Rows >= total }), end.At-drained.At, rule.Cooldown)

	if l.env.Report != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(l.env.Report, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

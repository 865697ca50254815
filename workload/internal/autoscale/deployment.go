package autoscale

import (
	"fmt"
	"time"
)

// Behavior is how the HPA changes replicas (autoscaling/v2). The ScaledObject
// edw deploys sets no advanced.horizontalPodAutoscalerConfig, so Kubernetes'
// defaults apply: DefaultBehavior.
type Behavior struct {
	// SyncPeriod is how often the HPA reads the metric and decides
	// (kube-controller-manager's --horizontal-pod-autoscaler-sync-period);
	// 0 decides at every KEDA poll.
	SyncPeriod time.Duration
	// Tolerance is the ratio of metric to target within which the HPA keeps
	// the current count (--horizontal-pod-autoscaler-tolerance).
	Tolerance float64
	// ScaleUpPods and ScaleUpPercent bound one scale-up per Period: the larger
	// of the two applies (selectPolicy Max). Both 0: no bound.
	ScaleUpPods, ScaleUpPercent int
	// ScaleDownStabilization holds replicas at the highest recommendation of
	// this trailing window.
	ScaleDownStabilization time.Duration
	// ScaleDownPercent bounds one scale-down per Period.
	ScaleDownPercent int
	Period           time.Duration
}

// DefaultBehavior is Kubernetes' default: scale up by max(4 pods, 100%) every
// 15s with no stabilization, scale down by at most 100% every 15s after a 300s
// stabilization window; sync every 15s, tolerance 10%.
func DefaultBehavior() Behavior {
	return Behavior{
		SyncPeriod: 15 * time.Second, Tolerance: 0.1,
		ScaleUpPods: 4, ScaleUpPercent: 100,
		ScaleDownStabilization: 300 * time.Second, ScaleDownPercent: 100,
		Period: 15 * time.Second,
	}
}

// DemoBehavior is what the local demo simulates by default: the HPA's default
// scale-down (300s stabilization, then 100% per 15s), but a scale-up that
// reaches ceil(backlog / target) at the poll that sees the backlog, with no
// tolerance: the HPA's 15s sync, 10% tolerance and scale-up rate limit only
// delay a scale-up by seconds, and leaving them out keeps every printed poll
// checkable against KEDA's rule. DefaultBehavior adds them.
func DemoBehavior() Behavior {
	b := DefaultBehavior()
	b.SyncPeriod, b.Tolerance, b.ScaleUpPods, b.ScaleUpPercent = 0, 0, 0, 0
	return b
}

// Deployment is KEDA and the HPA acting on one Deployment, as deployed: KEDA
// polls the queue every Polling and alone moves between zero and
// max(min, 1) replicas (scale-to-zero after Cooldown since its last active
// poll); above that the HPA, every Behavior.SyncPeriod, wants
// ceil(backlog / target) within [max(min, 1), max], limited by Behavior.
type Deployment struct {
	Rule    Rule
	Polling time.Duration
	// Phase is when KEDA's first poll falls after the first Step. KEDA polls
	// once when its scale loop starts (when the ScaledObject is reconciled)
	// and then every Polling, so for a deployed stack the loop began long
	// before the first message and its phase is anywhere in [0, Polling).
	// 0 polls at the first Step.
	Phase    time.Duration
	Behavior Behavior

	replicas int
	started  bool
	// nextPoll and nextSync keep KEDA's and the HPA's fixed cadences, as their
	// tickers do, however the steps fall.
	nextPoll   time.Time
	nextSync   time.Time
	lastActive time.Time
	active     bool
	recs       []recommendation
}

type recommendation struct {
	at       time.Time
	replicas int
}

// Replicas is the current count.
func (d *Deployment) Replicas() int { return d.replicas }

// Step advances the controllers to now, given the queue length they read
// (waiting and in-flight messages, as KEDA's triggers count by default). It
// returns the replica count and a line saying what changed, or what the
// controllers are waiting for and how long.
func (d *Deployment) Step(now time.Time, backlog int) (int, string) {
	r, b := d.Rule, d.Behavior
	floor := max(r.MinReplicas, 1)
	if !d.started {
		d.started = true
		d.replicas = r.MinReplicas
		if d.Phase > 0 {
			d.nextPoll = now.Add(d.Phase)
		}
	}
	var event string
	if d.nextPoll.IsZero() || !now.Before(d.nextPoll) {
		d.nextPoll = next(d.nextPoll, now, d.Polling)
		d.active = backlog > r.Activation
		if d.active {
			d.lastActive = now
		}
		switch {
		case d.active && d.replicas == 0:
			d.replicas = floor
			if b.SyncPeriod > 0 {
				d.nextSync = now.Add(b.SyncPeriod) // the HPA takes over from its next sync
			}
			event = fmt.Sprintf("KEDA: backlog %d above activation %d, scaled 0 → %d", backlog, r.Activation, floor)
		case !d.active && d.replicas > 0 && r.MinReplicas == 0 && (d.lastActive.IsZero() || now.Sub(d.lastActive) >= r.Cooldown):
			event = fmt.Sprintf("KEDA: cooldown %s since the last poll with messages is over, scaled %d → 0", secs(r.Cooldown), d.replicas)
			d.replicas = 0
		}
	}
	if d.replicas > 0 && (b.SyncPeriod == 0 || !now.Before(d.nextSync)) {
		d.nextSync = next(d.nextSync, now, b.SyncPeriod)
		if hpa := d.sync(now, backlog); hpa != "" && event != "" {
			event += "; " + hpa
		} else if hpa != "" {
			event = hpa
		}
	}
	if event != "" {
		return d.replicas, event
	}
	return d.replicas, d.waiting(now, backlog)
}

// sync is one HPA decision.
func (d *Deployment) sync(now time.Time, backlog int) string {
	r, b := d.Rule, d.Behavior
	cur := d.replicas
	want := cur
	target := max(r.Target, 1)
	if ratio := float64(backlog) / float64(target*cur); ratio < 1-b.Tolerance || ratio > 1+b.Tolerance {
		want = ceilDiv(backlog, target)
	}
	want = clamp(want, max(r.MinReplicas, 1), r.MaxReplicas)

	d.recs = append(d.recs, recommendation{now, want})
	kept := d.recs[:0]
	held := want
	for _, rec := range d.recs {
		if now.Sub(rec.at) <= b.ScaleDownStabilization {
			kept = append(kept, rec)
			held = max(held, rec.replicas)
		}
	}
	d.recs = kept

	next := cur
	switch {
	case want > cur && b.ScaleUpPods == 0 && b.ScaleUpPercent == 0:
		next = want
	case want > cur:
		next = min(want, max(cur+b.ScaleUpPods, cur*(100+b.ScaleUpPercent)/100), r.MaxReplicas)
	case held < cur:
		next = max(held, cur*(100-b.ScaleDownPercent)/100, max(r.MinReplicas, 1))
	}
	if next == cur {
		return ""
	}
	d.replicas = next
	why := fmt.Sprintf("backlog %d at %d per replica wants %d", backlog, target, want)
	if raw := ceilDiv(backlog, target); raw != want && want != cur {
		why += fmt.Sprintf(" (ceil %d, within %d..%d)", raw, max(r.MinReplicas, 1), r.MaxReplicas)
	}
	if next != want {
		why += fmt.Sprintf(", limited to %d", next)
		if next < want {
			why += fmt.Sprintf(" (at most +%d or +%d%% per %s)", b.ScaleUpPods, b.ScaleUpPercent, secs(b.Period))
		} else {
			why += fmt.Sprintf(" (highest recommendation of the last %s)", secs(b.ScaleDownStabilization))
		}
	}
	return fmt.Sprintf("HPA: %s, scaled %d → %d", why, cur, next)
}

// waiting says what holds the current count when nothing changes.
func (d *Deployment) waiting(now time.Time, backlog int) string {
	r, b := d.Rule, d.Behavior
	switch {
	case d.replicas == 0:
		return fmt.Sprintf("KEDA polls every %s (next in %s); it scales from zero above %d messages",
			secs(d.Polling), secs(d.nextPoll.Sub(now)), r.Activation)
	case backlog > r.Activation || r.MinReplicas > 0:
		if held := d.heldBy(now); held > ceilDiv(backlog, max(r.Target, 1)) && held == d.replicas {
			return fmt.Sprintf("HPA scale-down stabilization holds %d replicas (highest recommendation of the last %s)",
				d.replicas, secs(b.ScaleDownStabilization))
		}
		return ""
	}
	// KEDA acts at its first poll once the cooldown since the last active poll
	// has passed: the next poll, or a later one.
	due := d.lastActive.Add(r.Cooldown)
	polls := max(0, (due.Sub(d.nextPoll)+d.Polling-1)/d.Polling)
	at := max(d.nextPoll.Add(polls*d.Polling).Sub(now), 0)
	return fmt.Sprintf("queue empty: waiting for KEDA's cooldown (%s since the last poll with messages) to scale to zero, in about %s; "+
		"meanwhile the HPA's scale-down stabilization (%s) holds %d replicas", secs(r.Cooldown), secs(at), secs(b.ScaleDownStabilization), d.replicas)
}

func (d *Deployment) heldBy(now time.Time) int {
	held := 0
	for _, rec := range d.recs {
		if now.Sub(rec.at) <= d.Behavior.ScaleDownStabilization {
			held = max(held, rec.replicas)
		}
	}
	return held
}

// next is the first tick of a cadence of period after now: from the previous
// tick when there was one, from now otherwise.
func next(prev, now time.Time, period time.Duration) time.Time {
	if prev.IsZero() || period <= 0 {
		return now.Add(period)
	}
	for !prev.After(now) {
		prev = prev.Add(period)
	}
	return prev
}

// secs renders a duration in whole seconds, as the ScaledObject states them.
func secs(d time.Duration) string { return fmt.Sprintf("%ds", int(d.Round(time.Second)/time.Second)) }

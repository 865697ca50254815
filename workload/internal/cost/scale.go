package cost

import (
	"time"

	"github.com/edw-dev/edw/workload/internal/autoscale"
)

// Burst is N messages arriving at once on an idle queue, drained by consumers
// that KEDA and the HPA scale as deployed.
type Burst struct {
	Messages int
	Rule     autoscale.Rule
	Polling  time.Duration
	// PerPod is the messages per second one consumer drains.
	PerPod float64
}

// Timeline is what a burst costs in consumer time.
type Timeline struct {
	Peak int
	// Drained is when the last message was deleted; Zero when the consumers were
	// scaled to zero, both from the burst's arrival.
	Drained, Zero time.Duration
	// PodSeconds are consumer-seconds from the arrival to zero replicas;
	// TailSeconds the part of them after the queue was empty.
	PodSeconds, TailSeconds float64
}

// ConsumerHours is PodSeconds in hours.
func (t Timeline) ConsumerHours() float64 { return t.PodSeconds / 3600 }

// Simulate steps autoscale.Deployment (KEDA's rule with the HPA's default
// behavior, which TestRuleMatchesTheLab holds to what the cluster lab's real
// KEDA and HPA decided) one second at a time while the running consumers
// drain the backlog. Pods start the second they are wanted: pod start-up and
// node provisioning delay both the drain and the scale-down alike, so they
// move the drain, not the tail this compares.
func Simulate(b Burst) Timeline {
	d := &autoscale.Deployment{Rule: b.Rule, Polling: b.Polling, Behavior: autoscale.DefaultBehavior()}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	backlog := float64(b.Messages)
	var tl Timeline
	// The queue is idle before the burst: KEDA polled it empty half an interval
	// before the burst arrived, so it sees the burst half an interval later,
	// the average wait.
	d.Step(t0.Add(-b.Polling/2), 0)
	const step = time.Second
	limit := 24 * time.Hour
	for at := time.Duration(0); at < limit; at += step {
		n, _ := d.Step(t0.Add(at), int(backlog+0.999))
		tl.Peak = max(tl.Peak, n)
		tl.PodSeconds += float64(n) * step.Seconds()
		if backlog <= 0 {
			tl.TailSeconds += float64(n) * step.Seconds()
			if n == 0 {
				tl.Zero = at
				return tl
			}
			continue
		}
		backlog -= float64(n) * b.PerPod * step.Seconds()
		if backlog <= 0 {
			tl.Drained = at + step
		}
	}
	tl.Zero = limit
	return tl
}

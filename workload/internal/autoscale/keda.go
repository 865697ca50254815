// Package autoscale is KEDA's scaling rule for a queue-length trigger (Scaler),
// and KEDA and the HPA acting on a Deployment over time (Deployment), so the
// local demo scales consumer processes as the cluster scales pods.
package autoscale

import "time"

// Rule is a ScaledObject's numbers.
type Rule struct {
	MinReplicas int
	MaxReplicas int
	// Target is the trigger's queueLength: messages per replica.
	Target int
	// Activation is activationQueueLength: the scaler is active only above it.
	Activation int
	// Cooldown is cooldownPeriod: how long after the last active poll KEDA waits
	// before scaling to zero.
	Cooldown time.Duration
}

// Scaler applies the rule poll after poll; it remembers when the trigger was last
// active, as KEDA does.
type Scaler struct {
	Rule       Rule
	lastActive time.Time
}

// Desired is the replica count for a backlog read at now, given the current count.
// Active (backlog above activation): the HPA's ceil(backlog/target), clamped to
// [max(min,1), max]. Inactive: with min > 0 the HPA still holds at least min; with
// min = 0 KEDA keeps the workload up until the cooldown since the last active poll
// has passed, then scales it to zero.
func (s *Scaler) Desired(now time.Time, backlog, current int) int {
	r := s.Rule
	hpa := clamp(ceilDiv(backlog, r.Target), max(r.MinReplicas, 1), r.MaxReplicas)
	if backlog > r.Activation {
		s.lastActive = now
		return hpa
	}
	if r.MinReplicas > 0 {
		return hpa
	}
	if current == 0 || s.lastActive.IsZero() || now.Sub(s.lastActive) >= r.Cooldown {
		return 0
	}
	return hpa
}

func ceilDiv(a, b int) int {
	if b <= 0 {
		return a
	}
	return (a + b - 1) / b
}

func clamp(v, lo, hi int) int {
	return max(lo, min(v, hi))
}

package autoscale

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// quickHPA decides at every poll, with Kubernetes' 10% tolerance, no scale-up
// limit and no stabilization, so each step shows one HPA decision.
func quickHPA(scaleDownPercent int) *Deployment {
	return &Deployment{
		Rule:     Rule{MinReplicas: 0, MaxReplicas: 20, Target: 10, Activation: 0, Cooldown: time.Minute},
		Polling:  time.Second,
		Behavior: Behavior{Tolerance: 0.1, ScaleDownPercent: scaleDownPercent, Period: 15 * time.Second},
	}
}

// Within the tolerance, inclusive at exactly 10% either way, the HPA keeps the
// count (Kubernetes: |1 - ratio| <= tolerance); beyond it, it moves.
func TestHPAToleranceIsInclusive(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	d := quickHPA(100)
	n, _ := d.Step(t0, 100)
	assert.Equal(t, 10, n, "100 messages at 10 per replica")
	n, why := d.Step(t0.Add(1*time.Second), 110)
	assert.Equal(t, 10, n, "exactly 10%% over: kept (%s)", why)
	n, why = d.Step(t0.Add(2*time.Second), 90)
	assert.Equal(t, 10, n, "exactly 10%% under: kept (%s)", why)
	n, _ = d.Step(t0.Add(3*time.Second), 111)
	assert.Equal(t, 12, n, "beyond the tolerance: ceil(111/10)")
	n, _ = d.Step(t0.Add(4*time.Second), 50)
	assert.Equal(t, 5, n)
}

func TestHPAScaleDownPercentBoundsOneStep(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	d := quickHPA(50)
	d.Step(t0, 100)
	n, why := d.Step(t0.Add(time.Second), 10)
	assert.Equal(t, 5, n, "at most half of 10 per step: %s", why)
	n, _ = d.Step(t0.Add(2*time.Second), 10)
	assert.Equal(t, 2, n, "half of 5, rounded down, is 2")
}

// A steady count says nothing: only a change, or what holds one back, is news.
func TestASteadyCountSaysNothing(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	d := quickHPA(100)
	d.Step(t0, 100)
	n, why := d.Step(t0.Add(time.Second), 100)
	assert.Equal(t, 10, n)
	assert.Empty(t, why)
}

// With Kubernetes' defaults a scale-up is limited to +4 pods or +100% per 15s,
// whichever is more, and the line says so.
func TestDefaultScaleUpIsLimitedAndSaysWhy(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	d := &Deployment{Rule: Rule{MinReplicas: 0, MaxReplicas: 10, Target: 50, Activation: 0, Cooldown: time.Minute},
		Polling: time.Second, Behavior: DefaultBehavior()}
	n, why := d.Step(t0, 1000)
	assert.Equal(t, 1, n, "KEDA wakes one replica: %s", why)
	n, why = d.Step(t0.Add(15*time.Second), 1000)
	assert.Equal(t, 5, n, "1 + 4 pods")
	assert.Contains(t, why, "limited to 5 (at most +4 or +100% per 15s)")
	assert.NotContains(t, why, "highest recommendation")
	n, _ = d.Step(t0.Add(30*time.Second), 1000)
	assert.Equal(t, 10, n, "5 + 100%")
}

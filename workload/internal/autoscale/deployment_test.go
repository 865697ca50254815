package autoscale

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newDeployment(min int) *Deployment {
	return &Deployment{
		Rule:     Rule{MinReplicas: min, MaxReplicas: 10, Target: 50, Activation: 0, Cooldown: 120 * time.Second},
		Polling:  15 * time.Second,
		Behavior: DefaultBehavior(),
	}
}

// From zero KEDA activates one replica; the HPA then scales by at most
// max(+4, +100%) every 15s up to ceil(backlog/target).
func TestScaleUpFollowsKEDAThenTheHPAsDefaultPolicies(t *testing.T) {
	d := newDeployment(0)
	t0 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	n, why := d.Step(t0, 0)
	assert.Equal(t, 0, n)
	assert.Contains(t, why, "KEDA polls every 15s")
	n, _ = d.Step(t0.Add(time.Second), 900) // between polls: nothing happens
	assert.Equal(t, 0, n)
	n, why = d.Step(t0.Add(15*time.Second), 900)
	assert.Equal(t, 1, n)
	assert.Contains(t, why, "KEDA: backlog 900 above activation 0, scaled 0 → 1")
	n, why = d.Step(t0.Add(30*time.Second), 900)
	assert.Equal(t, 5, n, "1 + 4 pods beats +100%")
	assert.Contains(t, why, "backlog 900 at 50 per replica wants 10 (ceil 18, within 1..10), limited to 5")
	n, _ = d.Step(t0.Add(45*time.Second), 900)
	assert.Equal(t, 10, n, "+100% of 5, capped at max")
}

// After the backlog reaches zero the HPA's 300s scale-down stabilization holds
// the peak, so with minReplicaCount 0 the replicas stay at the peak until KEDA's
// cooldown scales them to zero, and the demo says what it waits for.
func TestDrainedQueueHoldsThePeakUntilKEDAsCooldown(t *testing.T) {
	d := newDeployment(0)
	t0 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	d.Step(t0, 500)
	d.Step(t0.Add(15*time.Second), 500)
	d.Step(t0.Add(30*time.Second), 500)
	assert.Equal(t, 10, d.Replicas())
	lastActive := t0.Add(30 * time.Second)
	for s := 31; s < 150; s++ {
		n, why := d.Step(t0.Add(time.Duration(s)*time.Second), 0)
		assert.Equal(t, 10, n, "held at %ds", s)
		if s == 60 {
			assert.Contains(t, why, "waiting for KEDA's cooldown")
			assert.Contains(t, why, "in about 90s")
			assert.Contains(t, why, "holds 10 replicas")
		}
	}
	n, why := d.Step(lastActive.Add(120*time.Second), 0)
	assert.Equal(t, 0, n)
	assert.Contains(t, why, "cooldown 120s since the last poll with messages is over, scaled 10 → 0")
}

// With a floor above zero KEDA never scales to zero; the HPA comes down only
// once its 300s stabilization window has passed the last high recommendation.
func TestScaleDownWaitsForTheStabilizationWindow(t *testing.T) {
	d := newDeployment(1)
	t0 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	d.Step(t0, 0)
	d.Step(t0.Add(15*time.Second), 400)
	d.Step(t0.Add(30*time.Second), 400)
	assert.Equal(t, 8, d.Replicas())
	_, why := d.Step(t0.Add(46*time.Second), 0)
	assert.Contains(t, why, "scale-down stabilization holds 8 replicas")
	n, _ := d.Step(t0.Add(329*time.Second), 0)
	assert.Equal(t, 8, n, "inside the window")
	n, why = d.Step(t0.Add(345*time.Second), 0)
	assert.Equal(t, 1, n)
	assert.Contains(t, why, "scaled 8 → 1")
}

func TestWithinTheHPAsToleranceNothingChanges(t *testing.T) {
	d := newDeployment(1)
	t0 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	d.Step(t0, 52)
	n, _ := d.Step(t0.Add(15*time.Second), 54)
	assert.Equal(t, 1, n, "54/50 is within 10%%")
	n, _ = d.Step(t0.Add(30*time.Second), 56)
	assert.Equal(t, 2, n)
}

// The demo's default: scale-down exactly as deployed, scale-up at the poll that
// sees the backlog, straight to ceil(backlog/target).
func TestDemoBehaviorScalesUpAtThePollAndHoldsTheScaleDown(t *testing.T) {
	d := &Deployment{Rule: Rule{MinReplicas: 0, MaxReplicas: 10, Target: 50, Cooldown: 3 * time.Second},
		Polling: time.Second, Behavior: DemoBehavior()}
	t0 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	n, why := d.Step(t0, 310)
	assert.Equal(t, 7, n)
	assert.Contains(t, why, "KEDA: backlog 310 above activation 0, scaled 0 → 1; HPA: backlog 310 at 50 per replica wants 7, scaled 1 → 7")
	n, _ = d.Step(t0.Add(time.Second), 52)
	assert.Equal(t, 7, n, "scale-down held: highest recommendation of the last 300s")
	n, _ = d.Step(t0.Add(2*time.Second), 460)
	assert.Equal(t, 10, n)
	n, why = d.Step(t0.Add(3*time.Second), 0)
	assert.Equal(t, 10, n)
	assert.Contains(t, why, "waiting for KEDA's cooldown")
	n, _ = d.Step(t0.Add(5*time.Second), 0)
	assert.Equal(t, 0, n)
}

// The countdown names the poll that will scale to zero: it never goes negative
// and reaches zero when the replicas do.
func TestCooldownCountdownEndsAtThePollThatScalesToZero(t *testing.T) {
	d := newDeployment(0)
	t0 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC).Add(300 * time.Millisecond)
	d.Step(t0, 400) // active poll: cooldown due at t0+120s, polls every 15s from t0
	countdown := regexp.MustCompile(`in about (-?\d+)s`)
	for s := 1; ; s++ {
		now := t0.Add(time.Duration(s)*time.Second + 100*time.Millisecond)
		n, why := d.Step(now, 0)
		if n == 0 {
			assert.Equal(t, 120, s, "scaled to zero at the first poll 120s after the last active one")
			return
		}
		m := countdown.FindStringSubmatch(why)
		require.NotNil(t, m, why)
		left, _ := strconv.Atoi(m[1])
		assert.GreaterOrEqual(t, left, 0, why)
		assert.InDelta(t, 120-s, left, 1, "at %ds: %s", s, why)
		require.Less(t, s, 200)
	}
}

// KEDA's loop polls when it starts and then every Polling; a deployed
// stack's loop started long before the first message, so the first poll
// that can see a backlog falls Phase after it, not at once.
func TestTheFirstPollFallsAtThePhase(t *testing.T) {
	d := newDeployment(0)
	d.Phase = 7 * time.Second
	t0 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	for s := range 7 {
		n, why := d.Step(t0.Add(time.Duration(s)*time.Second), 900)
		require.Equal(t, 0, n, "second %d: no poll yet", s)
		assert.Contains(t, why, "KEDA polls every 15s (next in "+strconv.Itoa(7-s)+"s)")
	}
	n, why := d.Step(t0.Add(7*time.Second), 900)
	assert.Equal(t, 1, n)
	assert.Contains(t, why, "scaled 0 → 1")

	// The cadence runs on from the phase: polls at 7s, 22s, 37s.
	d = newDeployment(0)
	d.Phase = 7 * time.Second
	d.Step(t0, 0)
	d.Step(t0.Add(7*time.Second), 0) // the first poll sees nothing
	n, why = d.Step(t0.Add(8*time.Second), 900)
	assert.Equal(t, 0, n)
	assert.Contains(t, why, "(next in 14s)")
	n, _ = d.Step(t0.Add(22*time.Second), 900)
	assert.Equal(t, 1, n)
}

package autoscale

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestDesiredFollowsKEDA(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	s := &Scaler{Rule: Rule{MinReplicas: 0, MaxReplicas: 10, Target: 50, Activation: 5, Cooldown: 30 * time.Second}}

	assert.Equal(t, 0, s.Desired(t0, 0, 0), "idle stays at zero")
	assert.Equal(t, 0, s.Desired(t0, 5, 0), "at the activation length the scaler is not active")
	assert.Equal(t, 1, s.Desired(t0, 6, 0), "above activation: wake up")
	assert.Equal(t, 3, s.Desired(t0, 101, 1), "ceil(101/50)")
	assert.Equal(t, 10, s.Desired(t0, 100000, 3), "capped at max")
	assert.Equal(t, 1, s.Desired(t0.Add(10*time.Second), 0, 10), "drained but inside the cooldown: HPA floor of 1")
	assert.Equal(t, 1, s.Desired(t0.Add(29*time.Second), 3, 1), "still cooling down")
	assert.Equal(t, 0, s.Desired(t0.Add(30*time.Second), 3, 1), "cooldown over: scale to zero")
}

func TestMinReplicasHoldsAFloor(t *testing.T) {
	s := &Scaler{Rule: Rule{MinReplicas: 2, MaxReplicas: 4, Target: 10, Activation: 0, Cooldown: time.Second}}
	now := time.Now()
	assert.Equal(t, 2, s.Desired(now, 0, 2))
	assert.Equal(t, 2, s.Desired(now.Add(time.Hour), 0, 2), "never below min, cooldown or not")
	assert.Equal(t, 4, s.Desired(now, 35, 2))
}

func TestDesiredIsTheExactCeiling(t *testing.T) {
	s := &Scaler{Rule: Rule{MinReplicas: 0, MaxReplicas: 10, Target: 50, Activation: 0, Cooldown: time.Minute}}
	now := time.Now()
	assert.Equal(t, 2, s.Desired(now, 100, 1), "a backlog of exactly 2 × target wants 2, not 3")
	assert.Equal(t, 3, s.Desired(now, 101, 2), "one more message wants a third")
	assert.Equal(t, 1, s.Desired(now, 50, 3), "exactly one target's worth: one replica")
}

func TestTargetZeroMeansOneReplicaPerMessage(t *testing.T) {
	// A zero target cannot come from a validated stack; the rule must not divide by it.
	s := &Scaler{Rule: Rule{MinReplicas: 0, MaxReplicas: 10, Target: 0, Activation: 0, Cooldown: time.Minute}}
	assert.Equal(t, 7, s.Desired(time.Now(), 7, 0))
}

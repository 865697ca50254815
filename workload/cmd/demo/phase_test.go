package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// KEDA's loop began when the ScaledObject was reconciled, so the demo's
// first poll falls anywhere within one interval unless --poll-phase says.
func TestTheFirstPollFallsWithinOneInterval(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 200 {
		p := pollPhase(-1, 15*time.Second)
		assert.GreaterOrEqual(t, p, time.Duration(0))
		assert.Less(t, p, 15*time.Second)
		seen[p.Truncate(5*time.Second)] = true
	}
	assert.Len(t, seen, 3, "every third of the interval is drawn in 200 tries")
	assert.Equal(t, 3*time.Second, pollPhase(3*time.Second, 15*time.Second))
	assert.Equal(t, time.Duration(0), pollPhase(0, 15*time.Second), "0 polls at once, as before")

	o := options{messages: 1, rate: 1, cooldown: -1, maxDuration: time.Minute, polling: 2 * time.Second, pollPhase: 2 * time.Second}
	assert.ErrorContains(t, o.validate(), "poll-phase")
	o.pollPhase = -2
	assert.ErrorContains(t, o.validate(), "poll-phase")
	o.pollPhase = time.Second
	assert.NoError(t, o.validate())
}

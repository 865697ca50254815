package integration

import (
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/workload/internal/chart"
)

// TestDemoRunsEachRouteOnItsOwn runs the local demo with two routes of
// different loads on the fast emulators: each route's messages all become its
// rows; each route's printed polls follow KEDA's rule on that route's own
// backlog (each route has its own ScaledObject); and the chart carries each
// route's run, agreeing with that route's summary.
func TestDemoRunsEachRouteOnItsOwn(t *testing.T) {
	routes := map[string]int{"orders": 600, "payments": 120}
	text := runDemoOnAWS(t, "--routes", "orders=600,payments=120", "--rate", "300", "--cooldown", "3s", "--max-duration", "2m",
		"--polling", "500ms", "--poll-phase", "0") // every printed line a poll, as in TestDemoScalesConsumersByKEDAsRule

	m := demoChart.FindStringSubmatch(text)
	require.NotNil(t, m, "the demo prints its chart's path:\n%s", text)
	t.Cleanup(func() { os.Remove(m[1]) })
	svg, err := os.ReadFile(m[1])
	require.NoError(t, err)
	run, err := chart.Read(svg)
	require.NoError(t, err)
	require.Len(t, run.Routes, len(routes), "the chart carries each route")
	assert.Empty(t, run.Samples, "and no single pipeline")

	rule := demoRule.FindString(text)
	for _, r := range run.Routes {
		t.Run(r.Name, func(t *testing.T) {
			n, ok := routes[r.Name]
			require.True(t, ok, "the chart's route %q is one the demo ran", r.Name)
			assert.Contains(t, text, "route "+r.Name+": "+strconv.Itoa(n)+" messages sent, "+strconv.Itoa(n)+" result rows in the table")

			// The route's own transcript: the rule, its polls without the
			// route's name in front, and its summary.
			own := []string{rule}
			for _, line := range regexp.MustCompile(`(?m)^`+r.Name+` +(t=.*)$`).FindAllStringSubmatch(text, -1) {
				own = append(own, line[1])
			}
			summary := regexp.MustCompile(`(?m)^route ` + r.Name + `: (summary \(drained and scaled to zero\): (\d+) processed.*peak (\d+) consumers.*)$`).FindStringSubmatch(text)
			require.NotNil(t, summary, "route %s's summary:\n%s", r.Name, text)
			own = append(own, summary[1])
			checkReplicasFollowTheRule(t, strings.Join(own, "\n"))

			var total float64
			peak := 0
			for _, s := range r.Samples {
				total += s.Throughput
				peak = max(peak, s.Replicas)
			}
			assert.Equal(t, float64(n), math.Round(total), "the route's throughput line adds up to what it processed")
			assert.Equal(t, summary[2], strconv.Itoa(int(r.Processed)))
			assert.Equal(t, n, r.Rows)
			assert.Equal(t, summary[3], strconv.Itoa(peak), "the route's consumer line peaks where its summary says")
			assert.Zero(t, r.Samples[len(r.Samples)-1].Replicas)
		})
	}
	assert.Equal(t, float64(720), run.Processed)
}

package integration

import (
	"math"
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/workload/internal/chart"
)

var (
	demoChart   = regexp.MustCompile(`(?m)^chart: (\S+\.svg)$`)
	demoSummary = regexp.MustCompile(`summary \([^)]*\): (\d+) processed.*peak (\d+) consumers`)
	demoRows    = regexp.MustCompile(`(\d+) messages sent, (\d+) result rows in the table`)
)

// checkChartMatchesTheRun: the chart the demo draws carries the run it shows,
// and that run agrees with the demo's own summary and the table: the
// per-second throughput adds up to what was processed, the consumer line peaks
// where the summary says, and the row count is the table's.
func checkChartMatchesTheRun(t *testing.T, text string) {
	t.Helper()
	m := demoChart.FindStringSubmatch(text)
	require.NotNil(t, m, "the demo prints its chart's path:\n%s", text)
	t.Cleanup(func() { os.Remove(m[1]) })
	svg, err := os.ReadFile(m[1])
	require.NoError(t, err)
	run, err := chart.Read(svg)
	require.NoError(t, err)
	sum := demoSummary.FindStringSubmatch(text)
	require.NotNil(t, sum)
	rows := demoRows.FindStringSubmatch(text)
	require.NotNil(t, rows)
	processed, _ := strconv.Atoi(sum[1])
	peak, _ := strconv.Atoi(sum[2])
	tableRows, _ := strconv.Atoi(rows[2])

	var total float64
	maxReplicas, lastT := 0, 0.0
	for _, s := range run.Samples {
		total += s.Throughput
		maxReplicas = max(maxReplicas, s.Replicas)
		assert.Greater(t, s.Seconds, lastT, "samples in time order")
		lastT = s.Seconds
	}
	assert.Equal(t, float64(processed), math.Round(total), "the throughput line adds up to what was processed")
	assert.Equal(t, float64(processed), run.Processed)
	assert.Equal(t, tableRows, run.Rows)
	assert.Equal(t, peak, maxReplicas, "the consumer line peaks where the summary says")
	assert.Zero(t, run.Samples[len(run.Samples)-1].Replicas, "the run ends scaled to zero")
}

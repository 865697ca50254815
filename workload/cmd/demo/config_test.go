package main

import (
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/workload/internal/telemetry"
)

func TestStackValuesOverrideProjectDefaults(t *testing.T) {
	dir := t.TempDir()
	project := filepath.Join(dir, "Pulumi.yaml")
	stack := filepath.Join(dir, "Pulumi.x.yaml")
	require.NoError(t, os.WriteFile(project, []byte("name: edw\nconfig:\n  messagesPerPod:\n    type: integer\n    default: 50\n  cooldownSeconds:\n    type: integer\n    default: 120\n"), 0o644))
	require.NoError(t, os.WriteFile(stack, []byte("config:\n  edw:cloud: azure\n  edw:messagesPerPod: 20\n  aws:region: us-west-2\n"), 0o644))
	c, err := loadStackConfig(project, stack)
	require.NoError(t, err)
	assert.Equal(t, 20, c.int("messagesPerPod"))
	assert.Equal(t, 120, c.int("cooldownSeconds"))
	assert.Equal(t, "azure", c.str("cloud"))
	assert.Empty(t, c.str("region"), "other namespaces are not edw's")
}

func TestQuantileInterpolatesLikePromQL(t *testing.T) {
	s := stats{count: 100, buckets: map[float64]float64{0.1: 50, 0.2: 90, 0.4: 100}}
	s.buckets[posInf()] = 100
	assert.InDelta(t, 0.1, s.quantile(0.5), 1e-9)
	assert.InDelta(t, 0.1125, s.quantile(0.55), 1e-9)
	assert.InDelta(t, 0.3, s.quantile(0.95), 1e-9)
	assert.True(t, isNaN(stats{}.quantile(0.5)), "no observations, no quantile")
}

func posInf() float64      { return math.Inf(1) }
func isNaN(f float64) bool { return math.IsNaN(f) }

// TestScrapeSumsARouteConsumersLabelledSeries: a route's consumer labels its
// series route=<route>; the demo still reads its counters and latency
// histogram (a line-matching reader saw nothing and counted 0 processed).
func TestScrapeSumsARouteConsumersLabelledSeries(t *testing.T) {
	for _, route := range []string{"", "orders"} {
		m := telemetry.NewRouteMetrics(route)
		m.Processed.Add(5)
		m.Duplicates.Add(2)
		m.Poisoned.Inc()
		m.Conflicts.Add(3)
		m.Latency.Observe(0.015)
		m.Latency.Observe(0.3)
		srv := httptest.NewServer(telemetry.Handler(m, &telemetry.Health{}))
		s, err := scrapeOne(strings.TrimPrefix(srv.URL, "http://"))
		srv.Close()
		require.NoError(t, err, "route %q", route)
		assert.Equal(t, []float64{5, 2, 1, 3, 2}, []float64{s.processed, s.duplicates, s.poisoned, s.conflicts, s.count}, "route %q", route)
		assert.InDelta(t, 0.02, s.quantile(0.5), 1e-9, "route %q: the median's bucket is (0.01, 0.02]", route)
	}
}

package main

import (
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/workload/internal/chart"
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
		// What the consumer serves on /metrics, read as scrapeOne reads it
		// (not over the network: its 500 ms timeout is for the demo's loop,
		// not for a busy test machine).
		served := httptest.NewRecorder()
		telemetry.Handler(m, &telemetry.Health{}).ServeHTTP(served, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		s, err := parseStats(served.Body)
		require.NoError(t, err, "route %q", route)
		assert.Equal(t, []float64{5, 2, 1, 3, 2}, []float64{s.processed, s.duplicates, s.poisoned, s.conflicts, s.count}, "route %q", route)
		assert.InDelta(t, 0.02, s.quantile(0.5), 1e-9, "route %q: the median's bucket is (0.01, 0.02]", route)
	}
}

func TestRoutesFlagNamesRoutesAsTheStackDoes(t *testing.T) {
	got, err := parseRoutes("orders=3000,payments,audit-log=1")
	require.NoError(t, err)
	assert.Equal(t, []routeSpec{{"orders", 3000}, {"payments", 0}, {"audit-log", 1}}, got, "0: the route sends --messages")
	none, err := parseRoutes("")
	require.NoError(t, err)
	assert.Empty(t, none, "no --routes: the single pipeline")
	for in, want := range map[string]string{
		"orders,orders":                `route "orders": named twice`,
		"Orders":                       `route "Orders": want a route name`,
		"orders=":                      `route orders: messages "": want a whole number`,
		"orders=0":                     `route orders: messages "0"`,
		"orders=-5":                    `route orders: messages "-5"`,
		"a,b,c,d,e,f,g":                "7 routes: the demo runs at most 6",
		"orders,,payments":             `route "": want a route name`,
		"a--b":                         `route "a--b"`,
		"x" + strings.Repeat("y", 40):  "want a route name",
		"x" + strings.Repeat("-y", 20): "want a route name",
	} {
		_, err := parseRoutes(in)
		assert.ErrorContains(t, err, want, in)
	}
}

// TestRecordedRoutesChartIsARealRun: docs/demo-routes-chart.svg, which
// docs/demo.md shows, is a real two-route run whose embedded data agrees with
// itself per route: each route's throughput per second adds up to what its
// consumers processed, which equals its table's rows; each route scaled past
// one consumer and back to zero; and the smaller route was back at zero while
// the larger one still had work (they scale on their own).
func TestRecordedRoutesChartIsARealRun(t *testing.T) {
	raw, err := os.ReadFile("../../../docs/demo-routes-chart.svg")
	require.NoError(t, err)
	run, err := chart.Read(raw)
	require.NoError(t, err)
	require.Len(t, run.Routes, 2)
	var total float64
	idleWhileBusy := false
	for _, r := range run.Routes {
		var sum float64
		peak := 0
		for _, s := range r.Samples {
			sum += s.Throughput
			peak = max(peak, s.Replicas)
		}
		assert.Positive(t, r.Processed, r.Name)
		assert.Equal(t, r.Processed, sum, "%s: throughput per second adds up to what was processed", r.Name)
		assert.Equal(t, r.Processed, float64(r.Rows), "%s: every processed message is a row", r.Name)
		assert.Greater(t, peak, 1, "%s scaled beyond one consumer", r.Name)
		assert.Zero(t, r.Samples[len(r.Samples)-1].Replicas, "%s: and back to zero", r.Name)
		total += r.Processed
	}
	assert.Equal(t, run.Processed, total)
	a, b := run.Routes[0].Samples, run.Routes[1].Samples
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i].Replicas == 0 && b[i].Backlog > 0 || b[i].Replicas == 0 && a[i].Backlog > 0 {
			idleWhileBusy = true
		}
	}
	assert.True(t, idleWhileBusy, "one route at zero consumers while the other had a backlog")
}

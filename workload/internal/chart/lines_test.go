package chart

import (
	"bytes"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLinesAreTheData reads the drawn lines back: each panel's polyline has one
// point per sample, x grows with the sample's time and y with its value, both
// linearly (what a plot of the data is), in the panel order the chart names.
// Series that are not linear images of each other make a swapped, shifted or
// rescaled line fail.
func TestLinesAreTheData(t *testing.T) {
	run := Run{Title: "lines", Processed: 11, Rows: 11, Samples: []Sample{
		{Seconds: 1, Backlog: 9, Replicas: 1, Throughput: 2, P95: 0.5},
		{Seconds: 2, Backlog: 4, Replicas: 2, Throughput: 5, P95: 0.25},
		{Seconds: 3, Backlog: 0, Replicas: 2, Throughput: 1, P95: 1},
		{Seconds: 5, Backlog: 0, Replicas: 3, Throughput: 0, P95: 0},
		{Seconds: 6, Backlog: 2, Replicas: 0, Throughput: 3, P95: 0.75},
	}}
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, run))
	lines := regexp.MustCompile(`<polyline[^>]* points="([^"]*)"`).FindAllStringSubmatch(buf.String(), -1)
	series := [][]float64{{}, {}, {}, {}}
	var times []float64
	for _, s := range run.Samples {
		times = append(times, s.Seconds)
		series[0] = append(series[0], float64(s.Backlog))
		series[1] = append(series[1], float64(s.Replicas))
		series[2] = append(series[2], s.Throughput)
		series[3] = append(series[3], s.P95)
	}
	require.Len(t, lines, len(series), "one line per panel")
	for i, l := range lines {
		var xs, ys []float64
		for _, p := range strings.Fields(l[1]) {
			x, y, ok := strings.Cut(p, ",")
			require.True(t, ok, "point %q", p)
			xs = append(xs, parse(t, x))
			ys = append(ys, parse(t, y))
		}
		require.Len(t, xs, len(times), "panel %d: one point per sample", i)
		// SVG's y grows downwards: a larger value is drawn higher, so the slope is negative.
		linear(t, "x against time", i, times, xs, +1)
		linear(t, "y against value", i, series[i], ys, -1)
	}
}

func parse(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	require.NoError(t, err)
	return f
}

// linear checks drawn[k] = a + b*data[k] for every k, b of the given sign, to
// the 0.1 px the chart rounds to.
func linear(t *testing.T, what string, panel int, data, drawn []float64, sign float64) {
	t.Helper()
	lo, hi := 0, 0
	for k := range data {
		if data[k] < data[lo] {
			lo = k
		}
		if data[k] > data[hi] {
			hi = k
		}
	}
	require.NotEqual(t, data[lo], data[hi], "panel %d: test data must vary", panel)
	b := (drawn[hi] - drawn[lo]) / (data[hi] - data[lo])
	if b*sign <= 0 {
		t.Errorf("panel %d %s: slope %.3f has the wrong sign (data %v drawn %v)", panel, what, b, data, drawn)
		return
	}
	a := drawn[lo] - b*data[lo]
	for k := range data {
		if want := a + b*data[k]; math.Abs(drawn[k]-want) > 0.11 {
			t.Errorf("panel %d %s: point %d drawn at %.1f, the data puts it at %.1f (data %v drawn %v)", panel, what, k, drawn[k], want, data, drawn)
		}
	}
}

// TestRouteLinesAreTheData reads a two-route chart's lines back: each panel
// has one line per route, named by the route; each route's line has a point
// per sample of that route; and both routes' points in a panel are one linear
// image of both routes' data (they share the panel's scales), so a line drawn
// from the other route's data, or on its own scale, fails.
func TestRouteLinesAreTheData(t *testing.T) {
	run := Run{Title: "routes", Processed: 14, Rows: 14, Routes: []Route{
		{Name: "orders", Processed: 11, Rows: 11, Samples: []Sample{
			{Seconds: 1, Backlog: 90, Replicas: 1, Throughput: 2, P95: 0.5},
			{Seconds: 2, Backlog: 40, Replicas: 4, Throughput: 5, P95: 0.25},
			{Seconds: 3, Backlog: 0, Replicas: 4, Throughput: 4, P95: 1},
			{Seconds: 4, Backlog: 0, Replicas: 0, Throughput: 0, P95: 0},
		}},
		{Name: "payments", Processed: 3, Rows: 3, Samples: []Sample{
			{Seconds: 1, Backlog: 3, Replicas: 0, Throughput: 0, P95: 0},
			{Seconds: 2, Backlog: 2, Replicas: 1, Throughput: 1, P95: 2},
			{Seconds: 3, Backlog: 1, Replicas: 1, Throughput: 1, P95: 1.5},
			{Seconds: 4, Backlog: 0, Replicas: 1, Throughput: 1, P95: 0.75},
			{Seconds: 6, Backlog: 0, Replicas: 0, Throughput: 0, P95: 0},
		}},
	}}
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, run))
	assert.Contains(t, buf.String(), "14 processed, 14 rows in the routes&#39; tables (orders 11, payments 3)",
		"each route writes its own table, and the footer says so")
	lines := regexp.MustCompile(`<polyline data-route="([^"]*)" fill="none" stroke="([^"]*)"[^>]* points="([^"]*)"`).FindAllStringSubmatch(buf.String(), -1)
	require.Len(t, lines, 4*len(run.Routes), "one line per route in each of the four panels")
	values := []func(Sample) float64{
		func(s Sample) float64 { return float64(s.Backlog) },
		func(s Sample) float64 { return float64(s.Replicas) },
		func(s Sample) float64 { return s.Throughput },
		func(s Sample) float64 { return s.P95 },
	}
	strokes := map[string]string{}
	for panel, value := range values {
		var times, xs, data, ys []float64
		for k, r := range run.Routes {
			l := lines[panel*len(run.Routes)+k]
			require.Equal(t, r.Name, l[1], "panel %d: the routes' lines in the run's order", panel)
			if s, ok := strokes[r.Name]; ok {
				assert.Equal(t, s, l[2], "route %s keeps its colour in every panel", r.Name)
			}
			strokes[r.Name] = l[2]
			points := strings.Fields(l[3])
			require.Len(t, points, len(r.Samples), "panel %d route %s: one point per sample", panel, r.Name)
			for i, p := range points {
				x, y, ok := strings.Cut(p, ",")
				require.True(t, ok, "point %q", p)
				xs, ys = append(xs, parse(t, x)), append(ys, parse(t, y))
				times, data = append(times, r.Samples[i].Seconds), append(data, value(r.Samples[i]))
			}
		}
		linear(t, "x against time", panel, times, xs, +1)
		linear(t, "y against value", panel, data, ys, -1)
	}
	assert.NotEqual(t, strokes["orders"], strokes["payments"], "the routes are told apart")
	for _, r := range run.Routes {
		assert.Contains(t, buf.String(), `fill="`+strokes[r.Name]+`"/><text x="`, "the legend shows %s's colour", r.Name)
		assert.Contains(t, buf.String(), ">"+r.Name+"</text>", "the legend names %s", r.Name)
	}
	got, err := Read(buf.Bytes())
	require.NoError(t, err)
	assert.Equal(t, run, got, "the chart carries each route's data")
}

// TestAxesNameWhereTheLinesAreDrawn: every panel has a value axis (0, half the
// peak, the peak) and a time axis, and each tick sits where the panel's line
// would draw that value or that second: the labels can be read off the picture.
func TestAxesNameWhereTheLinesAreDrawn(t *testing.T) {
	run := Run{Title: "axes", Processed: 11, Rows: 11, Samples: []Sample{
		{Seconds: 0, Backlog: 40, Replicas: 1, Throughput: 2, P95: 0.5},
		{Seconds: 7, Backlog: 10, Replicas: 4, Throughput: 9, P95: 0.25},
		{Seconds: 23, Backlog: 0, Replicas: 2, Throughput: 1, P95: 1.5},
	}}
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, run))
	svg := buf.String()
	lines := regexp.MustCompile(`<polyline[^>]* points="([^"]*)"`).FindAllStringSubmatch(svg, -1)
	yticks := regexp.MustCompile(`<line x1="[^"]*" y1="([^"]*)"[^>]*/><text class="ytick" data-value="([^"]*)"[^>]*>([^<]*)</text>`).FindAllStringSubmatch(svg, -1)
	xticks := regexp.MustCompile(`<line x1="([^"]*)"[^>]*/><text class="xtick" data-value="([^"]*)"[^>]*>([^<]*)</text>`).FindAllStringSubmatch(svg, -1)
	require.Len(t, lines, 4)
	require.Len(t, yticks, 3*4, "three value ticks per panel")
	require.Equal(t, 0, len(xticks)%4, "the same time ticks under each panel")
	perPanel := len(xticks) / 4
	values := []func(Sample) float64{
		func(s Sample) float64 { return float64(s.Backlog) }, func(s Sample) float64 { return float64(s.Replicas) },
		func(s Sample) float64 { return s.Throughput }, func(s Sample) float64 { return s.P95 },
	}
	for i, l := range lines {
		pts := strings.Fields(l[1])
		// The line's own mapping: time from its first and last points, value
		// from its lowest and highest (the widest spread, least rounding).
		first, last := run.Samples[0], run.Samples[len(run.Samples)-1]
		lo, hi := 0, 0
		for k, s := range run.Samples {
			if values[i](s) < values[i](run.Samples[lo]) {
				lo = k
			}
			if values[i](s) > values[i](run.Samples[hi]) {
				hi = k
			}
		}
		x0, _, _ := strings.Cut(pts[0], ",")
		x1, _, _ := strings.Cut(pts[len(pts)-1], ",")
		_, ylo, _ := strings.Cut(pts[lo], ",")
		_, yhi, _ := strings.Cut(pts[hi], ",")
		bx := (parse(t, x1) - parse(t, x0)) / (last.Seconds - first.Seconds)
		by := (parse(t, yhi) - parse(t, ylo)) / (values[i](run.Samples[hi]) - values[i](run.Samples[lo]))
		peak := 0.0
		for _, s := range run.Samples {
			peak = max(peak, values[i](s))
		}
		var tickValues []float64
		for _, tk := range yticks[3*i : 3*i+3] {
			v := parse(t, tk[2])
			tickValues = append(tickValues, v)
			want := parse(t, ylo) + by*(v-values[i](run.Samples[lo]))
			assert.InDelta(t, want, parse(t, tk[1]), 0.11, "panel %d: the tick %q is not where the line draws %g", i, tk[3], v)
			label, _, _ := strings.Cut(tk[3], " ")
			assert.InEpsilon(t, max(v, 1e-9), max(parse(t, label), 1e-9), 0.01, "panel %d: tick %q labels %g", i, tk[3], v)
		}
		assert.Equal(t, []float64{0, peak / 2, peak}, tickValues, "panel %d: 0, half the peak, the peak", i)
		var times []float64
		for _, tk := range xticks[perPanel*i : perPanel*(i+1)] {
			s := parse(t, tk[2])
			times = append(times, s)
			want := parse(t, x0) + bx*(s-first.Seconds)
			assert.InDelta(t, want, parse(t, tk[1]), 0.11, "panel %d: the time tick %q is not where the line draws second %g", i, tk[3], s)
		}
		assert.Equal(t, 0.0, times[0], "panel %d: the time axis starts at 0", i)
		assert.GreaterOrEqual(t, times[len(times)-1]+timeStep(last.Seconds), last.Seconds, "panel %d: the time axis reaches the end", i)
	}
	assert.Contains(t, svg, "p95 end-to-end latency, all messages so far", "the p95 says what it is a p95 of")
}

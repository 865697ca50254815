// Package chart draws a demo run as an SVG: backlog, consumers, throughput and
// p95 end-to-end latency over time, one panel each. The data it was drawn from
// is embedded in the file, so a test (or a curious reader) can check the picture
// against the run's own counts.
package chart

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// Sample is one second of a run.
type Sample struct {
	Seconds    float64 `json:"t"`
	Backlog    int     `json:"backlog"`
	Replicas   int     `json:"replicas"`
	Throughput float64 `json:"throughput"` // results written in this second
	P95        float64 `json:"p95"`        // seconds, end to end
}

// Run is what a chart shows and carries: one pipeline's samples, or with
// routes each route's own.
type Run struct {
	Title     string   `json:"title"`
	Samples   []Sample `json:"samples"`
	Routes    []Route  `json:"routes,omitempty"`
	Processed float64  `json:"processed"`
	Rows      int      `json:"rows"`
}

// Route is one route of a run: its own queue's backlog, its own consumers.
type Route struct {
	Name      string   `json:"name"`
	Samples   []Sample `json:"samples"`
	Processed float64  `json:"processed"`
	Rows      int      `json:"rows"`
}

// routeColors tell the routes apart; the first is the single pipeline's.
var routeColors = []string{"#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bc4c00"}

// series are the lines each panel draws: the pipeline's, or one per route.
func (run Run) series() []Route {
	if len(run.Routes) == 0 {
		return []Route{{Samples: run.Samples}}
	}
	return run.Routes
}

const (
	width, panelHeight, left, right, top, gap = 900, 140, 70, 20, 40, 30
	dataStart, dataEnd                        = "<metadata id=\"edw-run\"><![CDATA[", "]]></metadata>"
)

// Write draws run as SVG to w.
func Write(w io.Writer, run Run) error {
	if len(run.Routes) > 0 && len(run.Samples) > 0 {
		return errors.New("chart: a run has either one pipeline's samples or routes")
	}
	series := run.series()
	end := 0.0
	for _, r := range series {
		if len(r.Samples) == 0 {
			return fmt.Errorf("chart: no samples to draw%s", routeSuffix(r.Name))
		}
		// A second with no finished message has no latency (NaN); it draws as 0.
		for i := range r.Samples {
			if math.IsNaN(r.Samples[i].P95) || math.IsInf(r.Samples[i].P95, 0) {
				r.Samples[i].P95 = 0
			}
		}
		end = math.Max(end, r.Samples[len(r.Samples)-1].Seconds)
	}
	if len(series) > len(routeColors) {
		return fmt.Errorf("chart: %d routes, at most %d can be told apart", len(series), len(routeColors))
	}
	data, err := json.Marshal(run)
	if err != nil {
		return fmt.Errorf("chart data: %w", err)
	}
	panels := []struct {
		name  string
		value func(Sample) float64
		unit  string
	}{
		{"backlog (waiting + in flight)", func(s Sample) float64 { return float64(s.Backlog) }, "messages"},
		{"consumers", func(s Sample) float64 { return float64(s.Replicas) }, "pods"},
		{"throughput", func(s Sample) float64 { return s.Throughput }, "msg/s"},
		// The consumers' latency histograms count from their start, so this is
		// the p95 of every message finished so far, not of that second alone.
		{"p95 end-to-end latency, all messages so far", func(s Sample) float64 { return s.P95 }, "s"},
	}
	height := top + len(panels)*(panelHeight+gap)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	b.WriteString(dataStart + string(data) + dataEnd + "\n")
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="%d" y="24" font-size="16">%s</text>`+"\n", left, html.EscapeString(run.Title))
	// The legend names each route's colour, right-aligned beside the title.
	for i := len(run.Routes) - 1; i >= 0; i-- {
		x := width - right - 120*(len(run.Routes)-i)
		fmt.Fprintf(&b, `<rect x="%d" y="14" width="12" height="12" fill="%s"/><text x="%d" y="24">%s</text>`+"\n",
			x, routeColors[i], x+16, html.EscapeString(run.Routes[i].Name))
	}
	for i, p := range panels {
		y0 := top + i*(panelHeight+gap)
		// The routes share each panel's scale, so their lines compare.
		peak := 0.0
		for _, r := range series {
			for _, s := range r.Samples {
				peak = math.Max(peak, p.value(s))
			}
		}
		scale := peak
		if scale == 0 {
			scale = 1
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s (peak %.4g %s)</text>`+"\n", left, y0-6, p.name, peak, p.unit)
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#ccc"/>`+"\n", left, y0, width-left-right, panelHeight)
		// The value axis: 0, half the peak and the peak, each a gridline with its value.
		for _, v := range []float64{0, scale / 2, scale} {
			y := float64(y0+panelHeight) - float64(panelHeight)*v/scale
			fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`+
				`<text class="ytick" data-value="%g" x="%d" y="%.1f" text-anchor="end" font-size="10">%s</text>`+"\n",
				left, y, width-right, y, v, left-4, y+3, tickLabel(v, p.unit))
		}
		// The time axis under each panel, every step seconds.
		for t := 0.0; t <= end+1e-9; t += timeStep(end) {
			x := left + float64(width-left-right)*t/math.Max(end, 1)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#999"/>`+
				`<text class="xtick" data-value="%g" x="%.1f" y="%d" text-anchor="middle" font-size="10">%gs</text>`+"\n",
				x, y0+panelHeight, x, y0+panelHeight+4, t, x, y0+panelHeight+14, t)
		}
		for k, r := range series {
			var pts []string
			for _, s := range r.Samples {
				x := left + (width-left-right)*s.Seconds/math.Max(end, 1)
				y := float64(y0+panelHeight) - float64(panelHeight)*p.value(s)/scale
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
			}
			route := ""
			if r.Name != "" {
				route = fmt.Sprintf(` data-route="%s"`, html.EscapeString(r.Name))
			}
			fmt.Fprintf(&b, `<polyline%s fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n", route, routeColors[k], strings.Join(pts, " "))
		}
	}
	where := "in the table"
	if len(run.Routes) > 0 {
		// Each route writes its own table.
		counts := make([]string, len(run.Routes))
		for i, r := range run.Routes {
			counts[i] = fmt.Sprintf("%s %d", r.Name, r.Rows)
		}
		where = "in the routes' tables (" + strings.Join(counts, ", ") + ")"
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d">seconds 0 to %.0f; %.0f processed, %d rows %s</text>`+"\n",
		left, height-8, end, run.Processed, run.Rows, html.EscapeString(where))
	b.WriteString("</svg>\n")
	_, err = io.WriteString(w, b.String())
	return err
}

// tickLabel prints an axis value with its unit, briefly.
func tickLabel(v float64, unit string) string {
	n := fmt.Sprintf("%.3g", v)
	if strings.ContainsAny(n, "e") { // 1e+03: spell large values out
		n = fmt.Sprintf("%.0f", v)
	}
	return n + " " + unit
}

// timeStep is the time axis's tick spacing: a round number of seconds giving
// at most about ten ticks.
func timeStep(end float64) float64 {
	for _, step := range []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600} {
		if end/step <= 10 {
			return step
		}
	}
	return math.Ceil(end/10/600) * 600
}

func routeSuffix(name string) string {
	if name == "" {
		return ""
	}
	return " for route " + name
}

// Read returns the run a chart was drawn from.
func Read(svg []byte) (Run, error) {
	s := string(svg)
	i, j := strings.Index(s, dataStart), strings.Index(s, dataEnd)
	if i < 0 || j < i {
		return Run{}, errors.New("chart: no embedded run data")
	}
	var run Run
	if err := json.Unmarshal([]byte(s[i+len(dataStart):j]), &run); err != nil {
		return Run{}, fmt.Errorf("chart data: %w", err)
	}
	return run, nil
}

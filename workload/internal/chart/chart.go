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

// Run is what a chart shows and carries.
type Run struct {
	Title     string   `json:"title"`
	Samples   []Sample `json:"samples"`
	Processed float64  `json:"processed"`
	Rows      int      `json:"rows"`
}

const (
	width, panelHeight, left, right, top, gap = 900, 140, 70, 20, 40, 30
	dataStart, dataEnd                        = "<metadata id=\"edw-run\"><![CDATA[", "]]></metadata>"
)

// Write draws run as SVG to w.
func Write(w io.Writer, run Run) error {
	if len(run.Samples) == 0 {
		return errors.New("chart: no samples to draw")
	}
	// A second with no finished message has no latency (NaN); it draws as 0.
	for i := range run.Samples {
		if math.IsNaN(run.Samples[i].P95) || math.IsInf(run.Samples[i].P95, 0) {
			run.Samples[i].P95 = 0
		}
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
		{"p95 end-to-end latency", func(s Sample) float64 { return s.P95 }, "s"},
	}
	height := top + len(panels)*(panelHeight+gap)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	b.WriteString(dataStart + string(data) + dataEnd + "\n")
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="%d" y="24" font-size="16">%s</text>`+"\n", left, html.EscapeString(run.Title))
	end := run.Samples[len(run.Samples)-1].Seconds
	for i, p := range panels {
		y0 := top + i*(panelHeight+gap)
		peak := 0.0
		for _, s := range run.Samples {
			peak = math.Max(peak, p.value(s))
		}
		scale := peak
		if scale == 0 {
			scale = 1
		}
		var pts []string
		for _, s := range run.Samples {
			x := left + (width-left-right)*s.Seconds/math.Max(end, 1)
			y := float64(y0+panelHeight) - float64(panelHeight)*p.value(s)/scale
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s (peak %.4g %s)</text>`+"\n", left, y0-6, p.name, peak, p.unit)
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#ccc"/>`+"\n", left, y0, width-left-right, panelHeight)
		fmt.Fprintf(&b, `<polyline fill="none" stroke="#1f6feb" stroke-width="1.5" points="%s"/>`+"\n", strings.Join(pts, " "))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d">seconds 0 to %.0f; %.0f processed, %d rows in the table</text>`+"\n",
		left, height-8, end, run.Processed, run.Rows)
	b.WriteString("</svg>\n")
	_, err = io.WriteString(w, b.String())
	return err
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

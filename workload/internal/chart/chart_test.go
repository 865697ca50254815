package chart

import (
	"bytes"
	"encoding/xml"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestChartCarriesTheRunItDraws(t *testing.T) {
	run := Run{Title: "edw demo <aws>", Processed: 7, Rows: 7, Samples: []Sample{
		{Seconds: 1, Backlog: 9, Replicas: 1, Throughput: 2, P95: 0.5},
		{Seconds: 2, Backlog: 0, Replicas: 2, Throughput: 5, P95: 0.25},
	}}
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, run))
	got, err := Read(buf.Bytes())
	require.NoError(t, err)
	assert.Equal(t, run, got)
	assert.NoError(t, xml.Unmarshal(buf.Bytes(), new(struct{})), "well-formed SVG")
	assert.Equal(t, 4, strings.Count(buf.String(), "<polyline"), "one line per panel")
	assert.Contains(t, buf.String(), "peak 9 messages")
	assert.Contains(t, buf.String(), "&lt;aws&gt;", "the title is escaped")
	assert.Error(t, Write(&buf, Run{}), "nothing to draw is an error, not an empty picture")
	buf.Reset()
	require.NoError(t, Write(&buf, Run{Samples: []Sample{{Seconds: 1, P95: math.NaN()}}}), "a second without latency draws")
	got, err = Read(buf.Bytes())
	require.NoError(t, err)
	assert.Zero(t, got.Samples[0].P95)
	_, err = Read([]byte("<svg/>"))
	assert.Error(t, err)
}

func TestChartRefusesRoutesItCannotDraw(t *testing.T) {
	var buf bytes.Buffer
	one := []Sample{{Seconds: 1}}
	assert.Error(t, Write(&buf, Run{Samples: one, Routes: []Route{{Name: "a", Samples: one}}}), "a pipeline's samples or routes, not both")
	assert.ErrorContains(t, Write(&buf, Run{Routes: []Route{{Name: "a", Samples: one}, {Name: "b"}}}), "route b")
}

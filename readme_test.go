package main

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestREADMEConfigReferenceMatchesPulumiYAML keeps the README's configuration
// table and Pulumi.yaml's config schema in step: every key in one is in the other.
func TestREADMEConfigReferenceMatchesPulumiYAML(t *testing.T) {
	proj, err := workspace.LoadProject("Pulumi.yaml")
	require.NoError(t, err)
	raw, err := os.ReadFile("README.md")
	require.NoError(t, err)

	section := string(raw)
	start := strings.Index(section, "## Configuration reference")
	require.GreaterOrEqual(t, start, 0, "README has a configuration reference")
	section = section[start+1:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	documented := map[string]bool{}
	key := regexp.MustCompile("`([A-Za-z]+)`")
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || strings.HasPrefix(strings.TrimSpace(cells[1]), "key") {
			continue
		}
		for _, m := range key.FindAllStringSubmatch(cells[1], -1) {
			documented[m[1]] = true
		}
	}
	require.NotEmpty(t, documented)
	for k := range proj.Config {
		assert.True(t, documented[k], "Pulumi.yaml key %s is missing from the README configuration reference", k)
	}
	for k := range documented {
		_, declared := proj.Config[k]
		assert.True(t, declared, "README documents %s but Pulumi.yaml does not declare it", k)
	}
}

// TestREADMEImagesExist: every image the README shows is in the repository, and
// the demo's chart is a real run whose embedded data agrees with itself: the
// throughput per second adds up to the processed count, which equals the rows.
func TestREADMEImagesExist(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	require.NoError(t, err)
	images := regexp.MustCompile(`!\[[^\]]*\]\(([^)]+)\)`).FindAllStringSubmatch(string(raw), -1)
	require.NotEmpty(t, images, "the README shows the demo's chart")
	for _, m := range images {
		b, err := os.ReadFile(m[1])
		if !assert.NoError(t, err, "README image %s", m[1]) || !strings.HasSuffix(m[1], "demo-chart.svg") {
			continue
		}
		data := regexp.MustCompile(`(?s)<!\[CDATA\[(.*?)\]\]>`).FindSubmatch(b)
		require.NotNil(t, data, "%s embeds the data it was drawn from", m[1])
		var run struct {
			Processed, Rows float64
			Samples         []struct{ Throughput, Replicas float64 }
		}
		require.NoError(t, json.Unmarshal(data[1], &run))
		var sum, peak float64
		for _, s := range run.Samples {
			sum += s.Throughput
			peak = max(peak, s.Replicas)
		}
		assert.Positive(t, run.Processed)
		assert.Equal(t, run.Processed, sum, "throughput per second adds up to what was processed")
		assert.Equal(t, run.Processed, run.Rows, "every processed message is a row")
		assert.Greater(t, peak, 1.0, "the chart shows scaling beyond one consumer")
		assert.Zero(t, run.Samples[len(run.Samples)-1].Replicas, "and back to zero")
	}
}

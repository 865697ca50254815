package telemetry

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGrafanaDashboardShowsTheMetricsTheConsumerExports: every metric the
// repository's dashboard queries is one the consumer registers, and every
// metric the consumer registers has a panel.
func TestGrafanaDashboardShowsTheMetricsTheConsumerExports(t *testing.T) {
	raw, err := os.ReadFile("../../../dashboards/edw-consumer.json")
	require.NoError(t, err)
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	require.NoError(t, json.Unmarshal(raw, &dash))
	name := regexp.MustCompile(`edw_[a-z_]+`)
	queried := map[string]bool{}
	for _, p := range dash.Panels {
		require.NotEmpty(t, p.Targets, p.Title)
		for _, target := range p.Targets {
			for _, m := range name.FindAllString(target.Expr, -1) {
				queried[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")] = true
			}
		}
	}
	families, err := NewMetrics().Registry.Gather()
	require.NoError(t, err)
	exported := map[string]bool{}
	for _, f := range families {
		if strings.HasPrefix(f.GetName(), "edw_") {
			exported[f.GetName()] = true
		}
	}
	require.NotEmpty(t, exported)
	for m := range queried {
		assert.True(t, exported[m], "the dashboard queries %s, which the consumer does not export", m)
	}
	for m := range exported {
		assert.True(t, queried[m], "the consumer exports %s, which no panel shows", m)
	}
}

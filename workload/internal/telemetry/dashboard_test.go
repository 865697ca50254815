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
	raw, err := os.ReadFile(dashboardFile)
	require.NoError(t, err)
	var dash grafanaDashboard
	require.NoError(t, json.Unmarshal(raw, &dash))
	name := regexp.MustCompile(`edw_[a-z_]+`)
	queried := map[string]bool{}
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
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

const dashboardFile = "../../../dashboards/edw-consumer.json"

// grafanaDashboard is the part of a Grafana dashboard the tests read.
type grafanaDashboard struct {
	Templating struct {
		List []struct{ Name, Definition string }
	}
	Panels []grafanaPanel
}

type grafanaPanel struct {
	Type, Title, Repeat string
	GridPos             struct{ X, Y, W, H int }
	Targets             []struct{ Expr string }
}

// TestGrafanaDashboardShowsEachRoute: a row repeated per value of the route
// variable, which lists the route label of a series the consumer exports and
// labels with its route; in the row, backlog, throughput, consumers and
// dead-lettered, each of the consumer's series selected by route="$route"
// (the backlog is KEDA's metric for the route's ScaledObject, named as
// infra/kube names it, which the stacks tests check).
func TestGrafanaDashboardShowsEachRoute(t *testing.T) {
	raw, err := os.ReadFile(dashboardFile)
	require.NoError(t, err)
	var dash grafanaDashboard
	require.NoError(t, json.Unmarshal(raw, &dash))

	labelled := map[string]bool{} // metrics a route's consumer labels with route
	families, err := NewRouteMetrics("orders").Registry.Gather()
	require.NoError(t, err)
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "route" && l.GetValue() == "orders" {
					labelled[f.GetName()] = true
				}
			}
		}
	}
	variable := ""
	for _, v := range dash.Templating.List {
		if v.Name == "route" {
			variable = v.Definition
		}
	}
	values := regexp.MustCompile(`^label_values\((edw_[a-z_]+)\{[^}]*\}, route\)$`).FindStringSubmatch(variable)
	require.NotNil(t, values, "the route variable lists a series' route label: %q", variable)
	assert.True(t, labelled[values[1]], "the route variable reads %s, which a route's consumer does not label with its route", values[1])

	var row *grafanaPanel
	var inRow []grafanaPanel
	for i, p := range dash.Panels {
		switch {
		case p.Type == "row" && p.Repeat == "route":
			require.Nil(t, row, "one repeated row")
			row = &dash.Panels[i]
		case p.Type == "row":
			row = nil
		case row != nil:
			inRow = append(inRow, p)
		}
	}
	require.NotNil(t, row, "a row repeated per route")
	selector := regexp.MustCompile(`(edw_[a-z_]+|keda_[a-z_]+)(\{[^}]*\})?`)
	kinds := map[string][]string{}
	for _, p := range inRow {
		assert.Greater(t, p.GridPos.Y, row.GridPos.Y, "%q sits below its row's heading", p.Title)
		kind, _, ok := strings.Cut(p.Title, ":")
		require.True(t, ok, "%q says what it shows before a colon", p.Title)
		for _, target := range p.Targets {
			for _, m := range selector.FindAllStringSubmatch(target.Expr, -1) {
				kinds[kind] = append(kinds[kind], m[1])
				if strings.HasPrefix(m[1], "edw_") {
					assert.Contains(t, m[2], `route="$route"`, "%q: %s is selected by the row's route", p.Title, m[1])
					assert.True(t, labelled[m[1]], "%q: a route's consumer does not label %s with its route", p.Title, m[1])
				} else {
					assert.Contains(t, m[2], `scaledObject="edw-consumer-$route"`, "%q: KEDA's metric of the route's ScaledObject", p.Title)
				}
			}
		}
	}
	assert.Equal(t, map[string][]string{
		"Backlog":       {"keda_scaler_metrics_value"},
		"Throughput":    {"edw_consumer_messages_processed_total", "edw_consumer_messages_received_total"},
		"Consumers":     {"edw_consumer_messages_in_flight"},
		"Dead-lettered": {"edw_consumer_messages_poisoned_total"},
	}, kinds)
}

package stacks

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/edw-dev/edw/internal/pulumitest"
)

// oneRoute puts one route's queues in the graph beside the stack's own.
var oneRoute = []testRoute{{Name: "orders"}}

// dataURNs are the URNs of every resource that holds data (messages, results,
// undelivered events), as a stack with one route "orders" registers them. A
// URN is the resource's type, its parents' types and its logical name: the
// engine matches state by it, so a change to any of them plans a delete and a
// create, and the data is gone. A refactor that moves one must carry an alias
// naming the URN below (pulumi.Aliases); renaming it here instead is the
// mistake this list exists to catch.
var dataURNs = map[Cloud][]string{
	AWS: {
		"urn:pulumi:aws::edw::edw:aws:Queue$aws:sqs/queue:Queue::edw",
		"urn:pulumi:aws::edw::edw:aws:Queue$aws:sqs/queue:Queue::edw-dlq",
		"urn:pulumi:aws::edw::edw:aws:Table$aws:dynamodb/table:Table::edw-results",
		"urn:pulumi:aws::edw::edw:aws:Router$edw:aws:Queue$aws:sqs/queue:Queue::edw-router-orders",
		"urn:pulumi:aws::edw::edw:aws:Router$edw:aws:Queue$aws:sqs/queue:Queue::edw-router-orders-dlq",
		"urn:pulumi:aws::edw::edw:aws:Router$aws:sqs/queue:Queue::edw-router-orders-undelivered",
	},
	Azure: {
		"urn:pulumi:azure::edw::azure-native:resources:ResourceGroup::edw",
		"urn:pulumi:azure::edw::edw:azure:Storage$azure-native:storage:StorageAccount::edw",
		"urn:pulumi:azure::edw::edw:azure:Storage$azure-native:storage:Queue::edw-work",
		"urn:pulumi:azure::edw::edw:azure:Storage$azure-native:storage:Queue::edw-poison",
		"urn:pulumi:azure::edw::edw:azure:Storage$azure-native:storage:Table::edw-results",
		"urn:pulumi:azure::edw::edw:azure:Router$azure-native:storage:Queue::edw-router-orders",
		"urn:pulumi:azure::edw::edw:azure:Router$azure-native:storage:Queue::edw-router-orders-poison",
		"urn:pulumi:azure::edw::edw:azure:Router$azure-native:storage:BlobContainer::edw-router-deadletter",
	},
}

func runWithRoute(t *testing.T, cloud Cloud, extra map[string]string) *pulumitest.Graph {
	t.Helper()
	cfg := map[string]string{"edw:routes": routesJSON(t, oneRoute)}
	for k, v := range extra {
		cfg[k] = v
	}
	if cloud == AWS {
		g, _ := runAWSRoutes(t, cfg)
		return g
	}
	g, _ := runAzureRoutes(t, cfg)
	return g
}

// urnsWhere are the URNs of the resources for which keep is true; a resource
// moved with an alias to a pinned URN counts under that URN.
func urnsWhere(g *pulumitest.Graph, pins []string, keep func(*pulumitest.Resource) bool) []string {
	var out []string
	for _, r := range g.Resources {
		if !keep(r) {
			continue
		}
		u := r.URN
		for _, a := range r.AliasURNs {
			if slices.Contains(pins, a) {
				u = a
			}
		}
		out = append(out, u)
	}
	return out
}

// TestDataKeepsItsURNs: every resource that holds data has the URN pinned in
// dataURNs, or an alias to it; and the pinned list is exactly what
// edw:protectData protects and edw:retainData retains, so a new stateful
// resource cannot join the stack unprotected or unpinned.
func TestDataKeepsItsURNs(t *testing.T) {
	for _, cloud := range []Cloud{AWS, Azure} {
		t.Run(string(cloud), func(t *testing.T) {
			g := runWithRoute(t, cloud, map[string]string{"edw:protectData": "true"})
			for _, want := range dataURNs[cloud] {
				var found []string
				for _, r := range g.Resources {
					if r.URN == want || slices.Contains(r.AliasURNs, want) {
						found = append(found, r.String())
					}
				}
				assert.Len(t, found, 1, "%s: renamed, re-parented or retyped without an alias, it would be replaced and its data lost", want)
			}
			assert.ElementsMatch(t, dataURNs[cloud], urnsWhere(g, dataURNs[cloud], func(r *pulumitest.Resource) bool { return r.Protect }),
				"edw:protectData protects exactly the pinned resources")

			// edw:retainData keeps the same resources, and also the EKS
			// control-plane logs: kept for an audit after a destroy, but
			// bounded by their retention and not worth refusing a destroy for.
			g = runWithRoute(t, cloud, map[string]string{"edw:retainData": "true"})
			retained := urnsWhere(g, dataURNs[cloud], func(r *pulumitest.Resource) bool { return r.RetainOnDelete && r.Type != awsLogGroup })
			assert.ElementsMatch(t, dataURNs[cloud], retained, "edw:retainData keeps exactly the pinned resources")
		})
	}
}

// TestDataIsProtectedOnlyWhenAsked: by default a destroy deletes everything
// (a demo stack must tear down cleanly); with edw:protectData the tables also
// refuse deletion in DynamoDB itself, whoever asks.
func TestDataIsProtectedOnlyWhenAsked(t *testing.T) {
	for _, cloud := range []Cloud{AWS, Azure} {
		g := runWithRoute(t, cloud, nil)
		assert.Empty(t, urnsWhere(g, nil, func(r *pulumitest.Resource) bool { return r.Protect }), "%s: protected by default", cloud)
	}
	for protect, want := range map[string]bool{"false": false, "true": true} {
		g, _ := runAWS(t, map[string]string{"edw:protectData": protect})
		table := g.OnlyOfType(t, awsTable)
		got, _ := table.Plain("deletionProtectionEnabled")
		assert.Equal(t, want, got, "edw:protectData %s: DynamoDB deletion protection follows it", protect)
		assert.Equal(t, want, table.Protect)
	}
}

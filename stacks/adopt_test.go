package stacks

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/internal/pulumitest"
)

// TestReUpAdoptsRetainedStorage: after `edw:retainData: true` and a destroy,
// the resource group, the account, its queues and its table still exist, and
// azure-native refuses to create what exists. With edw:adoptRetainedStorage the
// next up imports each of them by its ARM id and creates none; without it,
// nothing is imported.
func TestReUpAdoptsRetainedStorage(t *testing.T) {
	kept := []string{azRG, azAccount, azQueue, azTable}
	g, _ := runAzure(t, map[string]string{"edw:retainData": "true"})
	for _, r := range g.Resources {
		assert.Empty(t, r.ImportID, "%s is imported without edw:adoptRetainedStorage", r)
	}

	g, _ = runAzure(t, map[string]string{"edw:retainData": "true", "edw:adoptRetainedStorage": "edwkept1a2b"})
	rg := g.OnlyOfType(t, azRG)
	group := "/subscriptions/" + fakeSubscription + "/resourceGroups/" + rg.Str(t, "resourceGroupName")
	account := group + "/providers/Microsoft.Storage/storageAccounts/edwkept1a2b"
	want := map[string]string{
		rg.URN:                               group,
		g.OnlyOfType(t, azAccount).URN:       account,
		g.One(t, azQueue, "edw-work").URN:    account + "/queueServices/default/queues/edw-work",
		g.One(t, azQueue, "edw-poison").URN:  account + "/queueServices/default/queues/edw-work-poison",
		g.One(t, azTable, "edw-results").URN: account + "/tableServices/default/tables/edwresults",
	}
	for _, typ := range kept {
		for _, r := range g.ByType(typ) {
			assert.Equal(t, want[r.URN], r.ImportID, "%s is adopted by its ARM id", r)
			assert.True(t, r.RetainOnDelete, "%s stays retained", r)
		}
	}
	assert.Equal(t, "edwkept1a2b", g.OnlyOfType(t, azAccount).Str(t, "accountName"), "the adopted account keeps its name")
	for _, r := range g.Resources {
		if _, ok := want[r.URN]; !ok {
			assert.Empty(t, r.ImportID, "%s was not retained, so it is created", r)
		}
	}
}

// Routes' queues and the dead-letter container are retained with the rest,
// so they are adopted too, but only into a stack its destroy emptied: once
// the stack is live again (its last update has outputs) a route added later
// has nothing to import, and leaving the key set must not make it try.
func TestReUpAdoptsRetainedRouteStorage(t *testing.T) {
	extra := map[string]string{"edw:retainData": "true", "edw:adoptRetainedStorage": "edwkept1a2b",
		"edw:routes": routesJSON(t, threeRoutes[:2])}
	account := "/subscriptions/" + fakeSubscription + "/resourceGroups/edw-azure/providers/Microsoft.Storage/storageAccounts/edwkept1a2b"
	routeStorage := func(g *pulumitest.Graph) []*pulumitest.Resource {
		var out []*pulumitest.Resource
		for _, r := range g.Resources {
			if (r.Type == azQueue || r.Type == "azure-native:storage:BlobContainer") && strings.HasPrefix(r.Name, "edw-router") {
				out = append(out, r)
			}
		}
		return out
	}

	g, _ := runAzureRoutes(t, extra) // a new or destroyed stack: no last update
	adopted := map[string]string{}
	for _, r := range routeStorage(g) {
		adopted[r.Name] = r.ImportID
	}
	want := map[string]string{"edw-router-deadletter": account + "/blobServices/default/containers/edw-deadletter"}
	for _, rt := range threeRoutes[:2] {
		want["edw-router-"+rt.Name] = account + "/queueServices/default/queues/edw-" + rt.Name
		want["edw-router-"+rt.Name+"-poison"] = account + "/queueServices/default/queues/edw-" + rt.Name + "-poison"
	}
	assert.Equal(t, want, adopted, "every retained route resource is imported by its ARM id")

	extra["edw:routes"] = routesJSON(t, threeRoutes)
	g, _ = runStack(t, "azure", with(extra, flatten(prebuilt)...), append(append(azureFakes(), routeFakes()...),
		lastUpdateWith(map[string]any{"storageAccount": "edwkept1a2b", "nodeProvisioning": "auto"}))...)
	rs := routeStorage(g)
	require.Len(t, rs, 7, "three routes' two queues and the container")
	for _, r := range rs {
		assert.Empty(t, r.ImportID, "%s: a live stack imports nothing for its routes", r)
	}
}

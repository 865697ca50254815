package stacks

import (
	"testing"

	"github.com/stretchr/testify/assert"
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

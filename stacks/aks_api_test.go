package stacks

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/infra/azure"
)

// aksDeprecations is AKS's table of deprecated preview API versions (testdata,
// with the page it came from): a version listed there stops working on its date.
func aksDeprecations(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile("testdata/aks-preview-api-deprecations.json")
	require.NoError(t, err)
	var doc struct{ Deprecated map[string]string }
	require.NoError(t, json.Unmarshal(raw, &doc))
	require.NotEmpty(t, doc.Deprecated)
	return doc.Deprecated
}

// apiVersionOf turns a token's version module ("v20241002preview") into the
// API version AKS names ("2024-10-02-preview"); "" for an unversioned token.
var versionModule = regexp.MustCompile(`^azure-native:containerservice/v(\d{4})(\d{2})(\d{2})(preview)?:`)

func apiVersionOf(token string) string {
	m := versionModule.FindStringSubmatch(token)
	if m == nil {
		return ""
	}
	v := m[1] + "-" + m[2] + "-" + m[3]
	if m[4] != "" {
		v += "-preview"
	}
	return v
}

// TestNoRetiredAKSAPIVersion: no AKS resource or invoke of either provisioning
// mode uses an API version AKS has announced for deprecation.
func TestNoRetiredAKSAPIVersion(t *testing.T) {
	retired := aksDeprecations(t)
	for _, mode := range []string{"auto", "cluster-autoscaler"} {
		g, _ := runAzure(t, map[string]string{"edw:nodeProvisioning": mode})
		var tokens []string
		for _, r := range g.Resources {
			tokens = append(tokens, r.Type)
		}
		for _, c := range g.Calls {
			tokens = append(tokens, c.Token)
		}
		seen := 0
		for _, tok := range tokens {
			if !strings.HasPrefix(tok, "azure-native:containerservice") {
				continue
			}
			seen++
			v := apiVersionOf(tok)
			date, gone := retired[v]
			assert.False(t, gone, "%s (%s): AKS retires API %s on %s", tok, mode, v, date)
		}
		assert.Positive(t, seen, mode)
	}
}

// TestClusterKeepsItsStateAcrossAPIVersions: the cluster and the pools answer
// to their old token too, so moving API version updates existing stacks in
// place instead of replacing the cluster.
func TestClusterKeepsItsStateAcrossAPIVersions(t *testing.T) {
	g, _ := runAzure(t, map[string]string{"edw:nodeProvisioning": "cluster-autoscaler"})
	for _, typ := range []string{azure.ClusterType, azure.AgentPoolType} {
		rs := g.ByType(typ)
		require.NotEmpty(t, rs, typ)
		kind := typ[strings.LastIndex(typ, ":")+1:]
		for _, r := range rs {
			assert.Contains(t, strings.Join(r.Aliases, "\n"), "azure-native:containerservice/v20240902preview:"+kind, r.String())
		}
	}
}

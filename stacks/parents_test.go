package stacks

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestEveryAzureResourceHasAnEdwParent: apart from the stack and the
// providers, every resource the azure stack registers sits under an edw
// component (custom role definitions and the resource group included), so
// the graph reads as edw's components and nothing floats at the root.
func TestEveryAzureResourceHasAnEdwParent(t *testing.T) {
	for _, mode := range []string{"auto", "cluster-autoscaler"} {
		g, _ := runAzure(t, map[string]string{"edw:nodeProvisioning": mode, "edw:managedPrometheus": "true", "edw:containerInsights": "true"})
		for _, r := range g.Resources {
			if r.Type == "pulumi:pulumi:Stack" || strings.HasPrefix(r.Type, "pulumi:providers:") {
				continue
			}
			underEdw := false
			for _, a := range g.Ancestors(r) {
				underEdw = underEdw || (!a.Custom && strings.HasPrefix(a.Type, "edw:"))
			}
			if !r.Custom && strings.HasPrefix(r.Type, "edw:") {
				continue // a top-level edw component is the root of its subtree
			}
			assert.True(t, underEdw, "%s (%s) has no edw component above it", r, mode)
		}
	}
}

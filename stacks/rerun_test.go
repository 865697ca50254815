package stacks

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/internal/pulumitest"
)

// Issue 21, item 19: a second `up` with the same config must plan no change.
// The engine diffs each resource's inputs and options against the last run, so
// the program must register the same graph every time it runs: no time, random
// value or map order leaking into a name, an input or a dependency. The engine
// test shows it for the kubernetes stack (lab/engine "second up changes
// nothing"); here every cloud, with routes, is run twice and compared whole.
func TestASecondRunRegistersTheSameGraph(t *testing.T) {
	routes := map[string]string{"edw:routes": routesJSON(t, threeRoutes)}
	for name, run := range map[string]func(*testing.T) *pulumitest.Graph{
		"aws":   func(t *testing.T) *pulumitest.Graph { g, _ := runAWSRoutes(t, routes); return g },
		"azure": func(t *testing.T) *pulumitest.Graph { g, _ := runAzureRoutes(t, routes); return g },
		"kubernetes": func(t *testing.T) *pulumitest.Graph {
			return runKubernetes(t, with(awsWithSecret, "edw:clusterReaders", `["ci-readers"]`))
		},
	} {
		t.Run(name, func(t *testing.T) {
			first, second := planOf(run(t)), planOf(run(t))
			require.NotEmpty(t, first)
			assert.Equal(t, slices.Sorted(maps.Keys(first)), slices.Sorted(maps.Keys(second)), "the same resources")
			for urn, a := range first {
				if b, ok := second[urn]; ok {
					assert.Equal(t, a, b, "%s differs between two runs with the same config: its next up would change it", urn)
				}
			}
		})
	}
}

// planOf is what the engine compares between runs, per URN: inputs (as text,
// so unknowns and secrets compare too) and the options it diffs, with lists
// whose order the engine ignores sorted.
func planOf(g *pulumitest.Graph) map[string]string {
	out := map[string]string{}
	for _, r := range g.Resources {
		deps := slices.Sorted(slices.Values(r.DependsOn))
		props := map[string][]string{}
		for k, v := range r.PropertyDependencies {
			props[k] = slices.Sorted(slices.Values(v))
		}
		out[r.URN] = fmt.Sprintf("inputs %v\nparent %s\ndeps %v\nprop deps %v\nprovider %s %v\nprotect %v retain %v deleteBeforeReplace %v\n"+
			"ignore %v replaceOn %v deletedWith %s secrets %v aliases %v timeouts %s/%s import %s",
			plainOf(resource.NewObjectProperty(r.Inputs)), r.Parent, deps, props, r.Provider, r.Providers,
			r.Protect, r.RetainOnDelete, r.DeleteBeforeReplace,
			r.IgnoreChanges, r.ReplaceOnChanges, r.DeletedWith, r.AdditionalSecrets, r.Aliases, r.TimeoutCreate, r.TimeoutUpdate, r.ImportID)
	}
	return out
}

// plainOf spells a property value out, secrets and unknowns included, so two
// values print alike exactly when the engine would see them alike.
func plainOf(v resource.PropertyValue) any {
	switch {
	case v.IsSecret():
		return map[string]any{"secret": plainOf(v.SecretValue().Element)}
	case v.IsComputed():
		return "<unknown>"
	case v.IsOutput():
		o := v.OutputValue()
		if !o.Known {
			return "<unknown output>"
		}
		return map[string]any{"output": plainOf(o.Element), "secret": o.Secret}
	case v.IsObject():
		m := map[string]any{}
		for k, x := range v.ObjectValue() {
			m[string(k)] = plainOf(x)
		}
		return m
	case v.IsArray():
		var a []any
		for _, x := range v.ArrayValue() {
			a = append(a, plainOf(x))
		}
		return a
	case v.IsResourceReference():
		ref := v.ResourceReferenceValue()
		return "ref:" + string(ref.URN)
	}
	return v.V
}

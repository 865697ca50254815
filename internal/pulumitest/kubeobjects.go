package pulumitest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// RenderDirEnv names the directory WriteKubernetesObjects writes to; the test
// command sets it and then strictly validates every object in it against the
// official Kubernetes, KEDA and Karpenter Go API types (tools/kubevalidate).
const RenderDirEnv = "EDW_RENDER_DIR"

// KubernetesObjects returns the Kubernetes objects the run registered, as plain
// maps shaped like manifests. Helm releases and providers are not objects.
func (g *Graph) KubernetesObjects() []map[string]any {
	var out []map[string]any
	for _, r := range g.Resources {
		if !r.Custom || !strings.HasPrefix(r.Type, "kubernetes:") || strings.HasPrefix(r.Type, "kubernetes:helm.sh/") {
			continue
		}
		obj, ok := plain(resource.NewObjectProperty(r.Inputs)).(map[string]any)
		if !ok {
			continue
		}
		delete(obj, "__meta")
		out = append(out, obj)
	}
	return out
}

// WriteKubernetesObjects writes the run's Kubernetes objects as a JSON array to
// $EDW_RENDER_DIR/<name>.json when the variable is set.
func (g *Graph) WriteKubernetesObjects(t testing.TB, name string) {
	t.Helper()
	dir := os.Getenv(RenderDirEnv)
	if dir == "" {
		return
	}
	objs := g.KubernetesObjects()
	if len(objs) == 0 {
		t.Fatalf("no Kubernetes objects to render for %s", name)
	}
	b, err := json.MarshalIndent(objs, "", "  ")
	if err != nil {
		t.Fatalf("render %s: %v", name, err)
	}
	file := filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(name)+".json")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatalf("render %s: %v", name, err)
	}
}

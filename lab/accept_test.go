package lab

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/edw-dev/edw/lab/internal/apply"
)

// The configurations the infra tests render (stacks/*_test.go, infra/kube/kube_test.go).
var wantRendered = []string{"aws", "azure-auto", "azure-cluster-autoscaler", "azure-monitored"}

// TestRenderedObjectsAccepted applies every object every configuration renders,
// server-side with strict field validation, as one stack at a time: the real
// API server's OpenAPI schemas, the CRDs' structural schemas and CEL rules, and
// admission all have to accept them as rendered.
func TestRenderedObjectsAccepted(t *testing.T) {
	l := lab(t)
	files, err := Rendered(l.env.RenderDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range wantRendered {
		if files[want] == "" {
			t.Errorf("the infra tests did not render %q (have %v)", want, keys(files))
		}
	}
	for _, name := range keys(files) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			objs, err := apply.ReadRendered(files[name])
			if err != nil {
				t.Fatal(err)
			}
			kinds := map[string]int{}
			var applied []*unstructured.Unstructured
			for _, o := range apply.Order(objs) {
				if _, err := l.client.Apply(ctx, o); err != nil {
					t.Errorf("REJECTED %v", err)
					continue
				}
				kinds[o.GetKind()]++
				applied = append(applied, o)
			}
			t.Logf("%s: %d of %d objects accepted: %v", name, len(applied), len(objs), kinds)
			// Leave the lab empty for the next configuration (namespaces stay:
			// deleting one needs the namespace controller, and it is harmless).
			for i := len(applied) - 1; i >= 0; i-- {
				if applied[i].GetKind() == "Namespace" {
					continue
				}
				if err := l.client.Delete(ctx, applied[i]); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// TestLabRejectsWhatTheSchemasForbid is the negative control: per CRD kind, one
// object the real schema forbids, so a lab that accepted anything would fail.
func TestLabRejectsWhatTheSchemasForbid(t *testing.T) {
	l := lab(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	files, err := Rendered(l.env.RenderDir)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := apply.ReadRendered(files["aws"])
	if err != nil {
		t.Fatal(err)
	}
	// The PodMonitors come from the azure configuration that renders both kinds.
	monitored, err := apply.ReadRendered(files["azure-monitored"])
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range monitored {
		if o.GetKind() == "PodMonitor" {
			objs = append(objs, o)
		}
	}
	for _, o := range objs {
		if o.GetKind() == "Namespace" {
			if _, err := l.client.Apply(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		name, kind string
		apiVersion string                     // "": any of the kind
		base       *unstructured.Unstructured // nil: the rendered object of that kind
		mutate     func(u map[string]any)
		want       string
	}{
		{name: "ScaledObject trigger field misspelt", kind: "ScaledObject",
			mutate: func(u map[string]any) {
				trig := spec(u)["triggers"].([]any)[0].(map[string]any)
				trig["authRef"] = trig["authenticationRef"]
				delete(trig, "authenticationRef")
			},
			want: `unknown field "spec.triggers[0].authRef"`},
		{name: "ScaledObject without triggers", kind: "ScaledObject",
			mutate: func(u map[string]any) { delete(spec(u), "triggers") },
			want:   "spec.triggers: Required value"},
		{name: "TriggerAuthentication pod identity not an object", kind: "TriggerAuthentication",
			mutate: func(u map[string]any) { spec(u)["podIdentity"] = "aws" },
			want:   "spec.podIdentity: Invalid value"},
		{name: "NodePool requirement in Karpenter's restricted AWS label domain (CEL)", kind: "NodePool",
			mutate: func(u map[string]any) {
				tmpl := spec(u)["template"].(map[string]any)["spec"].(map[string]any)
				tmpl["requirements"] = append(tmpl["requirements"].([]any), map[string]any{
					"key": "karpenter.k8s.aws/not-a-label", "operator": "Exists"})
			},
			want: `label domain "karpenter.k8s.aws" is restricted`},
		{name: "NodePool v1beta1 layout", kind: "NodePool",
			mutate: func(u map[string]any) { spec(u)["disruption"].(map[string]any)["expireAfter"] = "720h" },
			want:   `unknown field "spec.disruption.expireAfter"`},
		{name: "EC2NodeClass alias with another selector (CEL)", kind: "EC2NodeClass",
			mutate: func(u map[string]any) {
				spec(u)["amiSelectorTerms"] = []any{map[string]any{"alias": "al2023@latest", "id": "ami-0123456789abcdef0"}}
			},
			want: "'alias' is mutually exclusive"},
		{name: "NodeClaim without nodeClassRef", kind: "NodeClaim",
			base: &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "karpenter.sh/v1", "kind": "NodeClaim", "metadata": map[string]any{"name": "x"},
				"spec": map[string]any{"requirements": []any{}}}},
			mutate: func(map[string]any) {},
			want:   "spec.nodeClassRef: Required value"},
		{name: "PodMonitor endpoint in the ServiceMonitor's layout", kind: "PodMonitor", apiVersion: "monitoring.coreos.com/v1",
			mutate: func(u map[string]any) { spec(u)["endpoints"] = spec(u)["podMetricsEndpoints"] },
			want:   `unknown field "spec.endpoints"`},
		{name: "PodMonitor scrape interval not a duration (schema pattern)", kind: "PodMonitor", apiVersion: "monitoring.coreos.com/v1",
			mutate: func(u map[string]any) {
				spec(u)["podMetricsEndpoints"].([]any)[0].(map[string]any)["interval"] = "30 seconds"
			},
			want: "spec.podMetricsEndpoints[0].interval: Invalid value"},
		{name: "managed Prometheus PodMonitor without a selector", kind: "PodMonitor", apiVersion: "azmonitoring.coreos.com/v1",
			mutate: func(u map[string]any) { delete(spec(u), "selector") },
			want:   "spec.selector: Required value"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := tc.base
			if base == nil {
				base = find(objs, tc.apiVersion, tc.kind)
				if base == nil {
					t.Fatalf("no configuration renders a %s %s", tc.apiVersion, tc.kind)
				}
				// The rendered object itself must pass, or the control proves nothing.
				good := base.DeepCopy()
				good.SetName(good.GetName() + "-control")
				if err := l.client.DryRunCreate(ctx, good); err != nil {
					t.Fatalf("rendered %s rejected: %v", tc.kind, err)
				}
			}
			bad := base.DeepCopy()
			bad.SetName(bad.GetName() + "-negative")
			tc.mutate(bad.Object)
			err := l.client.DryRunCreate(ctx, bad)
			if err == nil {
				t.Fatalf("the lab accepted a %s the schema forbids", tc.kind)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("rejected, but not for the forbidden field: want %q in\n%v", tc.want, err)
			}
			t.Logf("rejected as it must be: %v", err)
		})
	}
}

func spec(u map[string]any) map[string]any { return u["spec"].(map[string]any) }

func find(objs []*unstructured.Unstructured, apiVersion, kind string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && (apiVersion == "" || o.GetAPIVersion() == apiVersion) {
			return o
		}
	}
	return nil
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func tailLog(dir, name string, n int64) string {
	b, err := os.ReadFile(filepath.Join(dir, name+".log"))
	if err != nil {
		return ""
	}
	if int64(len(b)) > n {
		b = b[int64(len(b))-n:]
	}
	return string(b)
}

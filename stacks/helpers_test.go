package stacks

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/internal/pulumitest"
)

// projectRoot is where Pulumi.yaml lives, fixed before any test changes directory.
var projectRoot, _ = filepath.Abs("..")

// runStack runs the whole program for a stack whose config is Pulumi.<stack>.yaml
// plus extra, and returns the recorded graph and the resolved stack outputs.
func runStack(t *testing.T, stack string, extra map[string]string, opts ...pulumitest.Option) (*pulumitest.Graph, map[string]any) {
	t.Helper()
	return runStackWaiting(t, stack, extra, allowedAtOnce, opts...)
}

// allowedAtOnce stands in for a cluster that already allows its deployer.
func allowedAtOnce(context.Context, string) error { return nil }

// runStackWaiting is runStack with wait standing in for the wait until the
// cluster allows its deployer.
func runStackWaiting(t *testing.T, stack string, extra map[string]string, wait func(context.Context, string) error,
	opts ...pulumitest.Option) (*pulumitest.Graph, map[string]any) {
	t.Helper()
	outputs := map[string]any{}
	resolved := make(chan struct{})
	observe := func(m pulumi.Map) {
		m.ToMapOutput().ApplyT(func(v map[string]any) map[string]any {
			for k, x := range v {
				outputs[k] = x
			}
			close(resolved)
			return v
		})
	}
	cfg := with(stackFile(t, stack), flatten(extra)...)
	all := append([]pulumitest.Option{pulumitest.Stack(stack), pulumitest.Config(cfg)}, opts...)
	g, err := pulumitest.RunErr(program(seams{observe: observe, waitForAccess: wait}), all...)
	require.NoError(t, err)
	<-resolved
	return g, outputs
}

func flatten(m map[string]string) []string {
	var kv []string
	for k, v := range m {
		kv = append(kv, k, v)
	}
	return kv
}

// koPushes stands in for ko: each build "pushes" to its KO_DOCKER_REPO and
// prints the reference by digest, as ko does.
func koPushes() pulumitest.Option {
	return pulumitest.FakeResource("command:local:Command", func(a pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
		out := a.Inputs.Copy()
		repo := a.Inputs["environment"].ObjectValue()["KO_DOCKER_REPO"].StringValue()
		out["stdout"] = resource.NewStringProperty(repo + "@sha256:" + strings.Repeat("e", 64))
		return a.Name, out, nil
	})
}

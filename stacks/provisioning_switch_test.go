package stacks

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/internal/pulumitest"
)

// lastUpdateWith stands in for the stack's last update: its outputs, as a
// stack reference reads them.
func lastUpdateWith(outputs map[string]any) pulumitest.Option {
	return pulumitest.FakeResource("pulumi:pulumi:StackReference", func(a pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
		return a.ID, resource.NewPropertyMapFromMap(map[string]any{
			"name": a.ID, "outputs": outputs, "secretOutputNames": []any{},
		}), nil
	})
}

// Issue 21, item 14: AKS cannot switch node provisioning in one update, so a
// changed edw:nodeProvisioning fails the preview in one line, before
// anything but the read of the last update is registered.
func TestANodeProvisioningSwitchIsRefusedAtPreview(t *testing.T) {
	cfg := with(stackFile(t, "azure"), flatten(prebuilt)...)
	cfg["edw:nodeProvisioning"] = "cluster-autoscaler"
	g, err := pulumitest.RunErr(program(seams{waitForAccess: allowedAtOnce}), append(azureFakes(),
		pulumitest.Stack("azure"), pulumitest.Config(cfg), pulumitest.Preview(),
		lastUpdateWith(map[string]any{"nodeProvisioning": "auto", "clusterName": "edw-azure"}))...)
	require.Error(t, err)
	assert.ErrorContains(t, err, `invalid stack config edw:nodeProvisioning = "cluster-autoscaler": the stack's cluster runs with "auto" and AKS cannot switch modes in one update; keep "auto", or re-create the cluster as docs/day-two.md (Switching node provisioning) says`)
	for _, r := range g.Resources {
		assert.Contains(t, []string{"pulumi:pulumi:Stack", "edw:stack:LastUpdate", "pulumi:pulumi:StackReference"}, r.Type, "%s registered before the refusal", r)
	}
	ref := g.OnlyOfType(t, "pulumi:pulumi:StackReference")
	assert.Regexp(t, `^[^/]*/edw/azure$`, ref.Str(t, "name"), "the stack reads itself")

	for _, c := range []struct {
		name     string
		previous map[string]any
	}{
		{"the same mode", map[string]any{"nodeProvisioning": "cluster-autoscaler"}},
		{"a new stack", map[string]any{}},
	} {
		t.Run(c.name+" deploys", func(t *testing.T) {
			_, out := runStack(t, "azure", with(prebuilt, "edw:nodeProvisioning", "cluster-autoscaler"),
				append(azureFakes(), lastUpdateWith(c.previous))...)
			assert.Equal(t, "cluster-autoscaler", out["nodeProvisioning"], "exported for the next update to read")
		})
	}
}

// A stack keeps its cloud: switching edw:cloud would plan deleting every
// resource, data included, on one cloud and creating the other's.
func TestACloudSwitchIsRefusedAtPreview(t *testing.T) {
	cfg := with(with(stackFile(t, "aws"), flatten(prebuilt)...), "aws:region", "eu-north-1")
	g, err := pulumitest.RunErr(program(seams{waitForAccess: allowedAtOnce}), append(awsFakes("eu-north-1", "edw-aws"),
		pulumitest.Stack("aws"), pulumitest.Config(cfg), pulumitest.Preview(),
		lastUpdateWith(map[string]any{"cloud": "azure"}))...)
	require.Error(t, err)
	assert.ErrorContains(t, err, `invalid stack config edw:cloud = "aws": the stack is deployed on azure; a stack keeps its cloud: create another stack (pulumi stack init) for aws`)
	for _, r := range g.Resources {
		assert.Contains(t, []string{"pulumi:pulumi:Stack", "edw:stack:LastUpdate", "pulumi:pulumi:StackReference"}, r.Type, "%s registered before the refusal", r)
	}
	_, out := runStack(t, "aws", with(prebuilt, "aws:region", "eu-north-1"),
		append(awsFakes("eu-north-1", "edw-aws"), lastUpdateWith(map[string]any{"cloud": "aws"}))...)
	assert.Equal(t, "aws", out["cloud"], "the same cloud deploys")
}

package stacks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/internal/pulumitest"
)

// Issue 21, item 18: each resource a cloud creates for the stack is owned,
// removed with something the stack owns, checked at preview, or documented as
// left behind, and the stack does what the list says.
func TestCloudCreatedResourcesAreAccountedFor(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(projectRoot, "docs", "real-account.md"))
	require.NoError(t, err)
	graphs := map[Cloud]*pulumitest.Graph{}
	graphs[AWS], _ = runAWS(t, nil)
	graphs[Azure], _ = runAzure(t, nil)
	for _, c := range CloudCreatedResources() {
		t.Run(c.Name, func(t *testing.T) {
			g := graphs[c.Cloud]
			assert.Contains(t, string(doc), "`"+c.Name+"`", "docs/real-account.md names it")
			assert.True(t, strings.HasPrefix(c.Source, "https://"), "a source says the cloud creates it")
			switch c.Disposition {
			case Owned:
				want := strings.ReplaceAll(c.Name, "{cluster}", "edw-aws")
				var names []string
				for _, r := range g.ByType(c.Type) {
					names = append(names, r.Str(t, "name"))
				}
				assert.Contains(t, names, want, "the stack creates %s itself", want)
			case RemovedWith:
				assert.NotEmpty(t, g.ByType(c.Type), "the stack owns the %s it goes with", c.Type)
			case Checked:
				assert.NotEmpty(t, g.Invoked(c.Check), "preview looks for it")
			case Left:
			default:
				t.Errorf("unknown disposition %q", c.Disposition)
			}
		})
	}
}

// Issue 21, item 4: without the EC2 Spot service-linked role, a stack that
// allows spot fails at preview with the command that creates it; a stack
// that allows only on-demand does not ask.
func TestMissingSpotRoleFailsThePreviewWithTheCommand(t *testing.T) {
	noRole := pulumitest.FakeInvoke("aws:iam/getRoles:getRoles", func(a pulumi.MockCallArgs) (resource.PropertyMap, error) {
		assert.Equal(t, "/aws-service-role/spot.amazonaws.com/", a.Args["pathPrefix"].StringValue())
		return resource.NewPropertyMapFromMap(map[string]any{"id": "roles", "names": []any{}, "arns": []any{}}), nil
	})
	cfg := with(with(stackFile(t, "aws"), flatten(prebuilt)...), "aws:region", "eu-north-1")
	g, err := pulumitest.RunErr(Run, append(append([]pulumitest.Option{pulumitest.Stack("aws"), pulumitest.Config(cfg)},
		awsFakes("eu-north-1", "edw-aws")...), noRole)...)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "aws iam create-service-linked-role --aws-service-name spot.amazonaws.com")
	assert.Contains(t, err.Error(), "edw:capacityTypes")
	for _, r := range g.Resources {
		// The provider, and the stack's read of its own last update, which
		// creates nothing.
		assert.False(t, r.Custom && r.Type != "pulumi:providers:aws" && r.Type != "pulumi:pulumi:StackReference",
			"%s registered before the check", r)
	}

	g, err = pulumitest.RunErr(Run, append(append([]pulumitest.Option{pulumitest.Stack("aws"),
		pulumitest.Config(with(cfg, "edw:capacityTypes", `["on-demand"]`))}, awsFakes("eu-north-1", "edw-aws")...), noRole)...)
	require.NoError(t, err)
	assert.Empty(t, g.Invoked("aws:iam/getRoles:getRoles"), "on-demand only needs no spot role")
}

package images_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/infra/images"
	"github.com/edw-dev/edw/internal/pulumitest"
)

const commandType = "command:local:Command"

func workloadDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":                      "module example/workload\n",
		"go.sum":                      "",
		"cmd/consumer/main.go":        "package main\nfunc main() {}\n",
		"cmd/producer/main.go":        "package main\nfunc main() {}\n",
		"internal/worker/worker.go":   "package worker\n",
		"internal/worker/w_test.go":   "package worker\n",
		"README.md":                   "docs\n",
		"tools/node_modules/x/gen.go": "package x\n",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	}
	return dir
}

func TestSourceHashChangesWithCodeOnly(t *testing.T) {
	dir := workloadDir(t)
	base, err := images.SourceHash(dir)
	require.NoError(t, err)
	assert.Len(t, base, 64)

	edit := func(name, body string) string {
		t.Helper()
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
		h, err := images.SourceHash(dir)
		require.NoError(t, err)
		return h
	}
	assert.Equal(t, base, edit("README.md", "other docs\n"), "docs do not rebuild images")
	assert.Equal(t, base, edit("internal/worker/w_test.go", "package worker\n// more\n"), "tests do not rebuild images")
	assert.Equal(t, base, edit("tools/node_modules/x/gen.go", "package x\n// y\n"), "node_modules are not sources")
	changed := edit("internal/worker/worker.go", "package worker\nconst x = 1\n")
	assert.NotEqual(t, base, changed, "code changes rebuild images")
	assert.NotEqual(t, changed, edit("go.sum", "example.com/m v1.0.0 h1:x\n"), "dependency changes rebuild images")
}

func TestSourceHashNeedsSources(t *testing.T) {
	_, err := images.SourceHash(t.TempDir())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no Go sources found")
}

func build(dir string, prebuilt images.Refs, got **images.Images) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		im, err := images.New(ctx, "images", images.Args{
			Repositories: images.Repositories{
				Producer: pulumi.String("123456789012.dkr.ecr.us-west-2.amazonaws.com/edw-producer"),
				Consumer: pulumi.String("123456789012.dkr.ecr.us-west-2.amazonaws.com/edw-consumer"),
			},
			Architectures: []string{"amd64", "arm64"},
			Prebuilt:      prebuilt,
			WorkloadDir:   dir,
			Environment:   pulumi.StringMap{"AWS_REGION": pulumi.String("us-west-2")},
		})
		if err != nil {
			return err
		}
		*got = im
		return nil
	}
}

// koStdout fakes what ko prints: progress, then the pushed reference by digest.
func koStdout(digest string) pulumitest.Option {
	return pulumitest.FakeResource(commandType, func(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
		out := args.Inputs.Copy()
		repo := args.Inputs["environment"].ObjectValue()["KO_DOCKER_REPO"].StringValue()
		out["stdout"] = resource.NewStringProperty("2026/11/23 building\n" + repo + "@sha256:" + digest + "\n")
		return args.Name, out, nil
	})
}

func resolved(t *testing.T, o pulumi.StringOutput) string {
	t.Helper()
	ch := make(chan string, 1)
	o.ApplyT(func(s string) string { ch <- s; return s })
	return <-ch
}

func TestBuildsBothImagesWithKoForEachArchitecture(t *testing.T) {
	dir := workloadDir(t)
	hash, err := images.SourceHash(dir)
	require.NoError(t, err)
	var im *images.Images
	digest := strings.Repeat("ab", 32)
	g := pulumitest.Run(t, build(dir, images.Refs{}, &im), koStdout(digest))

	cmds := g.ByType(commandType)
	require.Len(t, cmds, 2)
	for _, component := range []string{"producer", "consumer"} {
		c := g.One(t, commandType, "images-"+component)
		create := c.Str(t, "create")
		assert.Contains(t, create, "go tool ko build --bare")
		assert.Contains(t, create, "--platform=linux/amd64,linux/arm64")
		assert.True(t, strings.HasSuffix(create, "./cmd/"+component), create)
		assert.Contains(t, create, "--tags="+images.BuildTag(hash, []string{"linux/amd64", "linux/arm64"}),
			"tag names sources and platforms, so immutable-tag registries accept every distinct build")
		assert.NotContains(t, create, "docker")
		assert.Equal(t, "123456789012.dkr.ecr.us-west-2.amazonaws.com/edw-"+component, c.Str(t, "environment.KO_DOCKER_REPO"))
		assert.Equal(t, "us-west-2", c.Str(t, "environment.AWS_REGION"))
		assert.Equal(t, dir, c.Str(t, "dir"))
		triggers, _ := c.Plain("triggers")
		assert.Contains(t, triggers, hash, "re-run only when the sources change")
		assert.Equal(t, g.One(t, "edw:images:Images", "images").URN, c.Parent)
	}
	assert.Equal(t, "123456789012.dkr.ecr.us-west-2.amazonaws.com/edw-consumer@sha256:"+digest, resolved(t, im.Consumer))
	assert.Equal(t, "123456789012.dkr.ecr.us-west-2.amazonaws.com/edw-producer@sha256:"+digest, resolved(t, im.Producer))
}

func TestKoOutputWithoutDigestFailsTheDeploy(t *testing.T) {
	var im *images.Images
	_, err := pulumitest.RunErr(build(workloadDir(t), images.Refs{}, &im),
		pulumitest.FakeResource(commandType, func(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
			out := args.Inputs.Copy()
			out["stdout"] = resource.NewStringProperty("registry.example/edw:latest\n")
			return args.Name, out, nil
		}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not an image reference by digest")
}

func TestPrebuiltImagesBuildNothing(t *testing.T) {
	refs := images.Refs{
		Producer: "ghcr.io/edw/producer@sha256:" + strings.Repeat("1", 64),
		Consumer: "ghcr.io/edw/consumer@sha256:" + strings.Repeat("2", 64),
	}
	var im *images.Images
	// No workload directory at all: prebuilt images must not need the sources.
	g := pulumitest.Run(t, build(filepath.Join(t.TempDir(), "missing"), refs, &im))
	assert.Empty(t, g.ByType(commandType))
	assert.Equal(t, refs.Consumer, resolved(t, im.Consumer))
	assert.Equal(t, refs.Producer, resolved(t, im.Producer))
}

func TestBuildTagNamesSourcesAndPlatforms(t *testing.T) {
	both := images.BuildTag("abc", []string{"linux/amd64", "linux/arm64"})
	assert.Len(t, both, 16)
	assert.Equal(t, both, images.BuildTag("abc", []string{"linux/amd64", "linux/arm64"}))
	assert.NotEqual(t, both, images.BuildTag("abc", []string{"linux/amd64"}), "an index for other platforms is another tag, which immutable repositories accept")
	assert.NotEqual(t, both, images.BuildTag("abd", []string{"linux/amd64", "linux/arm64"}))
}

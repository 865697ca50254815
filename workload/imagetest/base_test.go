package imagetest

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/ko/pkg/commands/options"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nonrootBases are base images whose publishers document that they run as the
// non-root uid 65532, by repository and tag ("" for any tag). Test data, not
// ko's: ko's default changing to anything not listed here fails the test below.
var nonrootBases = map[string]map[string]string{
	"cgr.dev/chainguard/static": {"": nonroot}, // every tag: USER 65532 (nonroot)
	"gcr.io/distroless/static":  {"nonroot": nonroot, "nonroot-amd64": nonroot, "nonroot-arm64": nonroot},
}

// TestTheImagesBuildOnANonRootBase follows the base image the real build uses.
// infra/images runs `go tool ko build` in workload/ with KO_DOCKER_REPO and no
// base image, so the base is whatever ko resolves from workload/.ko.yaml (none
// today), KO_DEFAULTBASEIMAGE, and its own built-in default. The test asks ko's
// own option loading (the code `ko build` runs) which base that is, and checks it
// is one published to run as the same non-root uid the seeded base of
// TestKoBuildsMultiPlatformImagesOfBothCommands carries, so that test builds on a
// base configured like the real one.
//
// What it cannot see: the real base's image config itself. cgr.dev is not
// reachable from the test machines, so "runs as 65532" for the real base is the
// publisher's documentation (nonrootBases), not a fetched config; a KO_ variable
// set in the deploying shell or in the stack's image environment is not seen
// either (the infra tests own that environment).
func TestTheImagesBuildOnANonRootBase(t *testing.T) {
	for _, env := range []string{"KO_DEFAULTBASEIMAGE", "KO_CONFIG_PATH"} {
		t.Setenv(env, "") // as infra/images runs it; viper ignores empty values
	}
	bo := &options.BuildOptions{WorkingDirectory: moduleRoot(t)}
	require.NoError(t, bo.LoadConfig())
	assert.Empty(t, bo.BaseImageOverrides, "no per-command base overrides")

	ref, err := name.ParseReference(bo.BaseImage)
	require.NoError(t, err)
	t.Logf("ko's base for the workload images: %s", bo.BaseImage)
	tags, known := nonrootBases[ref.Context().Name()]
	require.True(t, known, "base %s is not one known to run as non-root: add it to nonrootBases with its documented user, or change the base", bo.BaseImage)
	user, ok := tags[""]
	if !ok {
		user, ok = tags[ref.Identifier()]
	}
	require.True(t, ok, "base %s: tag %q is not a non-root variant", bo.BaseImage, ref.Identifier())
	assert.Equal(t, nonroot, user, "the seeded base runs as the user the real base runs as")
}

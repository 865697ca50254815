// Package imagetest builds the producer and consumer images with ko, the way
// infra/images does in the cloud, against a local registry (crane registry serve)
// holding a locally made base image, and checks what Kubernetes will run.
package imagetest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nonroot is the uid distroless and chainguard static images run as, and so
// does our seeded base.
const nonroot = "65532"

var platforms = []string{"linux/amd64", "linux/arm64"}

func TestKoBuildsMultiPlatformImagesOfBothCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: cross-compiling both commands for two platforms takes minutes on a cold cache")
	}
	registry := serveRegistry(t)
	base := registry + "/base:nonroot"
	seedBase(t, base)

	for _, cmd := range []string{"consumer", "producer"} {
		t.Run(cmd, func(t *testing.T) {
			ref := koBuild(t, registry+"/edw-"+cmd, base, cmd)
			idx, err := remote.Index(mustRef(t, ref))
			require.NoError(t, err)
			manifest, err := idx.IndexManifest()
			require.NoError(t, err)

			var got []string
			for _, d := range manifest.Manifests {
				require.NotNil(t, d.Platform, "every index entry names its platform")
				plat := d.Platform.OS + "/" + d.Platform.Architecture
				got = append(got, plat)

				img, err := idx.Image(d.Digest)
				require.NoError(t, err)
				cfg, err := img.ConfigFile()
				require.NoError(t, err)
				assert.Equal(t, []string{"/ko-app/" + cmd}, cfg.Config.Entrypoint, "%s: the entrypoint is the binary", plat)
				assert.Equal(t, d.Platform.Architecture, cfg.Architecture, "%s: config architecture", plat)
				assert.Equal(t, nonroot, cfg.Config.User, "%s: runs as the non-root user", plat)
				assert.Equal(t, int64(0o111), binaryMode(t, img, "ko-app/"+cmd)&0o111, "%s: the binary is executable by anyone", plat)

				size, err := imageSize(img)
				require.NoError(t, err)
				t.Logf("image size: %s %s %.1f MB (compressed layers + config)", cmd, plat, float64(size)/1e6)
			}
			slices.Sort(got)
			assert.Equal(t, platforms, got, "the index has exactly both platforms")
		})
	}
}

// serveRegistry starts `crane registry serve` (a tool in go.mod) on a free
// loopback port and returns its host:port.
func serveRegistry(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	cmd := exec.Command("go", "tool", "crane", "registry", "serve", "--address", addr)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	// Its own process group, so stopping it also stops the binary `go tool` started.
	cmd.SysProcAttr = sysProcAttr()
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { stopGroup(cmd) })

	deadline := time.Now().Add(3 * time.Minute) // the first run compiles crane
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("crane registry did not listen on %s: %v", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// seedBase pushes a two-platform base image made here: one layer with
// /etc/passwd naming the non-root user, and a config that runs as that user,
// like the static base images ko uses by default.
func seedBase(t *testing.T, ref string) {
	t.Helper()
	passwd := "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	layer := static.NewLayer(tarOf(t, map[string]string{"etc/passwd": passwd}), types.OCILayer)

	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range platforms {
		goos, arch, _ := strings.Cut(p, "/")
		img, err := mutate.AppendLayers(mutate.MediaType(mutate.ConfigMediaType(empty.Image, types.OCIConfigJSON), types.OCIManifestSchema1), layer)
		require.NoError(t, err)
		cfg, err := img.ConfigFile()
		require.NoError(t, err)
		cfg = cfg.DeepCopy()
		cfg.OS, cfg.Architecture = goos, arch
		cfg.Config.User = nonroot
		cfg.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
		img, err = mutate.ConfigFile(img, cfg)
		require.NoError(t, err)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: goos, Architecture: arch}},
		})
	}
	require.NoError(t, remote.WriteIndex(mustRef(t, ref), idx))
}

// koBuild runs `go tool ko build` for one command and returns the pushed index
// reference by digest.
func koBuild(t *testing.T, repo, base, cmd string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "tool", "ko", "build", "--bare", "--sbom=none",
		"--platform="+strings.Join(platforms, ","), "./cmd/"+cmd)
	build.Dir = moduleRoot(t)
	build.Env = append(os.Environ(), "KO_DOCKER_REPO="+repo, "KO_DEFAULTBASEIMAGE="+base,
		"KOCACHE="+t.TempDir(), "DOCKER_CONFIG="+t.TempDir())
	var out, logs bytes.Buffer
	build.Stdout, build.Stderr = &out, &logs
	require.NoError(t, build.Run(), "ko build %s:\n%s", cmd, logs.String())
	ref := strings.TrimSpace(lastLine(out.String()))
	require.Contains(t, ref, "@sha256:", "ko prints the image by digest")
	return ref
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	require.NoError(t, err)
	return filepath.Dir(wd)
}

func binaryMode(t *testing.T, img v1.Image, path string) int64 {
	t.Helper()
	layers, err := img.Layers()
	require.NoError(t, err)
	for _, l := range slices.Backward(layers) {
		rc, err := l.Uncompressed()
		require.NoError(t, err)
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			if strings.TrimPrefix(h.Name, "/") == path {
				rc.Close()
				return h.Mode
			}
		}
		rc.Close()
	}
	t.Fatalf("no %s in the image", path)
	return 0
}

func imageSize(img v1.Image) (int64, error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, fmt.Errorf("manifest: %w", err)
	}
	size := m.Config.Size
	for _, l := range m.Layers {
		size += l.Size
	}
	return size, nil
}

func tarOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for path, body := range files {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: path, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}))
		_, err := tw.Write([]byte(body))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	return buf.Bytes()
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(s)
	require.NoError(t, err)
	return ref
}

func lastLine(s string) string {
	var last string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			last = line
		}
	}
	return last
}

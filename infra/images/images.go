// Package images builds the producer and consumer images from workload/ with ko
// (multi-arch, no Docker) and pushes them to the stack's registry, or passes
// through prebuilt references. Either way its outputs are references by digest.
package images

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/pulumi/pulumi-command/sdk/go/command/local"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Repositories are the registry repositories images are pushed to, without tag.
type Repositories struct {
	Producer pulumi.StringInput
	Consumer pulumi.StringInput
}

// Refs are image references by digest.
type Refs struct {
	Producer string
	Consumer string
}

// Args configures the build.
type Args struct {
	Repositories Repositories
	// Architectures are CPU architectures ("amd64", "arm64") to build for.
	Architectures []string
	// Prebuilt, when both are set, are used as they are and nothing is built.
	Prebuilt Refs
	// WorkloadDir is the workload Go module; empty means "workload", relative to
	// the project directory Pulumi runs the program in.
	WorkloadDir string
	// Environment is extra environment for ko, such as registry credentials
	// settings (AWS_REGION) that its built-in ECR and ACR helpers read.
	Environment pulumi.StringMap
	// Login, when set, is a shell step that stores registry credentials for
	// ko before it builds (ACRLogin). It runs with DOCKER_CONFIG pointing at
	// a directory of its own, removed afterwards, so the user's Docker
	// configuration is neither read nor changed.
	Login pulumi.StringInput
}

// acrTokenUser is the user name an ACR access token is presented with, as
// Microsoft documents for logging in with an exposed token.
const acrTokenUser = "00000000-0000-0000-0000-000000000000"

// ACRLogin lets ko push to an Azure container registry with the Azure CLI's
// login and no Docker daemon: `az acr login --expose-token` prints an ACR
// access token instead of calling docker, and `ko login` (crane's auth
// login) stores it where ko's default keychain reads it. ko's own ACR helper
// reads only service principal variables, never the CLI's login.
func ACRLogin(registryName, loginServer string) string {
	return fmt.Sprintf("az acr login --name %s --expose-token --output tsv --query accessToken | "+
		"go tool ko login %s --username %s --password-stdin", registryName, loginServer, acrTokenUser)
}

// Images are the workload images by digest.
type Images struct {
	pulumi.ResourceState
	Producer pulumi.StringOutput `pulumi:"producer"`
	Consumer pulumi.StringOutput `pulumi:"consumer"`
}

var byDigest = regexp.MustCompile(`^\S+@sha256:[0-9a-f]{64}$`)

// New builds and pushes both images, or returns the prebuilt references.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Images, error) {
	im := &Images{}
	if err := ctx.RegisterComponentResource("edw:images:Images", name, im, opts...); err != nil {
		return nil, err
	}
	if args.Prebuilt.Producer != "" && args.Prebuilt.Consumer != "" {
		im.Producer = pulumi.String(args.Prebuilt.Producer).ToStringOutput()
		im.Consumer = pulumi.String(args.Prebuilt.Consumer).ToStringOutput()
		return im, ctx.RegisterResourceOutputs(im, pulumi.Map{"producer": im.Producer, "consumer": im.Consumer})
	}
	if len(args.Architectures) == 0 {
		return nil, fmt.Errorf("images %s: no architectures to build for", name)
	}
	dir := args.WorkloadDir
	if dir == "" {
		dir = "workload"
	}
	sources, err := SourceHash(dir)
	if err != nil {
		return nil, fmt.Errorf("images %s: %w", name, err)
	}
	platforms := make([]string, 0, len(args.Architectures))
	for _, a := range args.Architectures {
		platforms = append(platforms, "linux/"+a)
	}
	build := func(component string, repo pulumi.StringInput) (pulumi.StringOutput, error) {
		env := pulumi.StringMap{"KO_DOCKER_REPO": repo}
		for k, v := range args.Environment {
			env[k] = v
		}
		// The tag names what the pushed index holds, sources and platforms, so a
		// registry with immutable tags accepts every distinct build.
		create := pulumi.String(fmt.Sprintf(
			"go tool ko build --bare --sbom=none --platform=%s --tags=%s ./cmd/%s",
			strings.Join(platforms, ","), BuildTag(sources, platforms), component)).ToStringOutput()
		if args.Login != nil {
			create = pulumi.Sprintf(`export DOCKER_CONFIG="$(mktemp -d)" && trap 'rm -rf "$DOCKER_CONFIG"' EXIT && %s && %s`,
				args.Login, create)
		}
		cmd, err := local.NewCommand(ctx, name+"-"+component, &local.CommandArgs{
			Dir:         pulumi.String(dir),
			Create:      create,
			Environment: env,
			Triggers:    pulumi.Array{pulumi.String(sources), pulumi.String(strings.Join(platforms, ",")), repo},
			Logging:     local.LoggingStderr,
		}, pulumi.Parent(im))
		if err != nil {
			return pulumi.StringOutput{}, fmt.Errorf("build %s image %s: %w", component, name, err)
		}
		return cmd.Stdout.ApplyT(func(out string) (string, error) {
			lines := strings.Split(strings.TrimSpace(out), "\n")
			ref := strings.TrimSpace(lines[len(lines)-1])
			if !byDigest.MatchString(ref) {
				return "", fmt.Errorf("ko build of %s printed %q, not an image reference by digest", component, ref)
			}
			return ref, nil
		}).(pulumi.StringOutput), nil
	}
	if im.Producer, err = build("producer", args.Repositories.Producer); err != nil {
		return nil, err
	}
	if im.Consumer, err = build("consumer", args.Repositories.Consumer); err != nil {
		return nil, err
	}
	return im, ctx.RegisterResourceOutputs(im, pulumi.Map{"producer": im.Producer, "consumer": im.Consumer})
}

// BuildTag is the image tag for sources built for platforms: it changes when
// either does.
func BuildTag(sources string, platforms []string) string {
	h := sha256.Sum256([]byte(sources + "\n" + strings.Join(platforms, ",")))
	return hex.EncodeToString(h[:])[:16]
}

// SourceHash is a digest of what goes into the images: the workload module's Go
// sources (tests excluded), go.mod, go.sum and ko config. Editing a test or a
// README does not rebuild images; editing code does.
func SourceHash(dir string) (string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != dir && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		n := d.Name()
		if (strings.HasSuffix(n, ".go") && !strings.HasSuffix(n, "_test.go")) ||
			n == "go.mod" || n == "go.sum" || n == ".ko.yaml" {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash workload sources in %s: %w", dir, err)
	}
	if len(files) == 0 {
		return "", fmt.Errorf("hash workload sources in %s: no Go sources found", dir)
	}
	sort.Strings(files)
	h := sha256.New()
	for _, f := range files {
		rel, _ := filepath.Rel(dir, f)
		fmt.Fprintf(h, "%s\x00", filepath.ToSlash(rel))
		if err := hashFile(h, f); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func hashFile(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("hash %s: %w", path, err)
	}
	defer f.Close()
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("hash %s: %w", path, err)
	}
	_, err = w.Write([]byte{0})
	return err
}

// Package engine runs edw's Pulumi program through the real Pulumi engine: the
// Pulumi CLI and the Kubernetes provider that scripts/build-engine.sh builds from
// the module proxy, driven by the Automation API with stacks.Run as an inline
// program (the Go language host is this process). State lives in a local file
// backend, secrets behind a passphrase, plugins in a PULUMI_HOME of its own:
// nothing outside the directory it is given is read or written.
package engine

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Binaries are the engine's programs, as the test command hands them over.
type Binaries struct {
	Pulumi             string
	KubernetesProvider string
	// KubernetesProviderVersion is the version the provider is installed as:
	// the one github.com/pulumi/pulumi-kubernetes/sdk/v4 asks the engine for.
	KubernetesProviderVersion string
}

// LoadBinaries reads the binaries from the environment; missing names the
// variables that are not set.
func LoadBinaries() (b Binaries, missing []string) {
	for _, v := range []struct {
		name string
		dst  *string
	}{
		{"EDW_ENGINE_PULUMI", &b.Pulumi},
		{"EDW_ENGINE_KUBERNETES_PROVIDER", &b.KubernetesProvider},
		{"EDW_ENGINE_KUBERNETES_PROVIDER_VERSION", &b.KubernetesProviderVersion},
	} {
		*v.dst = os.Getenv(v.name)
		if *v.dst == "" {
			missing = append(missing, v.name)
		}
	}
	return b, missing
}

// Passphrase protects the test stacks' secrets; nothing secret is in them.
const Passphrase = "edw-engine-test"

// Engine is a Pulumi installation of its own: CLI, PULUMI_HOME with the
// Kubernetes provider installed, a file backend.
type Engine struct {
	// Home is PULUMI_HOME; Backend is the file:// state backend.
	Home, Backend string
	cmd           auto.PulumiCommand
	env           map[string]string
}

// New lays out an installation under dir and installs the Kubernetes provider
// into it. env is added to every engine command (KUBECONFIG, for one).
//
// The CLI and the provider each run behind `setpriv --pdeathsig KILL`: the
// Automation API starts pulumi in a process group of its own, so without it a
// test process killed by a timeout would leave pulumi and its provider running.
func New(ctx context.Context, b Binaries, dir string, env map[string]string) (*Engine, error) {
	e := &Engine{
		Home:    filepath.Join(dir, "home"),
		Backend: "file://" + filepath.Join(dir, "state"),
	}
	root := filepath.Join(dir, "cli")
	for _, d := range []string{e.Home, filepath.Join(dir, "state"), filepath.Join(root, "bin"), filepath.Join(dir, "plugin")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("engine dir: %w", err)
		}
	}
	pulumiBin := filepath.Join(root, "bin", "pulumi")
	if err := diesWithParent(pulumiBin, b.Pulumi); err != nil {
		return nil, err
	}
	provider := filepath.Join(dir, "plugin", "pulumi-resource-kubernetes")
	if err := diesWithParent(provider, b.KubernetesProvider); err != nil {
		return nil, err
	}
	e.env = map[string]string{
		"PULUMI_HOME":              e.Home,
		"PULUMI_BACKEND_URL":       e.Backend,
		"PULUMI_CONFIG_PASSPHRASE": Passphrase,
		"PULUMI_SKIP_UPDATE_CHECK": "true",
		// Nothing may come from the network: the provider is installed below.
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
		"PULUMI_DIY_BACKEND_NO_LEGACY_WARNING":        "true",
	}
	for k, v := range env {
		e.env[k] = v
	}
	install := exec.CommandContext(ctx, pulumiBin, "plugin", "install", "resource", "kubernetes",
		b.KubernetesProviderVersion, "--file", provider, "--non-interactive")
	install.Env = e.environ()
	if out, err := install.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pulumi plugin install resource kubernetes %s: %w: %s", b.KubernetesProviderVersion, err, out)
	}
	cmd, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: root})
	if err != nil {
		return nil, fmt.Errorf("pulumi CLI %s: %w", b.Pulumi, err)
	}
	e.cmd = cmd
	slog.Info("pulumi engine installed", "cli", cmd.Version(), "kubernetesProvider", b.KubernetesProviderVersion, "home", e.Home)
	return e, nil
}

// diesWithParent writes an executable at path that runs target with the
// parent-death signal set to SIGKILL.
func diesWithParent(path, target string) error {
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		return fmt.Errorf("setpriv (util-linux) is needed so that no engine process outlives the test: %w", err)
	}
	script := fmt.Sprintf("#!/bin/sh\nexec %s --pdeathsig KILL -- %s \"$@\"\n", strconv.Quote(setpriv), strconv.Quote(target))
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		return fmt.Errorf("engine wrapper: %w", err)
	}
	return nil
}

func (e *Engine) environ() []string {
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range e.env {
		out = append(out, k+"="+v)
	}
	return out
}

// Stack creates or selects the stack of project (the repository's Pulumi.yaml,
// whose config schema and defaults apply as they do for users), with program as
// its inline program and config set. Called again, it rewrites the project.
func (e *Engine) Stack(ctx context.Context, project workspace.Project, name string, program pulumi.RunFunc, config map[string]string) (auto.Stack, error) {
	project.Backend = &workspace.ProjectBackend{URL: e.Backend}
	s, err := auto.UpsertStackInlineSource(ctx, name, project.Name.String(), program,
		auto.Pulumi(e.cmd), auto.PulumiHome(e.Home), auto.EnvVars(e.env), auto.Project(project),
		auto.SecretsProvider("passphrase"))
	if err != nil {
		return auto.Stack{}, fmt.Errorf("stack %s: %w", name, err)
	}
	if err := s.Workspace().SaveProjectSettings(ctx, &project); err != nil {
		return auto.Stack{}, fmt.Errorf("stack %s project: %w", name, err)
	}
	cm := auto.ConfigMap{}
	for k, v := range config {
		cm[k] = auto.ConfigValue{Value: v}
	}
	if err := s.SetAllConfig(ctx, cm); err != nil {
		return auto.Stack{}, fmt.Errorf("stack %s config: %w", name, err)
	}
	return s, nil
}

// Leftovers are the processes still running with this installation's
// PULUMI_HOME in their environment: pulumi and the plugins it started.
func (e *Engine) Leftovers() []int {
	want := []byte("PULUMI_HOME=" + e.Home + "\x00")
	self := os.Getpid()
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, d := range entries {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == self {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", d.Name(), "environ"))
		if err != nil || !bytes.Contains(env, want) {
			continue
		}
		if zombie(pid) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

func zombie(pid int) bool {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return true
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "State:"); ok {
			return strings.Contains(v, "Z")
		}
	}
	return false
}

// Stop kills whatever Leftovers finds, by PID, and waits briefly for it to go.
// It returns the PIDs it had to kill.
func (e *Engine) Stop() []int {
	pids := e.Leftovers()
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(e.Leftovers()) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	return pids
}

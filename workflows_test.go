package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

type workflow struct {
	On          map[string]any    `yaml:"on"`
	Permissions map[string]string `yaml:"permissions"`
	Jobs        map[string]struct {
		Env      map[string]string `yaml:"env"`
		Strategy struct {
			Matrix map[string][]string `yaml:"matrix"`
		} `yaml:"strategy"`
		Steps []struct {
			If   string            `yaml:"if"`
			Uses string            `yaml:"uses"`
			Run  string            `yaml:"run"`
			With map[string]string `yaml:"with"`
			Env  map[string]string `yaml:"env"`
			ID   string            `yaml:"id"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

func readWorkflow(t *testing.T, name string) (workflow, string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(".github", "workflows", name))
	require.NoError(t, err)
	var w workflow
	require.NoError(t, yaml.Unmarshal(raw, &w))
	return w, string(raw)
}

func TestPreviewWorkflowPreviewsBothStacksWithOIDCOnly(t *testing.T) {
	w, raw := readWorkflow(t, "preview.yml")
	assert.Contains(t, w.On, "pull_request")
	assert.Equal(t, map[string]string{"contents": "read", "id-token": "write", "pull-requests": "write"}, w.Permissions)
	job := w.Jobs["preview"]
	assert.ElementsMatch(t, []string{"aws", "azure"}, job.Strategy.Matrix["stack"])
	var pulumi, awsLogin, azLogin, kubelogin bool
	for _, s := range job.Steps {
		switch {
		case strings.HasPrefix(s.Uses, "azure/use-kubelogin@"):
			// The AKS kubeconfig signs in through kubelogin; without it the
			// azure preview cannot read the cluster.
			kubelogin = !pulumi
			assert.Contains(t, s.If, "azure")
		case strings.HasPrefix(s.Uses, "pulumi/actions@"):
			pulumi = true
			assert.Equal(t, "preview", s.With["command"], "the workflow never deploys")
			assert.Equal(t, "true", s.With["comment-on-pr"])
			assert.Equal(t, "true", s.With["diff"])
			// The reader grants are exactly what a refresh reads (lab/engine's
			// reader preview); without it they would grant reads nobody makes.
			assert.Equal(t, "true", s.With["refresh"], "the preview refreshes, as the reader grants assume")
			assert.Contains(t, s.With["stack-name"], "vars.")
			assert.Contains(t, s.With["cloud-url"], "vars.")
		case strings.HasPrefix(s.Uses, "aws-actions/configure-aws-credentials@"):
			awsLogin = true
			assert.Contains(t, s.With, "role-to-assume")
		case strings.HasPrefix(s.Uses, "azure/login@"):
			azLogin = true
			assert.Contains(t, s.With, "client-id")
			assert.Contains(t, s.With, "tenant-id")
		}
	}
	assert.True(t, pulumi && awsLogin && azLogin, "pulumi preview with both OIDC logins")
	assert.True(t, kubelogin, "kubelogin is installed before the preview")
	for _, key := range []string{"aws-access-key-id", "aws-secret-access-key", "client-secret", "creds:"} {
		assert.NotContains(t, raw, key, "no long-lived cloud keys")
	}
}

func TestNoWorkflowDeploys(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(".github", "workflows", "*.yml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		w, _ := readWorkflow(t, filepath.Base(f))
		for _, job := range w.Jobs {
			for _, s := range job.Steps {
				assert.NotContains(t, []string{"up", "destroy", "refresh"}, s.With["command"], f)
				assert.NotRegexp(t, `pulumi\s+(up|destroy)`, s.Run, f)
			}
		}
	}
}

// TestTestWorkflowRunsTheREADMETestCommand: .ci/run runs the README's one test
// command, and the GitHub workflow runs, across its parallel jobs, every target
// that command runs (the Makefile's test prerequisites and test-cluster), each a
// target the README names; the lab's binaries are cached by what builds them.
func TestTestWorkflowRunsTheREADMETestCommand(t *testing.T) {
	w, raw := readWorkflow(t, "test.yml")
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	ci, err := os.ReadFile(filepath.Join(".ci", "run"))
	require.NoError(t, err)
	makefile, err := os.ReadFile("Makefile")
	require.NoError(t, err)
	assert.Contains(t, string(readme), "```sh\nmake test\n```")
	assert.Contains(t, string(ci), "\nmake test\n")

	// What make test runs: its prerequisites, and test-cluster's script.
	prereqs := regexp.MustCompile(`(?m)^test:(.*)$`).FindStringSubmatch(string(makefile))
	require.NotNil(t, prereqs, "the Makefile has a test target")
	want := append(strings.Fields(prereqs[1]), "test-cluster")
	target := regexp.MustCompile(`\bmake ([a-z-]+)`)
	ran := map[string]bool{}
	for name, job := range w.Jobs {
		for _, s := range job.Steps {
			for _, m := range target.FindAllStringSubmatch(s.Run, -1) {
				ran[m[1]] = true
				assert.Contains(t, string(readme), "make "+m[1], "job %s runs make %s, which the README does not name", name, m[1])
			}
		}
	}
	for _, tgt := range want {
		assert.True(t, ran[tgt], "make test runs %s; no job of test.yml does", tgt)
	}
	assert.Greater(t, len(w.Jobs), 1, "the work is split into parallel jobs")
	for _, f := range []string{"scripts/test-cluster.sh", "scripts/build-engine.sh", "lab/build/*/go.mod"} {
		assert.Contains(t, raw, f, "the lab's binary cache is keyed by %s", f)
	}
	assert.Contains(t, raw, "~/.cache/edw-lab")
	assert.Contains(t, w.On, "push")
	assert.Contains(t, w.On, "pull_request")
}

// Issue 23, item 7: the preview runs the Pulumi CLI the engine test runs, and
// signs in to Pulumi Cloud with a short-lived token where it can (an
// organization that trusts GitHub's OIDC issuer), the long-lived secret only as
// the fallback, and never job-wide.
func TestPreviewPinsTheCLIAndPrefersAShortLivedPulumiToken(t *testing.T) {
	w, _ := readWorkflow(t, "preview.yml")
	script, err := os.ReadFile(filepath.Join("scripts", "build-engine.sh"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^pulumi_version=v(\S+)`).FindSubmatch(script)
	require.NotNil(t, m, "scripts/build-engine.sh pins pulumi_version")
	job := w.Jobs["preview"]
	assert.NotContains(t, job.Env, "PULUMI_ACCESS_TOKEN", "no job-wide long-lived Pulumi token")
	var setup, auth, preview bool
	for _, s := range job.Steps {
		switch {
		case strings.HasPrefix(s.Uses, "pulumi/setup-pulumi@"):
			setup = true
			assert.Equal(t, string(m[1]), s.With["pulumi-version"], "the CLI the engine test runs")
		case strings.HasPrefix(s.Uses, "pulumi/auth-actions@"):
			auth = true
			assert.Contains(t, s.If, "vars.PULUMI_ORGANIZATION")
			assert.Equal(t, "urn:pulumi:token-type:access_token:organization", s.With["requested-token-type"])
			assert.Equal(t, "false", s.With["export-environment-variables"], "the token goes to the preview step only")
			assert.Equal(t, "pulumi-auth", s.ID)
		case strings.HasPrefix(s.Uses, "pulumi/actions@"):
			preview = true
			tok := s.Env["PULUMI_ACCESS_TOKEN"]
			assert.True(t, strings.Index(tok, "steps.pulumi-auth.outputs.pulumi-access-token") >= 0 &&
				strings.Index(tok, "steps.pulumi-auth") < strings.Index(tok, "secrets.PULUMI_ACCESS_TOKEN"),
				"the short-lived token first, the secret as the fallback: %q", tok)
		}
	}
	assert.True(t, setup && auth && preview)
}

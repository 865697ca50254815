package stacks

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/edw-dev/edw/internal/pulumitest"
)

// userShell is what a user's shell may carry after the README's quickstarts
// (export KUBECONFIG=…) and a day of cloud work: every family the SDKs read.
var userShell = []string{
	"KUBECONFIG=/nonexistent/kubeconfig",
	"AWS_PROFILE=edw-nonexistent", "AWS_REGION=sa-east-1", "AWS_DEFAULT_REGION=sa-east-1",
	"AWS_ACCESS_KEY_ID=AKIAEDWUSERSHELL0000", "AWS_SECRET_ACCESS_KEY=user-shell",
	"AZURE_TENANT_ID=00000000-0000-4000-8000-000000000001", "AZURE_SUBSCRIPTION_ID=00000000-0000-4000-8000-000000000002",
	"ARM_CLIENT_ID=00000000-0000-4000-8000-000000000003", "ARM_LOCATION=brazilsouth",
	"PULUMI_BACKEND_URL=file:///nonexistent", "PULUMI_CONFIG_PASSPHRASE=user-shell", "PULUMI_HOME=/nonexistent/pulumi",
}

// TestTheSuiteIgnoresTheUsersShell runs this package's own test binary again
// with those variables set: the tests that read the ambient kubeconfig and the
// region must pass as they do in a clean shell, because TestMain clears them.
// The control keeps them (pulumitest.KeepEnvVar) and must fail, so the first
// half proves something: KUBECONFIG does reach the provider's inputs.
func TestTheSuiteIgnoresTheUsersShell(t *testing.T) {
	run := func(keep bool) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.count=1",
			"-test.run=^(TestKubernetesStackFollowsItsConfig|TestNothingHardCodesAnAccountOrRegion)$")
		cmd.Env = append(os.Environ(), userShell...)
		if keep {
			cmd.Env = append(cmd.Env, pulumitest.KeepEnvVar+"=1")
		}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run(false)
	assert.NoError(t, err, "with the user's variables set, cleared by TestMain:\n%s", out)
	out, err = run(true)
	if assert.Error(t, err, "with the user's variables kept the kubernetes stack's provider takes KUBECONFIG; the test must notice:\n%s", out) {
		assert.True(t, strings.Contains(out, "kubeconfig") && strings.Contains(out, "TestKubernetesStackFollowsItsConfig"),
			"the control fails for the kubeconfig, not for something else:\n%s", out)
	}
}

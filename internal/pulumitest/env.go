package pulumitest

import (
	"os"
	"strings"
	"testing"
)

// KeepEnvVar, set to 1, makes Main keep the ambient variables: only for the test
// that proves clearing them matters.
const KeepEnvVar = "EDW_TEST_KEEP_AMBIENT_ENV"

// Ambient reports whether the user's shell variable name can change what the
// program registers: the SDKs and providers fill their inputs from these
// (the Kubernetes provider's kubeconfig from KUBECONFIG, regions, profiles and
// credentials from AWS_*, AZURE_* and ARM_*, backend and home from PULUMI_*),
// and the README's own quickstarts tell users to export some of them.
func Ambient(name string) bool {
	if name == "KUBECONFIG" {
		return true
	}
	for _, p := range []string{"AWS_", "AZURE_", "ARM_", "PULUMI_"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// Main is TestMain for every package that runs the program under mocks: it
// clears the ambient variables, so the tests give the same result in any shell,
// then runs the tests. scripts/testenv.sh does the same for the test command.
func Main(m *testing.M) {
	if os.Getenv(KeepEnvVar) != "1" {
		for _, kv := range os.Environ() {
			if name, _, _ := strings.Cut(kv, "="); Ambient(name) {
				os.Unsetenv(name)
			}
		}
	}
	os.Exit(m.Run())
}

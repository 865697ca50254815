// Package versiontest checks a command's --version flag, the same way for
// the producer and the consumer.
package versiontest

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// Run is a command's entry point: arguments, environment, output streams,
// exit code.
type Run func(args []string, getenv func(string) string, stdout, stderr io.Writer) int

// AssertPrintsTheBuildAndExits runs command --version with no environment
// at all (it needs none) and checks it exits 0 printing
// "<command> <version> <go version>".
func AssertPrintsTheBuildAndExits(t *testing.T, command string, run Run) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--version"}, func(string) string { return "" }, &stdout, &stderr); code != 0 {
		t.Fatalf("--version exited %d: %s", code, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), command+" ") || !strings.Contains(stdout.String(), " go1.") {
		t.Errorf("--version printed %q, want \"%s <version> <go version>\"", stdout.String(), command)
	}
}

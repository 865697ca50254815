package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestVersionPrintsTheBuildAndExits(t *testing.T) {
	var stdout, stderr bytes.Buffer
	// No environment at all: --version needs none.
	if code := run([]string{"--version"}, func(string) string { return "" }, &stdout, &stderr); code != 0 {
		t.Fatalf("--version exited %d: %s", code, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "consumer ") || !strings.Contains(stdout.String(), " go1.") {
		t.Errorf("--version printed %q, want \"consumer <version> <go version>\"", stdout.String())
	}
}

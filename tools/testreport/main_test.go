package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// testdata/mixed.json is `go test -json` of a package with a passing, a failing
// and a skipped test, and a skipped subtest.
func run(t *testing.T, verbose bool) ([]Skip, bool, string) {
	t.Helper()
	in, err := os.Open("testdata/mixed.json")
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var out bytes.Buffer
	skips, failed, err := report(in, &out, verbose)
	if err != nil {
		t.Fatal(err)
	}
	return skips, failed, out.String()
}

func TestEverySkipIsListedWithItsReason(t *testing.T) {
	for _, verbose := range []bool{false, true} {
		skips, failed, _ := run(t, verbose)
		want := []string{
			"example.com/p TestSkip: p_test.go:6: needs root: the network namespace",
			"example.com/p TestSub/b: p_test.go:10: EDW_X is not set",
		}
		if len(skips) != len(want) {
			t.Fatalf("verbose=%v: skips %v, want %v", verbose, skips, want)
		}
		for i, s := range skips {
			if s.String() != want[i] {
				t.Errorf("verbose=%v: skip %d = %q, want %q", verbose, i, s, want[i])
			}
		}
		if !failed {
			t.Errorf("verbose=%v: TestFail failed, the report says nothing failed", verbose)
		}
	}
}

func TestQuietOutputIsGoTests(t *testing.T) {
	_, _, out := run(t, false)
	for _, want := range []string{"p_test.go:7: boom", "--- FAIL: TestFail", "FAIL\texample.com/p",
		"--- SKIP: example.com/p TestSkip: p_test.go:6: needs root"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// A passing test's log stays hidden, as without -v; no progress lines.
	for _, hidden := range []string{"quiet", "=== RUN"} {
		if strings.Contains(out, hidden) {
			t.Errorf("output shows %q:\n%s", hidden, out)
		}
	}
}

func TestVerboseOutputDropsOnlyProgressLines(t *testing.T) {
	_, _, out := run(t, true)
	if !strings.Contains(out, "p_test.go:5: quiet") || !strings.Contains(out, "--- PASS: TestPass") {
		t.Errorf("-v hides a passing test's log:\n%s", out)
	}
	if strings.Contains(out, "=== RUN") {
		t.Errorf("-v output keeps progress lines:\n%s", out)
	}
}

func TestNonJSONLinesPassThrough(t *testing.T) {
	var out bytes.Buffer
	_, failed, err := report(strings.NewReader("# example.com/p\nbuild failed\n"), &out, false)
	if err != nil || failed || out.String() != "# example.com/p\nbuild failed\n" {
		t.Errorf("got %q, %v, %v", out.String(), failed, err)
	}
}

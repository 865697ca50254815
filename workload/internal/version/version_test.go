package version

import (
	"runtime"
	"strings"
	"testing"
)

func TestStringNamesTheCommandVersionAndGo(t *testing.T) {
	old := Version
	t.Cleanup(func() { Version = old })
	Version = "v9.8.7"
	got := String("consumer")
	if !strings.HasPrefix(got, "consumer v9.8.7") || !strings.HasSuffix(got, " "+runtime.Version()) {
		t.Errorf("String = %q, want consumer v9.8.7 … %s", got, runtime.Version())
	}
	Version = ""
	if v, _ := Get(); v == "" {
		t.Error("without -ldflags the version is empty; want the module's or unknown")
	}
}

func TestRequested(t *testing.T) {
	for args, want := range map[string]bool{"--version": true, "-version": true, "--count 5": false, "": false} {
		if got := Requested(strings.Fields(args)); got != want {
			t.Errorf("Requested(%q) = %v, want %v", args, got, want)
		}
	}
}

// Package version says which build of the workload is running: `--version` on
// the producer and consumer, and the consumer's edw_build_info metric.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
)

// Version is set at build time (-ldflags "-X …/internal/version.Version=v1.2.3");
// unset, the module version or VCS revision Go recorded in the binary is used.
var Version string

// Get returns the build's version and, when Go recorded it, its VCS revision.
func Get() (version, revision string) {
	version = Version
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return or(version, "unknown"), ""
	}
	if version == "" {
		version = info.Main.Version
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			revision = s.Value
		}
	}
	return or(version, "unknown"), revision
}

// String is the line `--version` prints.
func String(command string) string {
	v, rev := Get()
	if rev != "" {
		v += " (" + rev + ")"
	}
	return fmt.Sprintf("%s %s %s", command, v, runtime.Version())
}

// Requested reports whether the arguments ask for the version: -version or
// --version before any other flag's value could be mistaken for it.
func Requested(args []string) bool {
	return slices.Contains(args, "--version") || slices.Contains(args, "-version")
}

func or(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

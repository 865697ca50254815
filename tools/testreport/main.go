// Command testreport reads `go test -json` on stdin and prints what `go test`
// would print (with -v, everything but the === RUN/PAUSE/CONT lines), and names
// every skipped test with its reason, both in the output and in a file the test
// command lists at the end: a skipped test is never silent.
//
//	go test -json ./... | testreport -skips .build/skipped/infra.txt [-v]
//
// It exits 1 when a test or a package failed, 0 otherwise.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	ImportPath string // build-output and build-fail
	Test       string
	Output     string
}

// Skip is a skipped test and the reason it logged.
type Skip struct{ Package, Test, Reason string }

func (s Skip) String() string { return fmt.Sprintf("%s %s: %s", s.Package, s.Test, s.Reason) }

func main() {
	skips := flag.String("skips", "", "append each skipped test, one per line, to this file")
	verbose := flag.Bool("v", false, "print every test's output, as go test -v does")
	flag.Parse()
	found, failed, err := report(os.Stdin, os.Stdout, *verbose)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(2)
	}
	if *skips != "" && len(found) > 0 {
		if err := appendSkips(*skips, found); err != nil {
			fmt.Fprintln(os.Stderr, "testreport:", err)
			os.Exit(2)
		}
	}
	if failed {
		os.Exit(1)
	}
}

func appendSkips(path string, skips []Skip) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("open skip list: %w", err)
	}
	for _, s := range skips {
		fmt.Fprintln(f, s)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write skip list %s: %w", path, err)
	}
	return nil
}

// report copies the stream to out as go test prints it and returns the skipped
// tests and whether anything failed.
func report(in io.Reader, out io.Writer, verbose bool) ([]Skip, bool, error) {
	type key struct{ pkg, test string }
	buffered := map[key][]string{} // a test's output, until we know whether it passed
	var skips []Skip
	failed := false
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintf(out, "%s\n", line) // not test2json: pass it on
			continue
		}
		k := key{e.Package, e.Test}
		switch e.Action {
		case "build-output":
			fmt.Fprint(out, e.Output)
		case "build-fail":
			failed = true
		case "output":
			switch {
			case e.Test == "" && e.Output == "PASS\n" && !verbose:
				// -json runs the binary verbosely; go test alone shows only "ok".
			case e.Test == "":
				fmt.Fprint(out, e.Output) // package lines: ok, FAIL, TestMain's own output
			case progress(e.Output):
			default:
				// go test prints benchmark results without -v too.
				if verbose || strings.HasPrefix(e.Test, "Benchmark") {
					fmt.Fprint(out, e.Output)
				}
				buffered[k] = append(buffered[k], e.Output)
			}
		case "skip":
			if e.Test == "" {
				break
			}
			s := Skip{Package: e.Package, Test: e.Test, Reason: reason(buffered[k])}
			if !verbose { // -v printed it already
				fmt.Fprintf(out, "--- SKIP: %s %s: %s\n", e.Package, e.Test, s.Reason)
			}
			skips = append(skips, s)
			delete(buffered, k)
		case "fail":
			failed = true
			if e.Test != "" && !verbose {
				for _, o := range buffered[k] {
					fmt.Fprint(out, o)
				}
			}
			delete(buffered, k)
		case "pass":
			delete(buffered, k)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, failed, fmt.Errorf("read go test -json: %w", err)
	}
	return skips, failed, nil
}

// progress reports the lines go test -v prints as tests start and resume.
func progress(o string) bool {
	for _, p := range []string{"=== RUN", "=== PAUSE", "=== CONT", "=== NAME"} {
		if strings.HasPrefix(o, p) {
			return true
		}
	}
	return false
}

// reason is what a skipped test logged, on one line, without go test's framing.
func reason(output []string) string {
	var parts []string
	for _, o := range output {
		o = strings.TrimSpace(o)
		if o == "" || strings.HasPrefix(o, "--- SKIP") {
			continue
		}
		parts = append(parts, o)
	}
	if len(parts) == 0 {
		return "no reason given"
	}
	return strings.Join(parts, " ")
}

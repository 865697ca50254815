// Command cost regenerates the cost tables of README.md and docs/cost.md from
// docs/cost/measured.json (written by `EDW_COST_WRITE=1 make bench`) and
// docs/cost/prices.json. Without -write it prints them.
//
//	cd workload && go run ./cmd/cost -write
package main

import (
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/edw-dev/edw/workload/internal/cost"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cost", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", "..", "the repository's top directory")
	write := fs.Bool("write", false, "rewrite the generated sections of README.md and docs/cost.md")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := generate(*root, *write, stdout); err != nil {
		fmt.Fprintln(stderr, "cost:", err)
		return 1
	}
	return 0
}

func generate(root string, write bool, stdout io.Writer) error {
	p, m, err := cost.Load(root)
	if err != nil {
		return err
	}
	sections, err := cost.Sections(p, m)
	if err != nil {
		return err
	}
	if !write {
		for _, name := range slices.Sorted(maps.Keys(sections)) {
			fmt.Fprintf(stdout, "## %s\n\n%s\n", name, sections[name])
		}
		return nil
	}
	for _, doc := range cost.Documents {
		path := filepath.Join(root, doc.Path)
		raw, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		out, err := cost.ApplyTo(string(raw), doc, sections)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if out != string(raw) {
			if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
				return fmt.Errorf("write %s: %w", path, err)
			}
			fmt.Fprintln(stdout, "updated", path)
		}
	}
	return nil
}

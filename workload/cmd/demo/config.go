package main

import (
	"fmt"
	"os"
	"strconv"

	"gopkg.in/yaml.v3"
)

// stackConfig is Pulumi.yaml's defaults overridden by a stack file, as the Pulumi
// CLI resolves them, for the edw: keys the demo needs.
type stackConfig map[string]any

func loadStackConfig(projectFile, stackFile string) (stackConfig, error) {
	var project struct {
		Config map[string]struct {
			Default any `yaml:"default"`
		} `yaml:"config"`
	}
	if err := readYAML(projectFile, &project); err != nil {
		return nil, err
	}
	var stack struct {
		Config map[string]any `yaml:"config"`
	}
	if err := readYAML(stackFile, &stack); err != nil {
		return nil, err
	}
	c := stackConfig{}
	for k, v := range project.Config {
		c[k] = v.Default
	}
	for k, v := range stack.Config {
		if len(k) > 4 && k[:4] == "edw:" {
			c[k[4:]] = v
		}
	}
	return c, nil
}

func readYAML(path string, into any) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if err := yaml.Unmarshal(raw, into); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	return nil
}

func (c stackConfig) str(key string) string {
	if v, ok := c[key]; ok && v != nil {
		return fmt.Sprint(v)
	}
	return ""
}

// int reads an integer key; the stack's own validation has the ranges, here a
// missing or malformed value is a plain error at startup.
func (c stackConfig) int(key string) int {
	n, err := strconv.Atoi(c.str(key))
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: edw:%s = %q is not an integer\n", key, c.str(key))
		os.Exit(2)
	}
	return n
}

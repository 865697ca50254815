package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestREADMEConfigReferenceMatchesPulumiYAML keeps the README's configuration
// table and Pulumi.yaml's config schema in step: every key in one is in the other.
func TestREADMEConfigReferenceMatchesPulumiYAML(t *testing.T) {
	proj, err := workspace.LoadProject("Pulumi.yaml")
	require.NoError(t, err)
	raw, err := os.ReadFile("README.md")
	require.NoError(t, err)

	section := string(raw)
	start := strings.Index(section, "## Configuration reference")
	require.GreaterOrEqual(t, start, 0, "README has a configuration reference")
	section = section[start+1:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	documented := map[string]bool{}
	key := regexp.MustCompile("`([A-Za-z]+)`")
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || strings.HasPrefix(strings.TrimSpace(cells[1]), "key") {
			continue
		}
		for _, m := range key.FindAllStringSubmatch(cells[1], -1) {
			documented[m[1]] = true
		}
	}
	require.NotEmpty(t, documented)
	for k := range proj.Config {
		assert.True(t, documented[k], "Pulumi.yaml key %s is missing from the README configuration reference", k)
	}
	for k := range documented {
		_, declared := proj.Config[k]
		assert.True(t, declared, "README documents %s but Pulumi.yaml does not declare it", k)
	}
}

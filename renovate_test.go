package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRenovateFindsEveryChartPin: each custom manager's patterns (RE2, as
// Renovate runs them) find exactly one version in each file they name, and it
// is the version the code pins, so a reformatted pin cannot silently drop out
// of the updates.
func TestRenovateFindsEveryChartPin(t *testing.T) {
	raw, err := os.ReadFile("renovate.json")
	require.NoError(t, err)
	var cfg struct {
		EnabledManagers []string `json:"enabledManagers"`
		CustomManagers  []struct {
			Description         string   `json:"description"`
			ManagerFilePatterns []string `json:"managerFilePatterns"`
			MatchStrings        []string `json:"matchStrings"`
			DepNameTemplate     string   `json:"depNameTemplate"`
		} `json:"customManagers"`
	}
	require.NoError(t, json.Unmarshal(raw, &cfg))
	assert.Subset(t, cfg.EnabledManagers, []string{"gomod", "github-actions", "custom.regex"})

	found := map[string]string{} // dependency → version
	for _, m := range cfg.CustomManagers {
		for _, fp := range m.ManagerFilePatterns {
			file := regexp.MustCompile(`^/\^?(.*?)\$?/$`).FindStringSubmatch(fp)
			require.NotNil(t, file, "%s: file pattern %s", m.Description, fp)
			path := strings.ReplaceAll(file[1], `\.`, ".")
			content, err := os.ReadFile(filepath.FromSlash(path))
			require.NoError(t, err, m.Description)
			hits := 0
			for _, ms := range m.MatchStrings {
				re := regexp.MustCompile(strings.ReplaceAll(ms, "(?<", "(?P<"))
				for _, sub := range re.FindAllStringSubmatch(string(content), -1) {
					hits++
					v := strings.TrimPrefix(sub[re.SubexpIndex("currentValue")], "v")
					if prev, ok := found[m.DepNameTemplate]; ok {
						assert.Equal(t, prev, v, "%s: %s pins another version than before", m.Description, path)
					}
					found[m.DepNameTemplate] = v
				}
			}
			assert.Equal(t, 1, hits, "%s: the patterns find %d pins in %s, want 1", m.Description, hits, path)
		}
	}
	// The chart pins and the lab's builds of the same projects agree.
	assert.Equal(t, found["keda"], found["github.com/kedacore/keda/v2"], "the lab builds the KEDA the chart pin installs")
	assert.Equal(t, found["public.ecr.aws/karpenter/karpenter"], found["github.com/aws/karpenter-provider-aws"],
		"the lab validates against the Karpenter CRDs the chart pin installs")
	assert.NotEmpty(t, found["keda"])
	assert.NotEmpty(t, found["public.ecr.aws/karpenter/karpenter"])
}

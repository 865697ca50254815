package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// Issue 21, item 9: in the preview workflow the cloud logins run last, right
// before the preview, and the Go build and plugin installs run before them,
// because the GitHub OIDC token a login exchanges is short-lived and the Azure
// CLI needs it again for later tokens (Graph, kubelogin's AKS token).
func TestPreviewLogsInLastRightBeforeThePreview(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(".github", "workflows", "preview.yml"))
	require.NoError(t, err)
	var w struct {
		Jobs map[string]struct {
			Steps []struct {
				If, Uses, Run string
				With          map[string]string
			}
		}
	}
	require.NoError(t, yaml.Unmarshal(raw, &w))
	logins := map[string]string{"aws": "aws-actions/configure-aws-credentials@", "azure": "azure/login@"}
	for stack, login := range logins {
		t.Run(stack, func(t *testing.T) {
			build, loginAt, preview := -1, -1, -1
			var steps []string
			for _, s := range w.Jobs["preview"].Steps {
				// Steps guarded for the other stack do not run in this one.
				if s.If != "" && !strings.Contains(s.If, "'"+stack+"'") {
					continue
				}
				i := len(steps)
				steps = append(steps, s.Uses+s.Run)
				switch {
				case strings.Contains(s.Run, "go build") && strings.Contains(s.Run, "pulumi install"):
					build = i
				case strings.HasPrefix(s.Uses, login):
					loginAt = i
				case strings.HasPrefix(s.Uses, "pulumi/actions@") && s.With["command"] == "preview":
					preview = i
				}
			}
			require.NotEqual(t, -1, build, "a step builds the program and installs its plugins: %v", steps)
			require.NotEqual(t, -1, loginAt, "%s logs in", stack)
			require.NotEqual(t, -1, preview)
			assert.Less(t, build, loginAt, "build and plugin downloads before the login")
			assert.Equal(t, preview-1, loginAt, "the login is the last step before the preview: %v", steps)
		})
	}
}

package telemetry

import (
	"net/http"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/workload/internal/version"
)

func TestBuildInfoNamesTheBuild(t *testing.T) {
	old := version.Version
	t.Cleanup(func() { version.Version = old })
	version.Version = "v1.2.3"
	code, body := get(t, Handler(NewMetrics(), &Health{}), "/metrics")
	require.Equal(t, http.StatusOK, code)
	assert.Regexp(t, `(?m)^edw_build_info\{goversion="`+runtime.Version()+`",revision="[^"]*",version="v1\.2\.3"\} 1$`, body)
}

package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDemoScalesConsumersByKEDAsRule runs the local demo end to end on the fast
// emulators: every message becomes a row, consumers come up from zero to at most
// the configured maximum, and the demo ends scaled back to zero.
func TestDemoScalesConsumersByKEDAsRule(t *testing.T) {
	sqsEndpoint, ddb := need(t, "EDW_TEST_SQS_ENDPOINT"), need(t, "EDW_TEST_DYNAMODB_ENDPOINT")
	demo := filepath.Join(t.TempDir(), "demo")
	build := exec.Command("go", "build", "-o", demo, "../cmd/demo")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())

	cmd := exec.Command(demo, "--project", "../../Pulumi.yaml", "--stack", "../../Pulumi.aws.yaml",
		"--consumer", bin.consumer, "--producer", bin.producer, "--sqs-endpoint", sqsEndpoint, "--dynamodb-endpoint", ddb,
		"--messages", "600", "--rate", "300", "--polling", "1s", "--cooldown", "3s", "--max-duration", "2m")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	require.NoError(t, cmd.Run(), "demo: %s\n%s", out.String(), errb.String())
	text := out.String()
	assert.Contains(t, text, "600 messages sent, 600 result rows in the table")
	assert.Contains(t, text, "summary (drained and scaled to zero)")
	peak := regexp.MustCompile(`peak (\d+) consumers`).FindStringSubmatch(text)
	require.NotNil(t, peak, text)
	n, _ := strconv.Atoi(peak[1])
	assert.GreaterOrEqual(t, n, 1)
	assert.LessOrEqual(t, n, 10, "never above edw:consumerMaxReplicas")
	assert.Regexp(t, `replicas= 0 \(desired  0\)`, text, "back to zero after the cooldown")
}

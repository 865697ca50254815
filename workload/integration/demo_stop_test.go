package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func buildDemo(t *testing.T) string {
	t.Helper()
	demo := filepath.Join(t.TempDir(), "demo")
	build := exec.Command("go", "build", "-o", demo, "../cmd/demo")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	return demo
}

var processedRE = regexp.MustCompile(`processed=\s*(\d+)`)

// lastProcessed is the processed count of the demo's latest line.
func lastProcessed(text string) int {
	all := processedRE.FindAllStringSubmatch(text, -1)
	if len(all) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(all[len(all)-1][1])
	return n
}

// interruptUnderLoad starts cmd in a process group of its own, waits until it
// has processed some messages, sends SIGINT to the group as a terminal's Ctrl-C
// does, and returns its output and how long it took to exit.
func interruptUnderLoad(t *testing.T, cmd *exec.Cmd, startWithin time.Duration) (string, time.Duration) {
	t.Helper()
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	})
	eventually(t, startWithin, "the demo processing under load", func() bool { return lastProcessed(out.String()) >= 300 })
	signalled := time.Now()
	require.NoError(t, syscall.Kill(-cmd.Process.Pid, syscall.SIGINT))
	select {
	case err := <-done:
		took := time.Since(signalled)
		require.NoError(t, err, "demo exit; output:\n%s", tail(out.String(), 3000))
		return out.String(), took
	case <-time.After(time.Minute):
		t.Fatalf("the demo did not stop within a minute of Ctrl-C; output:\n%s", tail(out.String(), 3000))
	}
	return "", 0
}

var interruptedSummary = regexp.MustCompile(`(\d+) messages sent, (\d+) result rows in the table\nsummary \(interrupted\): (\d+) processed`)

// checkExactSummary asserts the summary's processed count is the table's.
func checkExactSummary(t *testing.T, text string) {
	t.Helper()
	m := interruptedSummary.FindStringSubmatch(text)
	require.NotNil(t, m, "an interrupted summary:\n%s", tail(text, 3000))
	sent, rows, processed := atoi(t, m[1]), atoi(t, m[2]), atoi(t, m[3])
	assert.Equal(t, rows, processed, "the summary counts exactly what the table holds; output:\n%s", tail(text, 4000))
	assert.GreaterOrEqual(t, sent, rows)
	assert.Greater(t, rows, 0)
}

// running lists live processes started from binary.
func running(binary string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && exe == binary {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Ctrl-C under load stops the demo within seconds: the producer and consumers
// stop in order, each consumer reports its exact totals, and the summary's
// processed count equals the table's rows (it used to lose each stopped
// consumer's last counts, and to take ~29 s).
func TestDemoCtrlCStopsPromptlyWithAnExactSummary(t *testing.T) {
	sqsEndpoint, ddb := need(t, "EDW_TEST_SQS_ENDPOINT"), need(t, "EDW_TEST_DYNAMODB_ENDPOINT")
	cmd := exec.Command(buildDemo(t), "--project", "../../Pulumi.yaml", "--stack", "../../Pulumi.aws.yaml",
		"--consumer", bin.consumer, "--producer", bin.producer, "--sqs-endpoint", sqsEndpoint, "--dynamodb-endpoint", ddb,
		"--messages", "5000", "--rate", "400", "--polling", "1s", "--cooldown", "3s", "--max-duration", "2m")
	text, took := interruptUnderLoad(t, cmd, time.Minute)
	t.Logf("stopped %s after Ctrl-C", took.Round(time.Millisecond))
	assert.Less(t, took, 10*time.Second)
	checkExactSummary(t, text)
	assert.Empty(t, running(bin.consumer), "no consumer left behind")
	assert.Empty(t, running(bin.producer), "no producer left behind")
}

// Through scripts/demo.sh, as `make demo` runs it: Ctrl-C reaches the demo but
// not the emulators, so the summary counts the table before the script's exit
// trap stops them (the emulators used to die first, and the count with them).
func TestDemoScriptCtrlCCountsTheTableBeforeTheEmulatorsStop(t *testing.T) {
	need(t, "EDW_TEST_EMULATOR_DIR")
	cmd := exec.Command("bash", "../../scripts/demo.sh", "aws", "--messages", "5000", "--rate", "400", "--polling", "1s", "--cooldown", "3s")
	text, took := interruptUnderLoad(t, cmd, 4*time.Minute)
	t.Logf("stopped %s after Ctrl-C", took.Round(time.Millisecond))
	assert.Less(t, took, 15*time.Second)
	assert.NotContains(t, text, "count results")
	checkExactSummary(t, text)
}

// After the work is done the demo says what it waits for, and for how long.
func TestDemoSaysWhatItWaitsForDuringTheCooldown(t *testing.T) {
	sqsEndpoint, ddb := need(t, "EDW_TEST_SQS_ENDPOINT"), need(t, "EDW_TEST_DYNAMODB_ENDPOINT")
	cmd := exec.Command(buildDemo(t), "--project", "../../Pulumi.yaml", "--stack", "../../Pulumi.aws.yaml",
		"--consumer", bin.consumer, "--producer", bin.producer, "--sqs-endpoint", sqsEndpoint, "--dynamodb-endpoint", ddb,
		"--messages", "200", "--rate", "0", "--polling", "1s", "--cooldown", "6s", "--max-duration", "2m")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	text := string(out)
	assert.Contains(t, text, "waiting for KEDA's cooldown (6s since the last poll with messages) to scale to zero, in about")
	assert.Contains(t, text, "scale-down stabilization (300s) holds")
	assert.Contains(t, text, "KEDA: cooldown 6s since the last poll with messages is over")
	assert.True(t, strings.Contains(text, "200 messages sent, 200 result rows in the table"), text)
	assert.Contains(t, text, "summary (drained and scaled to zero): 200 processed")
}

package integration

import (
	"bytes"
	"fmt"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDemoScalesConsumersByKEDAsRule runs the local demo end to end on the fast
// emulators: every message becomes a row, and at every poll the replica count is
// what KEDA's rule gives for the backlog the demo observed, up from zero and
// back to zero after the cooldown.
func TestDemoScalesConsumersByKEDAsRule(t *testing.T) {
	text := runDemoOnAWS(t, "--messages", "600", "--rate", "300", "--cooldown", "3s", "--max-duration", "2m",
		// Polling more often than the demo prints (every second), from the first
		// line on, makes every printed line a poll, so each can be checked
		// against the rule.
		"--polling", "500ms", "--poll-phase", "0")
	assert.Contains(t, text, "600 messages sent, 600 result rows in the table")
	assert.Contains(t, text, "summary (drained and scaled to zero)")
	checkReplicasFollowTheRule(t, text)
	checkChartMatchesTheRun(t, text)
}

// runDemoOnAWS builds the demo and runs it for the aws stack on the fast
// emulators with the workload's binaries and args; it returns what the demo
// printed, failing the test if the demo fails.
func runDemoOnAWS(t *testing.T, args ...string) string {
	t.Helper()
	sqsEndpoint, ddb := need(t, "EDW_TEST_SQS_ENDPOINT"), need(t, "EDW_TEST_DYNAMODB_ENDPOINT")
	cmd := exec.Command(buildDemo(t), append([]string{"--project", "../../Pulumi.yaml", "--stack", "../../Pulumi.aws.yaml",
		"--consumer", bin.consumer, "--producer", bin.producer, "--sqs-endpoint", sqsEndpoint, "--dynamodb-endpoint", ddb}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	require.NoError(t, cmd.Run(), "demo: %s\n%s", out.String(), errb.String())
	return out.String()
}

var (
	demoRule = regexp.MustCompile(`(\d+)\.\.(\d+) consumers, (\d+) messages per consumer, activation above (\d+), polling \S+, cooldown (\S+)`)
	demoLine = regexp.MustCompile(`(?m)^t=\s*(\d+)s backlog=\s*(\d+) replicas=\s*(\d+) \(desired\s+(\d+)\)`)
)

// checkReplicasFollowTheRule replays the demo's printed polls against KEDA's rule
// with the numbers the demo printed: above the activation length the HPA wants
// ceil(backlog/target) replicas clamped to [max(min,1), max], and a scale-up goes
// straight there (a scale-down may be held, as the HPA's stabilisation holds it);
// at or below activation nothing scales up and nothing reaches zero before the
// cooldown since the last active poll; every poll ends with the desired count
// running. A demo stuck at one replica, or scaling by any other rule, fails.
func checkReplicasFollowTheRule(t checkT, text string) {
	t.Helper()
	rule := demoRule.FindStringSubmatch(text)
	require.NotNil(t, rule, "the demo prints its rule:\n%s", text)
	minR, maxR, target, activation := atoi(t, rule[1]), atoi(t, rule[2]), atoi(t, rule[3]), atoi(t, rule[4])
	cooldown, err := time.ParseDuration(rule[5])
	require.NoError(t, err)
	require.Equal(t, 0, minR, "this check covers scale-to-zero rules")

	polls := demoLine.FindAllStringSubmatch(text, -1)
	require.NotEmpty(t, polls, text)
	current, peak, busiest := 0, 0, 0
	lastActive := -1
	for _, p := range polls {
		at, backlog, replicas, desired := atoi(t, p[1]), atoi(t, p[2]), atoi(t, p[3]), atoi(t, p[4])
		line := strings.TrimSpace(p[0])
		hpa := max(1, min((backlog+target-1)/target, maxR))
		switch {
		case backlog > activation:
			lastActive = at
			busiest = max(busiest, hpa)
			if hpa > current {
				assert.Equal(t, hpa, desired, "%s: scale up to ceil(%d/%d) clamped to [1,%d]", line, backlog, target, maxR)
			} else {
				assert.True(t, hpa <= desired && desired <= current, "%s: scale down to between %d and %d", line, hpa, current)
			}
		default:
			assert.LessOrEqual(t, desired, current, "%s: no scale-up at or below activation %d", line, activation)
			if desired == 0 && current > 0 {
				// Printed times are rounded to the second.
				assert.GreaterOrEqual(t, time.Duration(at-lastActive)*time.Second, cooldown-time.Second,
					"%s: scaled to zero %ds after the last active poll, cooldown %s", line, at-lastActive, cooldown)
			}
		}
		assert.Equal(t, desired, replicas, "%s: the desired count is running", line)
		current = replicas
		peak = max(peak, replicas)
	}
	assert.GreaterOrEqual(t, busiest, 2, "the backlog called for more than one consumer at some poll, so the rule was tested beyond one")
	assert.Equal(t, 0, current, "back to zero after the cooldown")
	summary := regexp.MustCompile(`peak (\d+) consumers`).FindStringSubmatch(text)
	require.NotNil(t, summary, text)
	assert.Equal(t, peak, atoi(t, summary[1]), "the summary's peak is the most replicas any poll ran")
	assert.LessOrEqual(t, peak, maxR)
}

func atoi(t checkT, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}

// checkT is what the replica check needs of a test, so it can be run against
// made-up transcripts.
type checkT interface {
	require.TestingT
	Helper()
}

// failures records what a check reported; FailNow ends the check as it ends a test.
type failures struct{ errs []string }

func (f *failures) Errorf(format string, args ...any) {
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}
func (f *failures) FailNow() { runtime.Goexit() }
func (f *failures) Helper()  {}

func replicaCheck(text string) []string {
	f := &failures{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		checkReplicasFollowTheRule(f, text)
	}()
	<-done
	return f.errs
}

// transcript renders polls (seconds, backlog, replicas, desired) as the demo prints them.
func transcript(peak int, polls ...[4]int) string {
	var b strings.Builder
	b.WriteString("edw demo: aws stack rules — 0..10 consumers, 50 messages per consumer, activation above 0, polling 500ms, cooldown 3s\n")
	for _, p := range polls {
		fmt.Fprintf(&b, "t=%4ds backlog=%6d replicas=%2d (desired %2d) processed=      0      0 msg/s  p50=   -   p95=   -  \n", p[0], p[1], p[2], p[3])
	}
	fmt.Fprintf(&b, "\nsummary (drained and scaled to zero): 600 processed; peak %d consumers, peak 300 msg/s\n", peak)
	return b.String()
}

// The replica check passes a demo that follows the rule and fails the demos the
// issue describes: one stuck at a single replica, one that scales to zero before
// the cooldown, one whose summary misreports the peak.
func TestTheReplicaCheckFailsADemoThatBreaksTheRule(t *testing.T) {
	good := [][4]int{{1, 300, 6, 6}, {2, 420, 9, 9}, {3, 120, 3, 3}, {4, 0, 1, 1}, {5, 0, 1, 1}, {6, 0, 0, 0}}
	assert.Empty(t, replicaCheck(transcript(9, good...)), "follows the rule")

	stuck := [][4]int{{1, 300, 1, 1}, {2, 420, 1, 1}, {3, 120, 1, 1}, {4, 0, 1, 1}, {6, 0, 0, 0}}
	assert.NotEmpty(t, replicaCheck(transcript(1, stuck...)), "stuck at one replica")

	early := [][4]int{{1, 300, 6, 6}, {2, 420, 9, 9}, {3, 120, 3, 3}, {4, 0, 0, 0}}
	assert.NotEmpty(t, replicaCheck(transcript(9, early...)), "zero one second after the last active poll, cooldown 3s")

	assert.NotEmpty(t, replicaCheck(transcript(10, good...)), "summary's peak is not what ran")

	lagging := [][4]int{{1, 300, 6, 6}, {2, 420, 9, 8}, {3, 120, 3, 3}, {4, 0, 1, 1}, {6, 0, 0, 0}}
	assert.NotEmpty(t, replicaCheck(transcript(9, lagging...)), "running count differs from desired")
}

package integration

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// backends are the emulator pairs every flow test runs on.
func backends(t *testing.T) map[string]func(t *testing.T, visibility int) *stack {
	return map[string]func(t *testing.T, visibility int) *stack{
		"aws": func(t *testing.T, v int) *stack {
			return awsStack(t, need(t, "EDW_TEST_SQS_ENDPOINT"), need(t, "EDW_TEST_DYNAMODB_ENDPOINT"), v)
		},
		"azure": func(t *testing.T, _ int) *stack { return azureStack(t, need(t, "EDW_TEST_AZURITE_CONNECTION_STRING")) },
	}
}

// assertExactlyOnce checks the end state and the writes that made it: want rows,
// one per id, an empty queue, and from the taps in front of the table (which see
// every write and the service's answer) exactly one accepted write per row, so a
// consumer that overwrote rows it had already written fails here even though the
// table looks the same.
func assertExactlyOnce(t *testing.T, s *stack, want int) {
	t.Helper()
	rows := s.rows(t)
	assert.Len(t, rows, want, "one row per message")
	for id, n := range rows {
		if n != 1 {
			t.Errorf("id %s has %d rows", id, n)
		}
	}
	for _, p := range s.writes.problems(rows) {
		t.Error(p)
	}
	assert.Equal(t, 0, s.len(t), "queue is empty")
}

// dupBody is a work message with a fixed id and content: sent twice, it is what
// a redelivery looks like to the store.
func dupBody(id string) string {
	return fmt.Sprintf(`{"id":%q,"msg":"dup","srcStamp":"2026-11-25 12:00:00.000000"}`, id)
}

// TestTheSameIDTwiceIsWrittenOnceAndAnOverwriteIsCaught delivers one id twice.
// The real store writes it once and refuses the second write; a store that
// overwrites (the tap's deliberate break) leaves the same single row behind, and
// the write check must still catch it.
func TestTheSameIDTwiceIsWrittenOnceAndAnOverwriteIsCaught(t *testing.T) {
	for cloud, open := range backends(t) {
		t.Run(cloud, func(t *testing.T) {
			for _, overwrite := range []bool{false, true} {
				t.Run(map[bool]string{false: "conditional", true: "overwriting"}[overwrite], func(t *testing.T) {
					s := open(t, 30)
					s.overwrite = overwrite
					s.send(t, dupBody("twice-1"), dupBody("twice-1"), dupBody("once-1"))
					finish(t, consumer(t, s, "--exit-when-idle=2s"), time.Minute)
					rows := s.rows(t)
					require.Equal(t, map[string]int{"twice-1": 1, "once-1": 1}, rows, "the table cannot tell the two apart")
					require.Equal(t, 0, s.len(t))
					var answers []int
					for _, w := range s.writes.all() {
						if w.id == "twice-1" {
							answers = append(answers, w.status)
						}
					}
					require.Len(t, answers, 2, "the tap saw both writes of twice-1")
					problems := s.writes.problems(rows)
					if !overwrite {
						assert.Empty(t, problems)
						assert.Equal(t, 1, countIf(answers, func(status int) bool { return status >= 200 && status < 300 }),
							"one write accepted, the other refused: %v", answers)
						return
					}
					assert.Equal(t, []string{"id twice-1 written 2 times (accepted writes seen by the tap)"}, problems,
						"the write check sees the overwrite the rows hide")
				})
			}
		})
	}
}

func countIf[T any](xs []T, f func(T) bool) int {
	n := 0
	for _, x := range xs {
		if f(x) {
			n++
		}
	}
	return n
}

func TestNMessagesInExactlyNRowsOut(t *testing.T) {
	for cloud, open := range backends(t) {
		t.Run(cloud, func(t *testing.T) {
			s := open(t, 30)
			sum := produce(t, s, "--count=400")
			require.Equal(t, 400.0, sum["sent"])
			require.Equal(t, 0.0, sum["failed"])
			finish(t, consumer(t, s, "--exit-when-idle=2s"), 2*time.Minute)
			assertExactlyOnce(t, s, 400)
			assert.Equal(t, 0, s.dlqLen(t))
		})
	}
}

func TestTwoConsumersShareTheQueue(t *testing.T) {
	for cloud, open := range backends(t) {
		t.Run(cloud, func(t *testing.T) {
			s := open(t, 30)
			produce(t, s, "--count=600")
			a := consumer(t, s, "--exit-when-idle=2s")
			b := consumer(t, s, "--exit-when-idle=2s")
			finish(t, a, 2*time.Minute)
			finish(t, b, 2*time.Minute)
			assertExactlyOnce(t, s, 600)
			by := s.writes.acceptedBy()
			assert.Equal(t, 600, by[a.by]+by[b.by])
			assert.Positive(t, by[a.by], "%s wrote rows: %v", a.by, by)
			assert.Positive(t, by[b.by], "%s wrote rows: %v", b.by, by)
		})
	}
}

func TestPoisonGoesToTheDeadLetterQueueAndTheRestComplete(t *testing.T) {
	for cloud, open := range backends(t) {
		t.Run(cloud, func(t *testing.T) {
			s := open(t, 30)
			produce(t, s, "--count=50")
			s.send(t, `not json at all`, `{"msg":"no stamp"}`, `{"srcStamp":"2026-11-23 05:00:00.000000"}`,
				`{"msg":"bad stamp","srcStamp":"23/11/2026"}`)
			finish(t, consumer(t, s, "--exit-when-idle=2s"), 2*time.Minute)
			assertExactlyOnce(t, s, 50)
			assert.Equal(t, 4, s.dlqLen(t), "every poison message is in the dead-letter queue")
		})
	}
}

func TestSIGKILLMidBatchThenRestartLosesAndDuplicatesNothing(t *testing.T) {
	for cloud, open := range backends(t) {
		t.Run(cloud, func(t *testing.T) {
			// A short visibility timeout lets the killed consumer's messages come back quickly.
			s := open(t, 3)
			const n = 1500
			produce(t, s, fmt.Sprintf("--count=%d", n))
			c := consumer(t, s, "--visibility-timeout=3s")
			eventually(t, time.Minute, "some rows written", func() bool { return len(s.rows(t)) >= 100 })
			require.NoError(t, c.Process.Signal(syscall.SIGKILL))
			_ = c.Wait()
			// Mid-batch: the kill left messages received and not deleted, so the
			// restart only ends exactly-once if they are redelivered and handled
			// (written, or their write refused as already there).
			inFlight := s.hidden(t)
			written := len(s.rows(t))
			require.Less(t, written, n, "killed mid-run")
			require.Positive(t, inFlight, "the kill caught no message in flight: nothing had to be redelivered")
			again := consumer(t, s, "--exit-when-idle=6s", "--visibility-timeout=3s")
			finish(t, again, 3*time.Minute)
			assertExactlyOnce(t, s, n)
			refused := 0
			for _, w := range s.writes.all() {
				if w.by == again.by && w.status >= 400 {
					refused++
				}
			}
			t.Logf("killed with %d messages in flight and %d rows; the restart had %d writes refused as already there", inFlight, written, refused)
		})
	}
}

func TestSIGTERMDrainsInFlightWorkAndExitsZero(t *testing.T) {
	for cloud, open := range backends(t) {
		t.Run(cloud, func(t *testing.T) {
			s := open(t, 30)
			const n = 1500
			produce(t, s, fmt.Sprintf("--count=%d", n))
			c := consumer(t, s)
			eventually(t, time.Minute, "some rows written", func() bool { return len(s.rows(t)) >= 100 })
			require.NoError(t, c.Process.Signal(syscall.SIGTERM))
			finish(t, c, 30*time.Second)
			// The signal came mid-run: work was left on the queue, and the consumer
			// stopped because of it, not because the queue went idle.
			rows := s.rows(t)
			queued, hidden := s.len(t), s.hidden(t)
			require.Less(t, len(rows), n, "SIGTERM arrived before the queue was drained")
			require.Positive(t, queued-hidden, "messages were still waiting when it stopped")
			assert.Contains(t, c.logs.String(), "stopped receiving and drained in-flight messages")
			assert.NotContains(t, c.logs.String(), "drain timeout")
			// Drained: nothing it received is left hidden and half-done (the visibility
			// timeout is 60s, so a message it abandoned would still be hidden); rows
			// plus visible messages account for every message.
			assert.Equal(t, 0, hidden, "no message left in flight")
			assert.Equal(t, n, len(rows)+queued-hidden, "every message is either written or waiting")
			finish(t, consumer(t, s, "--exit-when-idle=2s"), 2*time.Minute)
			assertExactlyOnce(t, s, n)
		})
	}
}

func TestConsumerRecoversWhenTheEmulatorComesBack(t *testing.T) {
	dir := need(t, "EDW_TEST_EMULATOR_DIR")
	emu := startAzurite(t, dir, true)
	s := azureStack(t, emu.conn)
	produce(t, s, "--count=600")
	// Deletes that fail during the outage come back after the visibility timeout;
	// a short one lets the consumer find them (as duplicates) before it goes idle.
	c := consumer(t, s, "--exit-when-idle=20s", "--visibility-timeout=5s")
	eventually(t, time.Minute, "some rows written", func() bool { return len(s.rows(t)) >= 50 })
	emu.stop(t)
	time.Sleep(4 * time.Second)
	emu.start(t)
	back := time.Now()
	finish(t, c, 3*time.Minute)
	assertExactlyOnce(t, s, 600)
	// The outage hit mid-run: the consumer was writing when the table went away
	// (writes that got no answer) and still had work once it came back.
	var unanswered, after int
	for _, w := range s.writes.all() {
		switch {
		case w.status == 0:
			unanswered++
		case w.accepted() && w.at.After(back):
			after++
		}
	}
	assert.Positive(t, unanswered, "writes were cut off by the outage")
	assert.Positive(t, after, "rows were written after the emulator came back")
}

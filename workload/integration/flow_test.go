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

func assertExactlyOnce(t *testing.T, s *stack, want int) {
	t.Helper()
	rows := s.rows(t)
	assert.Len(t, rows, want, "one row per message")
	for id, n := range rows {
		if n != 1 {
			t.Errorf("id %s written %d times", id, n)
		}
	}
	assert.Equal(t, 0, s.len(t), "queue is empty")
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
			written := len(s.rows(t))
			require.Less(t, written, n, "killed mid-run")
			finish(t, consumer(t, s, "--exit-when-idle=6s", "--visibility-timeout=3s"), 3*time.Minute)
			assertExactlyOnce(t, s, n)
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
			// Drained: nothing is left hidden and half-done; rows plus queued messages
			// account for every message.
			rows := s.rows(t)
			assert.Equal(t, n, len(rows)+s.len(t), "every message is either written or still queued")
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
	finish(t, c, 3*time.Minute)
	assertExactlyOnce(t, s, 600)
}

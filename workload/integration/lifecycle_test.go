package integration

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/workload/internal/backend"
)

// A consumer on a reachable, empty queue is ready as soon as the queue has
// answered once (not after its first 20s long poll returns), and on SIGTERM
// while idle it exits within a second or two: the long poll is cancelled.
func TestReadyAtOnceAndIdleSIGTERMExitsPromptly(t *testing.T) {
	for cloud, open := range backends(t) {
		t.Run(cloud, func(t *testing.T) {
			s := open(t, 30)
			addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			start := time.Now()
			c := consumer(t, s, "--metrics-addr="+addr, "--wait=20s")
			client := &http.Client{Timeout: time.Second}
			eventually(t, 20*time.Second, "/readyz answers 200", func() bool {
				resp, err := client.Get("http://" + addr + "/readyz")
				if err != nil {
					return false
				}
				resp.Body.Close()
				return resp.StatusCode == http.StatusOK
			})
			ready := time.Since(start)
			time.Sleep(1500 * time.Millisecond) // every receiver is in its long poll
			signalled := time.Now()
			require.NoError(t, c.Process.Signal(syscall.SIGTERM))
			finish(t, c, 20*time.Second)
			exited := time.Since(signalled)
			t.Logf("%s: ready after %s, exited %s after SIGTERM", cloud, ready.Round(time.Millisecond), exited.Round(time.Millisecond))
			assert.Less(t, ready, 5*time.Second, "ready once the queue answered")
			assert.Less(t, exited, 2*time.Second, "the long poll is cancelled")
		})
	}
}

// The demo reads the backlog as KEDA's triggers do by default: messages waiting
// plus messages received and not yet deleted (aws-sqs-queue's scaleOnInFlight,
// azure-queue's ApproximateMessagesCount).
func TestQueueLengthCountsInFlightMessages(t *testing.T) {
	for cloud, open := range backends(t) {
		t.Run(cloud, func(t *testing.T) {
			s := open(t, 30)
			s.send(t, `{"msg":"a","srcStamp":"2026-11-23 05:00:00.000000"}`, `{"msg":"b","srcStamp":"2026-11-23 05:00:00.000000"}`,
				`{"msg":"c","srcStamp":"2026-11-23 05:00:00.000000"}`)
			env := map[string]string{}
			for _, kv := range s.env {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
			for k, v := range env {
				if strings.HasPrefix(k, "AWS_") {
					t.Setenv(k, v)
				}
			}
			ctx := context.Background()
			be, err := backend.Open(ctx, backend.FromEnv(func(k string) string { return env[k] }), false, time.Minute)
			require.NoError(t, err)
			msgs, err := be.Queue.Receive(ctx, 2, time.Second)
			require.NoError(t, err)
			require.NotEmpty(t, msgs)
			n, err := be.Queue.Len(ctx)
			require.NoError(t, err)
			assert.Equal(t, 3, n, "%d received and hidden, still counted", len(msgs))
		})
	}
}

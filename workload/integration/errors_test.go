package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/workload/internal/backend"
	"github.com/edw-dev/edw/workload/internal/failure"
	"github.com/edw-dev/edw/workload/internal/store"
)

// lockedBuffer is a bytes.Buffer a running process writes while a test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// ran is one finished run of a binary.
type ran struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

// runBinary runs a binary with env to its end, killing it after within.
func runBinary(t *testing.T, binary string, env []string, within time.Duration, args ...string) ran {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := ran{stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	require.NoError(t, ctx.Err(), "%s did not stop within %s; stderr:\n%s", binary, within, tail(r.stderr, 2000))
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		r.code = exit.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return r
}

// awsEnvAt is the AWS environment of a queue and table that do not exist on
// the emulator at endpoint.
func awsEnvAt(endpoint string) []string {
	return []string{"EDW_CLOUD=aws", "EDW_QUEUE_URL=" + endpoint + "/000000000000/nonexistent",
		"EDW_DLQ_URL=" + endpoint + "/000000000000/nonexistent-dlq", "EDW_TABLE_NAME=nonexistent",
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"AWS_ENDPOINT_URL_SQS=" + endpoint, "AWS_ENDPOINT_URL_DYNAMODB=" + endpoint}
}

// The producer says why it fails and stops: an unreachable endpoint with
// --count 0 used to send (and fail) forever without a word of the cause.
func TestProducerPrintsTheCauseAndStops(t *testing.T) {
	t.Run("unreachable endpoint, no count", func(t *testing.T) {
		r := runBinary(t, bin.producer, awsEnvAt("http://127.0.0.1:1"), time.Minute, "--count=0", "--quiet")
		assert.Equal(t, 1, r.code)
		assert.Contains(t, r.stderr, "connection refused")
		assert.Contains(t, r.stderr, "gave up after 3 failed sends in a row")
		assert.Equal(t, 1, strings.Count(r.stderr, "producer: send failed:"), "the first error, once")
		t.Logf("gave up after %s", r.took)
	})
	t.Run("queue that does not exist", func(t *testing.T) {
		r := runBinary(t, bin.producer, awsEnvAt(need(t, "EDW_TEST_SQS_ENDPOINT")), time.Minute, "--count=30", "--quiet")
		assert.Equal(t, 1, r.code)
		assert.Contains(t, r.stderr, "nonexistent")
		var sum map[string]any
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &sum), r.stdout)
		assert.NotEmpty(t, sum["firstError"])
	})
}

// A consumer that cannot reach its queue or table fails at start-up, naming
// which one and the endpoint, even with --exit-when-idle (which used to exit 0,
// "queue idle").
func TestConsumerFailsAtStartUpNamingWhatItCouldNotReach(t *testing.T) {
	t.Run("aws, unreachable endpoint", func(t *testing.T) {
		r := runBinary(t, bin.consumer, awsEnvAt("http://127.0.0.1:1"), time.Minute, "--exit-when-idle=2s", "--metrics-addr=127.0.0.1:0")
		assert.Equal(t, 1, r.code)
		assert.Contains(t, r.stderr, "cannot read the queue http://127.0.0.1:1/000000000000/nonexistent at http://127.0.0.1:1")
		assert.Contains(t, r.stderr, "cannot read the table nonexistent at http://127.0.0.1:1")
		assert.NotContains(t, r.stderr, "queue idle")
	})
	t.Run("aws, missing queue and table", func(t *testing.T) {
		endpoint := need(t, "EDW_TEST_SQS_ENDPOINT")
		r := runBinary(t, bin.consumer, awsEnvAt(endpoint), time.Minute, "--exit-when-idle=2s", "--metrics-addr=127.0.0.1:0")
		assert.Equal(t, 1, r.code)
		assert.Contains(t, r.stderr, "cannot read the queue "+endpoint+"/000000000000/nonexistent at "+endpoint)
		assert.Contains(t, r.stderr, "cannot read the table nonexistent at "+endpoint)
	})
	t.Run("azure, missing queue", func(t *testing.T) {
		conn := need(t, "EDW_TEST_AZURITE_CONNECTION_STRING")
		s := azureStack(t, conn)
		env := append([]string{}, s.env...)
		env = append(env, "EDW_QUEUE_NAME=nonexistent")
		r := runBinary(t, bin.consumer, env, time.Minute, "--exit-when-idle=2s", "--metrics-addr=127.0.0.1:0")
		assert.Equal(t, 1, r.code)
		assert.Contains(t, r.stderr, "cannot read the queue http://127.0.0.1:")
		assert.Contains(t, r.stderr, "/devstoreaccount1/nonexistent")
		assert.NotContains(t, r.stderr, "cannot read the table", "the table exists")
	})
}

func TestBadFlagsAreNamedAndHelpListsTheEnvironment(t *testing.T) {
	r := runBinary(t, bin.consumer, nil, 10*time.Second, "--wait=25s", "--drain-timeout=-5s")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "--wait 25s: want 0s to 20s")
	assert.Contains(t, r.stderr, "--drain-timeout -5s")
	r = runBinary(t, bin.producer, nil, 10*time.Second, "--count=-1")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "--count -1")
	for _, b := range []string{bin.consumer, bin.producer} {
		r = runBinary(t, b, nil, 10*time.Second, "--help")
		assert.Equal(t, 0, r.code)
		assert.Contains(t, r.stderr, "EDW_CLOUD")
		assert.Contains(t, r.stderr, "AZURE_STORAGE_CONNECTION_STRING")
	}
}

// A valid message whose msg is over Azure's 32K-character property limit goes
// to the poison queue on its first receive (it used to be retried until the
// receive limit, about five minutes with the defaults); the rest complete.
func TestMessageOverTheTablesLimitIsDeadLetteredAtOnce(t *testing.T) {
	s := azureStack(t, need(t, "EDW_TEST_AZURITE_CONNECTION_STRING"))
	produce(t, s, "--count=20")
	big := fmt.Sprintf(`{"id":"big-1","msg":%q,"srcStamp":%q}`, strings.Repeat("x", 40*1024), time.Now().UTC().Format("2006-01-02 15:04:05.000000"))
	s.send(t, big)
	c := consumer(t, s, "--exit-when-idle=3s")
	finish(t, c, time.Minute)
	assert.Len(t, s.rows(t), 20)
	assert.Equal(t, 1, s.dlqLen(t))
	assert.Equal(t, 0, s.len(t))
}

// The table's own refusal of an over-limit entity is classified permanent, for
// whatever Validate does not foresee.
func TestAzureTablesRefusalOfAnOversizedEntityIsPermanent(t *testing.T) {
	s := azureStack(t, need(t, "EDW_TEST_AZURITE_CONNECTION_STRING"))
	env := map[string]string{}
	for _, kv := range s.env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	be, err := backend.Open(context.Background(), backend.FromEnv(func(k string) string { return env[k] }), true, time.Minute)
	require.NoError(t, err)
	r := store.Result{ID: "big", Msg: strings.Repeat("x", 40*1024), SrcStamp: time.Now(), DestStamp: time.Now()}
	require.True(t, failure.IsPermanent(be.Store.Validate(r)), "Validate foresees it")
	_, err = be.Store.Put(context.Background(), r)
	require.Error(t, err)
	assert.True(t, failure.IsPermanent(err), "%v", err)
	assert.Contains(t, err.Error(), "PropertyValueTooLarge")

	_, err = be.Store.Put(context.Background(), store.Result{ID: "fine", Msg: "x", SrcStamp: time.Now(), DestStamp: time.Now()})
	assert.NoError(t, err)
}

// A second message under an id already processed, with different content, is
// logged and counted as a conflict on both clouds, and the first result stays,
// while a harmless redelivery of the same content is a duplicate.
func TestConflictingMessageUnderAProcessedIDIsCounted(t *testing.T) {
	for cloud, open := range backends(t) {
		t.Run(cloud, func(t *testing.T) {
			s := open(t, 30)
			stamp := "2026-11-23 05:00:00.000000"
			s.send(t, fmt.Sprintf(`{"id":"same","msg":"first","srcStamp":%q}`, stamp))
			out := runBinary(t, bin.consumer, s.env, time.Minute, "--exit-when-idle=2s", "--wait=1s", "--metrics-addr=127.0.0.1:0")
			require.Equal(t, 0, out.code, out.stderr)
			// The same content in other bytes is a redelivery, as far as the result
			// goes (an emulator may also drop a byte-identical resend). The
			// conflicting one has a different day as well: the id alone decides
			// where the result lives.
			s.send(t, fmt.Sprintf(`{"srcStamp": %q, "msg": "first", "id": "same"}`, stamp),
				`{"id":"same","msg":"second","srcStamp":"2026-11-24 06:00:00.000000"}`)
			out = runBinary(t, bin.consumer, s.env, time.Minute, "--exit-when-idle=2s", "--wait=1s", "--metrics-addr=127.0.0.1:0")
			require.Equal(t, 0, out.code, out.stderr)
			var totals map[string]int
			require.NoError(t, json.Unmarshal([]byte(out.stdout), &totals), out.stdout)
			assert.Equal(t, 1, totals["conflicts"], "consumer log:\n%s", tail(out.stderr, 3000))
			assert.Equal(t, 1, totals["duplicates"], "totals %v; consumer log:\n%s", totals, tail(out.stderr, 3000))
			assert.Equal(t, 0, totals["processed"])
			assert.Contains(t, out.stderr, "conflicting message")
			assert.Equal(t, map[string]int{"same": 1}, s.rows(t), "one row, the first")
			assert.Equal(t, 0, totals["deadLettered"])
			assert.Equal(t, 0, s.len(t))
		})
	}
}

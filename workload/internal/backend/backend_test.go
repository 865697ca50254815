package backend

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/workload/internal/emulator"
	"github.com/edw-dev/edw/workload/internal/store"
)

// stallFirst answers every request with answer except the first, which it holds
// until the client gives up on it. It records whether that happened.
type stallFirst struct {
	answer func(w http.ResponseWriter, r *http.Request)
	// release ends a stall the client never gave up on, so the server can close.
	release chan struct{}
	// stallEnded closes when the held request's handler returns.
	stallEnded chan struct{}

	mu        sync.Mutex
	requests  int
	abandoned bool
}

func (s *stallFirst) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	first := s.requests == 1
	s.mu.Unlock()
	if first {
		defer close(s.stallEnded)
		// The server notices a closed connection only once the body is read.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
			s.mu.Lock()
			s.abandoned = true
			s.mu.Unlock()
		case <-s.release:
		}
		return
	}
	s.answer(w, r)
}

// seen reports the requests served and whether the client gave up on the held
// one; the server learns of that from the closed connection, so it waits for it.
func (s *stallFirst) seen(t *testing.T) (int, bool) {
	t.Helper()
	select {
	case <-s.stallEnded:
	case <-time.After(guard):
		t.Fatal("the held request was never given up")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, s.abandoned
}

// serve starts s and stops it, cutting off a still-held request, at the end.
func serve(t *testing.T, s *stallFirst) string {
	t.Helper()
	s.release, s.stallEnded = make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(s)
	t.Cleanup(func() {
		close(s.release)
		srv.Close()
	})
	return srv.URL
}

// guard is far longer than the attempt timeout the tests set: without a bound
// on each attempt the stalled request holds the call until guard ends it.
const guard = 20 * time.Second

const attempt = 300 * time.Millisecond

func TestAzureQueueRetriesAnUnansweredReceive(t *testing.T) {
	s := &stallFirst{answer: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		stamp := time.Now().UTC().Format(http.TimeFormat)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?><QueueMessagesList><QueueMessage>`+
			`<MessageId>m1</MessageId><InsertionTime>%[1]s</InsertionTime><ExpirationTime>%[1]s</ExpirationTime>`+
			`<PopReceipt>receipt</PopReceipt><TimeNextVisible>%[1]s</TimeNextVisible><DequeueCount>2</DequeueCount>`+
			`<MessageText>hello</MessageText></QueueMessage></QueueMessagesList>`, stamp)
	}}
	url := serve(t, s)
	be := openAzurite(t, url)

	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	msgs, err := be.Queue.Receive(ctx, 32, 0)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	assert.Equal(t, "m1", msgs[0].ID)
	assert.Equal(t, "hello", string(msgs[0].Body))
	assert.Equal(t, 2, msgs[0].ReceiveCount)
	requests, abandoned := s.seen(t)
	assert.Equal(t, 2, requests)
	assert.True(t, abandoned, "the unanswered attempt is cut off, not waited on")
}

func TestAzureTableRetriesAnUnansweredWrite(t *testing.T) {
	var body string
	s := &stallFirst{answer: func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		body = string(raw)
		w.WriteHeader(http.StatusNoContent)
	}}
	url := serve(t, s)
	be := openAzurite(t, url)

	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	written, err := be.Store.Put(ctx, store.Result{ID: "m1", Msg: "hello", SrcStamp: time.Now(), DestStamp: time.Now()})
	require.NoError(t, err)
	assert.True(t, written)
	assert.Contains(t, body, `"RowKey":"m1"`, "the retried attempt carries the same entity")
	requests, abandoned := s.seen(t)
	assert.Equal(t, 2, requests)
	assert.True(t, abandoned)
}

func TestSQSRetriesAnUnansweredReceive(t *testing.T) {
	s := &stallFirst{answer: func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".ReceiveMessage") {
			http.Error(w, "unexpected "+r.Header.Get("X-Amz-Target"), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		fmt.Fprint(w, `{"Messages":[{"MessageId":"m1","ReceiptHandle":"h1","Body":"hello","Attributes":{"ApproximateReceiveCount":"3"}}]}`)
	}}
	url := serve(t, s)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_ENDPOINT_URL_SQS", url)
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")

	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	be, err := Open(ctx, Env{Cloud: "aws", QueueURL: url + "/000000000000/q", DLQURL: url + "/000000000000/q-dlq",
		TableName: "t", AttemptTimeout: attempt}, true, 30*time.Second)
	require.NoError(t, err)
	msgs, err := be.Queue.Receive(ctx, 10, 0)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	assert.Equal(t, "h1", msgs[0].Handle)
	assert.Equal(t, 3, msgs[0].ReceiveCount)
	requests, abandoned := s.seen(t)
	assert.Equal(t, 2, requests)
	assert.True(t, abandoned)
}

func TestDefaultAttemptTimeoutOutlastsTheLongestLongPoll(t *testing.T) {
	assert.Greater(t, DefaultAttemptTimeout, 20*time.Second,
		"an SQS receive may wait 20s for messages before it answers")
}

// openAzurite opens a consumer backend on a fake Azure Storage endpoint.
func openAzurite(t *testing.T, url string) *Backend {
	t.Helper()
	// The fake does not check signatures.
	conn := emulator.AzuriteConnectionString(url, url)
	be, err := Open(context.Background(), Env{Cloud: "azure", ConnectionString: conn, QueueName: "q", TableName: "t",
		AttemptTimeout: attempt}, true, 30*time.Second)
	require.NoError(t, err)
	return be
}

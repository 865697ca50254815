package queue

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// flakySQS answers SendMessageBatch, failing the entries fail chooses (by body
// and the call's number, from 1); it records every entry of every call.
type flakySQS struct {
	mu    sync.Mutex
	calls [][]string // bodies per call
	fail  func(body string, call int) (code string, senderFault bool, failed bool)
}

func (f *flakySQS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Entries []struct{ Id, MessageBody string }
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || r.Header.Get("X-Amz-Target") != "AmazonSQS.SendMessageBatch" {
		http.Error(w, "unexpected request", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	var bodies []string
	for _, e := range req.Entries {
		bodies = append(bodies, e.MessageBody)
	}
	f.calls = append(f.calls, bodies)
	call := len(f.calls)
	f.mu.Unlock()
	type ok struct{ Id, MessageId, MD5OfMessageBody string }
	type failed struct {
		Id, Code, Message string
		SenderFault       bool
	}
	resp := struct {
		Successful []ok
		Failed     []failed
	}{Successful: []ok{}, Failed: []failed{}}
	for _, e := range req.Entries {
		if code, sender, fails := f.fail(e.MessageBody, call); fails {
			resp.Failed = append(resp.Failed, failed{Id: e.Id, Code: code, Message: "refused", SenderFault: sender})
			continue
		}
		sum := md5.Sum([]byte(e.MessageBody))
		resp.Successful = append(resp.Successful, ok{Id: e.Id, MessageId: "m-" + e.Id, MD5OfMessageBody: hex.EncodeToString(sum[:])})
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_ = json.NewEncoder(w).Encode(resp)
}

// sentIn is the bodies the numbered call (from 1) carried.
func (f *flakySQS) sentIn(call int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[call-1]
}

func flaky(t *testing.T, fail func(body string, call int) (string, bool, bool)) (*SQS, *flakySQS) {
	t.Helper()
	f := &flakySQS{fail: fail}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	client := sqs.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("t", "t", ""),
		RetryMaxAttempts: 1}, func(o *sqs.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	return NewSQS(client, srv.URL+"/000000000000/q", ""), f
}

func numbered(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(fmt.Sprintf("b%02d", i))
	}
	return out
}

func TestSendResendsOnlyTheEntriesThatFailed(t *testing.T) {
	q, f := flaky(t, func(body string, call int) (string, bool, bool) {
		return "InternalError", false, call == 1 && (body == "b03" || body == "b07")
	})
	require.NoError(t, q.Send(context.Background(), numbered(10)))
	require.Len(t, f.calls, 2, "one resend")
	assert.Len(t, f.sentIn(1), 10)
	assert.ElementsMatch(t, []string{"b03", "b07"}, f.sentIn(2), "only the failed entries, once each")
}

func TestSendGivesUpAfterFiveAttempts(t *testing.T) {
	q, f := flaky(t, func(body string, _ int) (string, bool, bool) { return "InternalError", false, body == "b01" })
	err := q.Send(context.Background(), numbered(3))
	require.ErrorContains(t, err, "1 messages still failing after 5 attempts")
	assert.Len(t, f.calls, 5)
	for call := 2; call <= 5; call++ {
		assert.Equal(t, []string{"b01"}, f.sentIn(call))
	}
}

func TestSendStopsAtARejectedMessage(t *testing.T) {
	q, f := flaky(t, func(body string, _ int) (string, bool, bool) { return "InvalidMessageContents", true, body == "b02" })
	err := q.Send(context.Background(), numbered(5))
	require.ErrorContains(t, err, "rejected a message: InvalidMessageContents refused")
	assert.Len(t, f.calls, 1, "a sender fault is not retried")
}

func TestSendBatchesByTen(t *testing.T) {
	for n, calls := range map[int]int{1: 1, 10: 1, 20: 2, 21: 3} {
		q, f := flaky(t, func(string, int) (string, bool, bool) { return "", false, false })
		require.NoError(t, q.Send(context.Background(), numbered(n)))
		assert.Len(t, f.calls, calls, "%d bodies", n)
		for i := range f.calls {
			assert.NotEmpty(t, f.sentIn(i+1), "no empty batch")
		}
	}
}

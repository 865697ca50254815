package router

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/workload/internal/message"
)

func bodies(t *testing.T, n int) [][]byte {
	t.Helper()
	out := make([][]byte, n)
	for i := range out {
		raw, err := message.Encode(message.Body{ID: fmt.Sprintf("key-%02d", i), Msg: fmt.Sprintf("work %d", i),
			SrcStamp: time.Date(2026, 12, 2, 10, 0, 0, i*1000, time.UTC)})
		require.NoError(t, err)
		out[i] = raw
	}
	return out
}

// fakeCredential hands out one token and records the scopes asked for.
type fakeCredential struct {
	mu     sync.Mutex
	scopes [][]string
}

func (c *fakeCredential) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.scopes = append(c.scopes, o.Scopes)
	return azcore.AccessToken{Token: "token-for-event-grid", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// gridRequest is what the topic received in one publish.
type gridRequest struct {
	contentType, auth string
	events            []map[string]json.RawMessage
	raw               []byte
}

// topic is a stand-in for an Event Grid topic's publish endpoint over TLS (the
// bearer policy sends tokens over https only). There is no Event Grid emulator
// (not on npm, PyPI or the Go proxy): the request is checked against the
// CloudEvents batch format and Event Grid's documented answers instead.
func topic(t *testing.T, answer func(n int) int) (*httptest.Server, *[]gridRequest) {
	t.Helper()
	var (
		mu   sync.Mutex
		reqs []gridRequest
	)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		g := gridRequest{contentType: r.Header.Get("Content-Type"), auth: r.Header.Get("Authorization"), raw: raw}
		if r.Method != http.MethodPost || r.URL.Path != "/api/events" {
			http.Error(w, "want POST /api/events", http.StatusNotFound)
			return
		}
		if err := json.Unmarshal(raw, &g.events); err != nil {
			http.Error(w, "body is not a JSON array of events: "+err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		reqs = append(reqs, g)
		n := len(reqs)
		mu.Unlock()
		w.WriteHeader(answer(n))
	}))
	t.Cleanup(srv.Close)
	return srv, &reqs
}

func str(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var s string
	require.NoError(t, json.Unmarshal(raw, &s), "%s", raw)
	return s
}

func TestEventGridPublishesACloudEventsBatchWithABearerToken(t *testing.T) {
	srv, reqs := topic(t, func(int) int { return http.StatusOK })
	cred := &fakeCredential{}
	g := NewEventGrid(srv.URL+"/api/events", cred, "edw.producer", "edw.work", EventGridOptions{Transport: srv.Client()})
	in := bodies(t, 3)
	require.NoError(t, g.Send(context.Background(), in))

	require.Len(t, *reqs, 1, "one batch")
	r := (*reqs)[0]
	assert.Equal(t, "application/cloudevents-batch+json; charset=utf-8", r.contentType)
	assert.Equal(t, "Bearer token-for-event-grid", r.auth)
	assert.Equal(t, [][]string{{"https://eventgrid.azure.net/.default"}}, cred.scopes)
	require.Len(t, r.events, 3)
	ids := map[string]bool{}
	for i, e := range r.events {
		assert.Equal(t, "1.0", str(t, e["specversion"]))
		assert.Equal(t, "edw.producer", str(t, e["source"]))
		assert.Equal(t, "edw.work", str(t, e["type"]))
		assert.Equal(t, "application/json", str(t, e["datacontenttype"]))
		assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, str(t, e["id"]))
		ids[str(t, e["id"])] = true
		_, err := time.Parse(time.RFC3339Nano, str(t, e["time"]))
		assert.NoError(t, err)
		key := fmt.Sprintf("key-%02d", i)
		assert.Equal(t, key, str(t, e["idempotencykey"]))
		var data struct {
			Metadata map[string]string `json:"metadata"`
			Data     json.RawMessage   `json:"data"`
		}
		require.NoError(t, json.Unmarshal(e["data"], &data))
		assert.Equal(t, map[string]string{"idempotency-key": key}, data.Metadata)
		assert.JSONEq(t, string(in[i]), string(data.Data), "the body is the work, unchanged")
	}
	assert.Len(t, ids, 3, "every event has its own id")
}

// What the publisher sends is what the consumer reads back, once Event Grid has
// written it to a storage queue (one event per message, base64).
func TestAPublishedCloudEventDecodesToItsKeyAndWork(t *testing.T) {
	srv, reqs := topic(t, func(int) int { return http.StatusOK })
	g := NewEventGrid(srv.URL+"/api/events", &fakeCredential{}, "edw.producer", "edw.work", EventGridOptions{Transport: srv.Client()})
	require.NoError(t, g.Send(context.Background(), bodies(t, 1)))
	event, err := json.Marshal((*reqs)[0].events[0])
	require.NoError(t, err)
	w, err := message.Decode([]byte(base64.StdEncoding.EncodeToString(event)), "queue-id", "orders")
	require.NoError(t, err)
	assert.Equal(t, "orders:key-00", w.ID)
	assert.Equal(t, "work 0", w.Msg)
	assert.Equal(t, "edw.work", w.Type)
	assert.Equal(t, message.CloudEvent, w.Envelope)
}

// A refused batch (throttled, 5xx) is published again with the same keys and
// new event ids; a 4xx about the request itself is not retried.
func TestEventGridRetriesWithNewIDsAndTheSameKeys(t *testing.T) {
	srv, reqs := topic(t, func(n int) int {
		if n == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	g := NewEventGrid(srv.URL+"/api/events", &fakeCredential{}, "s", "t", EventGridOptions{Transport: srv.Client()})
	require.NoError(t, g.Send(context.Background(), bodies(t, 2)))
	require.Len(t, *reqs, 2)
	for i := range 2 {
		first, second := (*reqs)[0].events[i], (*reqs)[1].events[i]
		assert.Equal(t, str(t, first["idempotencykey"]), str(t, second["idempotencykey"]), "same key")
		assert.NotEqual(t, str(t, first["id"]), str(t, second["id"]), "new event id")
	}

	bad, badReqs := topic(t, func(int) int { return http.StatusBadRequest })
	g = NewEventGrid(bad.URL+"/api/events", &fakeCredential{}, "s", "t", EventGridOptions{Transport: bad.Client()})
	err := g.Send(context.Background(), bodies(t, 2))
	var partial *PartialError
	require.ErrorAs(t, err, &partial)
	assert.Equal(t, 0, partial.Delivered())
	assert.Contains(t, err.Error(), "400")
	assert.Len(t, *badReqs, 1, "a 400 is not retried")
}

// Bodies larger than a request splits into several requests of at most 1 MB.
func TestEventGridSplitsRequestsAtOneMegabyte(t *testing.T) {
	srv, reqs := topic(t, func(int) int { return http.StatusOK })
	g := NewEventGrid(srv.URL+"/api/events", &fakeCredential{}, "s", "t", EventGridOptions{Transport: srv.Client()})
	var in [][]byte
	for i := range 10 {
		raw, err := message.Encode(message.Body{ID: fmt.Sprintf("big-%d", i), Msg: strings.Repeat("x", 200_000), SrcStamp: time.Now()})
		require.NoError(t, err)
		in = append(in, raw)
	}
	require.NoError(t, g.Send(context.Background(), in))
	total := 0
	for _, r := range *reqs {
		assert.LessOrEqual(t, len(r.raw), 1_000_000)
		total += len(r.events)
	}
	assert.Equal(t, 10, total)
	assert.Greater(t, len(*reqs), 2)
}

// putEvents is a bus that answers each call with the codes given for it, entry
// by entry ("" accepted), and records what it was sent.
type putEvents struct {
	answers [][]string
	calls   [][]types.PutEventsRequestEntry
}

func (p *putEvents) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	p.calls = append(p.calls, in.Entries)
	out := &eventbridge.PutEventsOutput{}
	var codes []string
	if n := len(p.calls) - 1; n < len(p.answers) {
		codes = p.answers[n]
	}
	for i := range in.Entries {
		r := types.PutEventsResultEntry{EventId: aws.String(fmt.Sprintf("ev-%d-%d", len(p.calls), i))}
		if i < len(codes) && codes[i] != "" {
			r = types.PutEventsResultEntry{ErrorCode: aws.String(codes[i]), ErrorMessage: aws.String("as the test says")}
			out.FailedEntryCount++
		}
		out.Entries = append(out.Entries, r)
	}
	return out, nil
}

func TestEventBridgeBatchesOfTenCarryTheKeyInTheDetail(t *testing.T) {
	api := &putEvents{}
	e := NewEventBridge(api, "edw-bus", "edw.producer", "edw.work")
	assert.Equal(t, 10, e.MaxBatch())
	in := bodies(t, 25)
	require.NoError(t, e.Send(context.Background(), in))
	require.Len(t, api.calls, 3)
	assert.Equal(t, []int{10, 10, 5}, []int{len(api.calls[0]), len(api.calls[1]), len(api.calls[2])})
	first := api.calls[0][0]
	assert.Equal(t, "edw-bus", aws.ToString(first.EventBusName))
	assert.Equal(t, "edw.producer", aws.ToString(first.Source))
	assert.Equal(t, "edw.work", aws.ToString(first.DetailType))
	assert.JSONEq(t, `{"metadata":{"idempotency-key":"key-00"},"data":`+string(in[0])+`}`, aws.ToString(first.Detail))
}

// A call can succeed with some entries failed: the retryable ones are sent
// again (same detail, so the same key), the others are reported; the producer
// counts what was accepted.
func TestEventBridgeRetriesFailedEntriesOnly(t *testing.T) {
	api := &putEvents{answers: [][]string{
		{"", "", "ThrottlingException", "", "MalformedDetail", "", "", "", "", "InternalFailure"},
		{"InternalFailure", ""},
		{""},
	}}
	e := NewEventBridge(api, "edw-bus", "s", "t")
	in := bodies(t, 10)
	err := e.Send(context.Background(), in)
	var partial *PartialError
	require.ErrorAs(t, err, &partial)
	assert.Equal(t, 9, partial.Delivered(), "all but the malformed one")
	assert.Equal(t, 10, partial.Total)
	assert.Contains(t, err.Error(), "MalformedDetail")
	require.Len(t, api.calls, 3)
	assert.Equal(t, []*string{api.calls[0][2].Detail, api.calls[0][9].Detail}, []*string{api.calls[1][0].Detail, api.calls[1][1].Detail},
		"the second call carries the two retryable entries, unchanged")
	assert.Equal(t, api.calls[0][2].Detail, api.calls[2][0].Detail, "and the third the one still throttled")

	// An entry that keeps failing is given up after the attempts, and said so.
	stuck := &putEvents{answers: [][]string{{"InternalFailure"}, {"InternalFailure"}, {"InternalFailure"}, {"InternalFailure"}}}
	err = NewEventBridge(stuck, "b", "s", "t").Send(context.Background(), bodies(t, 1))
	require.ErrorAs(t, err, &partial)
	assert.Equal(t, 0, partial.Delivered())
	assert.ErrorContains(t, err, "1 events still failing after 4 attempts")
	assert.Len(t, stuck.calls, 4)
}

func TestEnvNamesWhatIsMissing(t *testing.T) {
	env := func(kv ...string) Env {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return FromEnv(func(k string) string { return m[k] })
	}
	assert.ErrorContains(t, env("EDW_CLOUD", "aws").Validate(), "EDW_EVENT_BUS_NAME is required")
	assert.NoError(t, env("EDW_CLOUD", "aws", "EDW_EVENT_BUS_NAME", "edw").Validate())
	assert.ErrorContains(t, env("EDW_CLOUD", "azure").Validate(), "EDW_EVENTGRID_ENDPOINT is required")
	assert.ErrorContains(t, env("EDW_CLOUD", "azure", "EDW_EVENTGRID_ENDPOINT", "http://t.westeurope-1.eventgrid.azure.net/api/events").Validate(),
		"want the topic's https endpoint")
	assert.NoError(t, env("EDW_CLOUD", "azure", "EDW_EVENTGRID_ENDPOINT", "https://t.westeurope-1.eventgrid.azure.net/api/events").Validate())
	assert.ErrorContains(t, env().Validate(), `EDW_CLOUD=""`)
	assert.True(t, errors.Is(&PartialError{First: context.Canceled}, context.Canceled))
}

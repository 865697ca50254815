package message

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func example(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "events", name))
	require.NoError(t, err)
	return raw
}

func b64(raw []byte) []byte { return []byte(base64.StdEncoding.EncodeToString(raw)) }

// The documented example events (testdata/events/README.md names their pages)
// carry no idempotency key and none of edw's fields: each is keyed by its event
// id, recorded as its data and stamped with its own time. Event Grid's arrive
// base64-encoded, as Event Grid writes them to a storage queue.
func TestDocumentedExampleEventsAreRecognised(t *testing.T) {
	cases := []struct {
		file                    string
		encode                  bool
		envelope                Envelope
		key, source, typ, stamp string
		msgHas                  string
	}{
		{"eventgrid-blob-created.json", true, EventGrid, "831e1650-001e-001b-66ab-eeb76e069631",
			"/subscriptions/{subscription-id}/resourceGroups/Storage/providers/Microsoft.Storage/storageAccounts/xstoretestaccount",
			"Microsoft.Storage.BlobCreated", "2017-06-26 18:41:00.958410", `"api":"PutBlockList"`},
		{"eventgrid-custom-topic.json", true, EventGrid, "b68529f3-68cd-4744-baa4-3c0498ec19e2",
			"/subscriptions/{subscription-id}/resourceGroups/Storage/providers/Microsoft.EventGrid/topics/myeventgridtopic",
			"recordInserted", "2017-06-26 18:41:00.958410", `{"make":"Ducati","model":"Monster"}`},
		{"cloudevent-blob-created.json", true, CloudEvent, "9aeb0fdf-c01e-0131-0922-9eb54906e209",
			"/subscriptions/{subscription-id}/resourceGroups/{resource-group}/providers/Microsoft.Storage/storageAccounts/{storage-account}",
			"Microsoft.Storage.BlobCreated", "2019-11-18 15:13:39.458925", `"contentType":"image/png"`},
		{"eventbridge-ec2-state-change.json", false, EventBridge, "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
			"aws.ec2", "EC2 Instance State-change Notification", "2017-12-22 18:43:48.000000", `{"instance-id":"i-1234567890abcdef0","state":"terminated"}`},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			raw := example(t, c.file)
			if c.encode {
				raw = b64(raw)
			}
			w, err := Decode(raw, "queue-id", "orders")
			require.NoError(t, err)
			assert.Equal(t, c.envelope, w.Envelope)
			assert.Equal(t, c.encode, w.Base64)
			assert.Equal(t, c.key, w.Key)
			assert.Equal(t, "orders:"+c.key, w.ID)
			assert.Equal(t, "orders", w.Route)
			assert.Equal(t, c.source, w.Source)
			assert.Equal(t, c.typ, w.Type)
			assert.Equal(t, c.stamp, w.SrcStamp.Format(StampLayout))
			assert.Contains(t, w.Msg, c.msgHas)
		})
	}
}

// edwDetail is the detail our producer publishes.
func edwDetail(key, msg, stamp string) string {
	return `{"metadata":{"idempotency-key":"` + key + `"},"data":{"id":"` + key + `","msg":"` + msg + `","srcStamp":"` + stamp + `"}}`
}

// eventBridgeEvent is what EventBridge puts on an SQS target for one PutEvents entry.
func eventBridgeEvent(id, typ, detail string) string {
	return `{"version":"0","id":"` + id + `","detail-type":"` + typ + `","source":"edw.producer","account":"123456789012",` +
		`"time":"2026-12-02T10:00:00Z","region":"us-east-1","resources":[],"detail":` + detail + `}`
}

// A publisher retry is a second event (new event id) with the same key: both
// decode to the same id and content, so the store keeps one row.
func TestAPublisherRetryDecodesToTheSameResult(t *testing.T) {
	detail := edwDetail("k-1", "work 1", "2026-12-02 09:59:59.123456")
	first, err := Decode([]byte(eventBridgeEvent("ev-1", "edw.a", detail)), "q1", "a")
	require.NoError(t, err)
	retry, err := Decode([]byte(eventBridgeEvent("ev-2", "edw.a", detail)), "q2", "a")
	require.NoError(t, err)
	assert.Equal(t, "a:k-1", first.ID)
	assert.Equal(t, first.Body, retry.Body)
	assert.Equal(t, "work 1", first.Msg)
	assert.Equal(t, time.Date(2026, 12, 2, 9, 59, 59, 123456000, time.UTC), first.SrcStamp, "srcStamp from detail.data, not the event's time")
	assert.Equal(t, "edw.producer", first.Source)
	assert.Equal(t, "edw.a", first.Type)

	// The same event fanned out to two routes: one row per route.
	other, err := Decode([]byte(eventBridgeEvent("ev-1", "edw.a", detail)), "q3", "b")
	require.NoError(t, err)
	assert.Equal(t, "b:k-1", other.ID)
	assert.Equal(t, first.Key, other.Key)

	// Without a key the event id is the key: a retry is then a second result.
	noKey, err := Decode([]byte(eventBridgeEvent("ev-3", "edw.a", `{"orderId":"o-1"}`)), "q4", "")
	require.NoError(t, err)
	assert.Equal(t, "ev-3", noKey.ID)
	assert.Equal(t, `{"orderId":"o-1"}`, noKey.Msg)
}

// cloudEvent is one event as our producer publishes it to Event Grid and Event
// Grid writes it to a storage queue (base64).
func cloudEvent(id, ext, detail string) []byte {
	e := `{"specversion":"1.0","id":"` + id + `","source":"edw.producer","type":"edw.work","time":"2026-12-02T10:00:00Z",` +
		`"datacontenttype":"application/json",`
	if ext != "" {
		e += `"idempotencykey":"` + ext + `",`
	}
	return b64([]byte(e + `"data":` + detail + `}`))
}

func TestCloudEventKeyFromTheExtensionOrTheData(t *testing.T) {
	detail := edwDetail("k-9", "m", "2026-12-02 09:00:00.000000")
	w, err := Decode(cloudEvent("e1", "k-9", detail), "q", "")
	require.NoError(t, err)
	assert.Equal(t, "k-9", w.ID)
	assert.Equal(t, CloudEvent, w.Envelope)
	assert.Equal(t, "edw.work", w.Type)

	w, err = Decode(cloudEvent("e2", "k-ext", `{"orderId":1}`), "q", "")
	require.NoError(t, err)
	assert.Equal(t, "k-ext", w.ID, "the extension alone is enough")

	_, err = Decode(cloudEvent("e3", "k-other", detail), "q", "")
	require.ErrorIs(t, err, ErrInvalid)
	assert.ErrorContains(t, err, `"idempotencykey" "k-other" and "data.metadata.idempotency-key" "k-9" differ`)
}

func TestDirectBodiesKeepWorking(t *testing.T) {
	body := `{"id":"6f1c","msg":"x","srcStamp":"2026-11-23 05:00:01.000000"}`
	w, err := Decode([]byte(body), "qid", "")
	require.NoError(t, err)
	assert.Equal(t, Direct, w.Envelope)
	assert.Equal(t, "6f1c", w.ID)
	assert.Empty(t, w.Source+w.Type)
	want, err := Parse([]byte(body), "qid")
	require.NoError(t, err)
	assert.Equal(t, want, w.Body)

	w, err = Decode([]byte(`{"msg":"x","srcStamp":"2026-11-23 05:00:01.000000"}`), "qid", "r")
	require.NoError(t, err)
	assert.Equal(t, "r:qid", w.ID, "the route prefixes the queue's id too")
	assert.Equal(t, "r", w.Route)

	w, err = Decode(b64([]byte(body)), "qid", "")
	require.NoError(t, err)
	assert.True(t, w.Base64)
	assert.Equal(t, "6f1c", w.ID, "a base64 direct body (a tool that encodes by default) is read too")

	_, err = Decode([]byte(`{"id":"a/b","msg":"x","srcStamp":"2026-11-23 05:00:01.000000"}`), "q", "")
	assert.ErrorContains(t, err, `"id" "a/b" contains '/'`, "direct reasons are unchanged")
}

// Every malformed envelope is invalid (dead-lettered at once) and the reason
// names the JSON field, by its path from the top of the event.
func TestMalformedEnvelopesNameTheField(t *testing.T) {
	stamp := "2026-12-02 09:00:00.000000"
	cases := map[string]struct {
		raw   string
		route string
		want  []string
	}{
		"detail not an object": {eventBridgeEvent("e", "t", `"text"`), "", []string{`"detail" must be an object, not a string`}},
		"key not a string": {eventBridgeEvent("e", "t", `{"metadata":{"idempotency-key":5},"data":{"msg":"m","srcStamp":"`+stamp+`"}}`), "",
			[]string{`"detail.metadata.idempotency-key" must be a string, not a number`}},
		"key missing": {eventBridgeEvent("e", "t", `{"metadata":{},"data":{"msg":"m","srcStamp":"`+stamp+`"}}`), "",
			[]string{`missing "detail.metadata.idempotency-key"`}},
		"metadata not an object": {eventBridgeEvent("e", "t", `{"metadata":[],"data":{}}`), "",
			[]string{`"detail.metadata" must be an object, not an array`}},
		"key with a slash": {eventBridgeEvent("e", "t", edwDetail("a/b", "m", stamp)), "",
			[]string{`"detail.metadata.idempotency-key" "a/b" contains '/'`}},
		"work missing": {eventBridgeEvent("e", "t", `{"metadata":{"idempotency-key":"k"}}`), "",
			[]string{`"detail.data" is missing`}},
		"bad stamp in the work": {eventBridgeEvent("e", "t", edwDetail("k", "m", "yesterday")), "",
			[]string{`"detail.data.srcStamp" "yesterday" is not UTC time`}},
		"no detail-type value": {strings.Replace(eventBridgeEvent("e", "t", `{}`), `"detail-type":"t"`, `"detail-type":null`, 1), "",
			[]string{`missing "detail-type"`}},
		"event grid without eventTime": {`{"id":"e","topic":"/t","subject":"s","eventType":"x","data":{}}`, "",
			[]string{"eventgrid event", `missing "eventTime"`}},
		"event grid bad time": {`{"id":"e","topic":"/t","eventType":"x","eventTime":"June","data":{}}`, "",
			[]string{`"eventTime" "June" is not an RFC 3339 time`}},
		"cloudevent version": {`{"specversion":"0.3","id":"e","source":"s","type":"t","time":"2026-12-02T10:00:00Z"}`, "",
			[]string{`"specversion" "0.3": want "1.0"`}},
		"cloudevent without type or time": {`{"specversion":"1.0","id":"e","source":"s","data":{}}`, "",
			[]string{`missing "type"`, `missing "time"`}},
		"empty id": {`{"specversion":"1.0","id":"","source":"s","type":"t","time":"2026-12-02T10:00:00Z"}`, "",
			[]string{`"id" is empty`}},
		"route makes the id too long": {eventBridgeEvent("e", "t", edwDetail(strings.Repeat("k", 121), "m", stamp)), "route-a",
			[]string{`"detail.metadata.idempotency-key"`, `129 bytes with route "route-a"; want at most 128`}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Decode([]byte(c.raw), "q", c.route)
			require.ErrorIs(t, err, ErrInvalid)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// Our producer's detail survives the trip: what the publisher marshals is what
// the consumer decodes, for both routers' shapes.
func TestDecodeReadsWhatThePublisherWrites(t *testing.T) {
	detail, err := json.Marshal(map[string]any{
		"metadata": map[string]string{MetadataKey: "k-7"},
		"data":     json.RawMessage(`{"id":"k-7","msg":"edw work item 7","srcStamp":"2026-12-02 09:00:00.000001"}`),
	})
	require.NoError(t, err)
	w, err := Decode([]byte(eventBridgeEvent("e", "edw.work", string(detail))), "q", "")
	require.NoError(t, err)
	assert.Equal(t, "k-7", w.ID)
	assert.Equal(t, "edw work item 7", w.Msg)
}

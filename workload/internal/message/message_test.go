package message

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseReferenceBodyTakesTheQueueID(t *testing.T) {
	b, err := Parse([]byte(`{"msg":"hello","srcStamp":"2026-11-23 05:00:01.123456"}`), "queue-id-1")
	require.NoError(t, err)
	assert.Equal(t, "queue-id-1", b.ID)
	assert.Equal(t, "hello", b.Msg)
	assert.Equal(t, time.Date(2026, 11, 23, 5, 0, 1, 123456000, time.UTC), b.SrcStamp)
}

func TestParseOwnIDWins(t *testing.T) {
	b, err := Parse([]byte(`{"id":"6f1c","msg":"x","srcStamp":"2026-11-23 05:00:01.000000"}`), "queue-id")
	require.NoError(t, err)
	assert.Equal(t, "6f1c", b.ID)
}

func TestEncodeRoundTrips(t *testing.T) {
	in := Body{ID: "a-1", Msg: "m", SrcStamp: time.Date(2026, 1, 2, 3, 4, 5, 600000, time.UTC)}
	raw, err := Encode(in)
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"a-1","msg":"m","srcStamp":"2026-01-02 03:04:05.000600"}`, string(raw))
	out, err := Parse(raw, "")
	require.NoError(t, err)
	assert.Equal(t, in, out)
}

func TestParseRejectsBadBodies(t *testing.T) {
	cases := map[string]string{
		"not json":       `hello`,
		"array":          `["msg"]`,
		"missing msg":    `{"srcStamp":"2026-11-23 05:00:01.000000"}`,
		"missing stamp":  `{"msg":"x"}`,
		"msg not string": `{"msg":5,"srcStamp":"2026-11-23 05:00:01.000000"}`,
		"bad stamp":      `{"msg":"x","srcStamp":"yesterday"}`,
		"iso stamp":      `{"msg":"x","srcStamp":"2026-11-23T05:00:01Z"}`,
		"bad id":         `{"id":"a/b","msg":"x","srcStamp":"2026-11-23 05:00:01.000000"}`,
		"empty id":       `{"id":"","msg":"x","srcStamp":"2026-11-23 05:00:01.000000"}`,
		"trailing":       `{"msg":"x","srcStamp":"2026-11-23 05:00:01.000000"} {}`,
		"oversize":       `{"msg":"` + strings.Repeat("x", MaxBodyBytes) + `","srcStamp":"2026-11-23 05:00:01.000000"}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(body), "qid")
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrInvalid), "%v", err)
		})
	}
	_, err := Parse([]byte(`{"msg":"x","srcStamp":"2026-11-23 05:00:01.000000"}`), "")
	assert.ErrorIs(t, err, ErrInvalid, "no id anywhere")
}

// FuzzParseNeverPanics: whatever the body, Parse either accepts it with a key, or
// rejects it as ErrInvalid; what it accepts survives Encode and Parse again
// unchanged. The seeds reach every branch of Parse, so the plain `go test` run
// (seeds only) covers them all and scripts/test-workload.sh adds a short bounded
// -fuzz run from there.
func FuzzParseNeverPanics(f *testing.F) {
	const stamp = `"srcStamp":"2026-11-23 05:00:01.000000"`
	seeds := []struct {
		body, qid string
	}{
		{`{"msg":"x",` + stamp + `}`, "q"},                                                   // reference body, queue id
		{`{"id":"6f1c","msg":"x",` + stamp + `}`, "q"},                                       // own id
		{`{"id":null,"msg":"x",` + stamp + `}`, "q"},                                         // null id: the queue's
		{`{"id":null}`, ""},                                                                  // nothing usable
		{`{}`, ""},                                                                           // every field missing
		{`{"msg":"x",` + stamp + `}`, ""},                                                    // no id anywhere
		{`{"msg":null,"srcStamp":null}`, "q"},                                                // null fields
		{`{"msg":5,"srcStamp":true,"id":[1]}`, "q"},                                          // wrong types
		{`{"msg":"x","srcStamp":"yesterday"}`, "q"},                                          // bad stamp
		{`{"id":"","msg":"x",` + stamp + `}`, "q"},                                           // empty id
		{`{"id":"a/b","msg":"x",` + stamp + `}`, "q"},                                        // forbidden character
		{`{"id":"ab","msg":"x",` + stamp + `}`, "q"},                                        // C1 control character
		{`{"id":"` + strings.Repeat("i", MaxIDLength+1) + `","msg":"x",` + stamp + `}`, "q"}, // too long
		{`{"msg":"x",` + stamp + `} {}`, "q"},                                                // trailing data
		{`{"msg":"x",` + stamp + `}  ` + "\n", "q"},                                          // trailing space only
		{`not json`, "q"},                                                                    // syntax error
		{`null`, "q"}, {``, "q"}, {`   `, "q"}, {`"s"`, "q"}, {`5`, "q"}, {`[1]`, "q"}, {`true`, "q"}, {`{"a":1`, "q"},
		{`{"msg":"` + strings.Repeat("x", MaxBodyBytes) + `",` + stamp + `}`, "q"}, // oversize
	}
	// Router envelopes (envelope.go): each schema, its key paths and its
	// malformed forms, plain and base64 as Event Grid writes them.
	detail := `{"metadata":{"idempotency-key":"k"},"data":{"msg":"x",` + stamp + `}}`
	for _, e := range []string{
		`{"id":"e","source":"s","detail-type":"t","time":"2026-12-02T10:00:00Z","detail":` + detail + `}`,
		`{"id":"e","source":"s","detail-type":"t","time":"2026-12-02T10:00:00Z","detail":{"a":1}}`,
		`{"id":"e","source":"s","detail-type":"t","detail":"x"}`,
		`{"id":"e","source":"s","detail-type":"t","time":"x","detail":{"metadata":5}}`,
		`{"id":"e","source":"s","detail-type":"t","time":"2026-12-02T10:00:00Z","detail":{"metadata":{"idempotency-key":""},"data":[]}}`,
		`{"id":"e","topic":"/t","eventType":"t","eventTime":"2017-06-26T18:41:00.9584103Z","data":{"make":"Ducati"}}`,
		`{"id":"e","topic":"/t","eventType":"t","data":null}`,
		`{"specversion":"1.0","id":"e","source":"s","type":"t","idempotencykey":"k","data":` + detail + `}`,
		`{"specversion":"1.0","id":"e","source":"s","type":"t","idempotencykey":"j","data":` + detail + `}`,
		`{"specversion":"1.0","id":"e","source":"s","type":"t","idempotencykey":7,"data_base64":"AA=="}`,
		`{"specversion":"0.3","id":"e","source":"s","type":"t","time":"2026-12-02T10:00:00Z","data":"text"}`,
	} {
		seeds = append(seeds, struct{ body, qid string }{e, "q"},
			struct{ body, qid string }{base64.StdEncoding.EncodeToString([]byte(e)), "q"})
	}
	for _, s := range seeds {
		f.Add([]byte(s.body), s.qid)
	}
	f.Fuzz(func(t *testing.T, raw []byte, qid string) {
		// Decode: accepted with a key (the route prefixed), or invalid.
		for _, route := range []string{"", "r"} {
			w, err := Decode(raw, qid, route)
			if err != nil {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("decode error is not ErrInvalid: %v", err)
				}
				continue
			}
			want := w.Key
			if route != "" {
				want = route + ":" + w.Key
			}
			if w.Key == "" || w.ID != want || (w.Key != qid && len(w.ID) > MaxIDLength) {
				t.Fatalf("decoded %q (route %q) to key %q, id %q", raw, route, w.Key, w.ID)
			}
			if w.Envelope == Direct && (w.Source != "" || w.Type != "") {
				t.Fatalf("a direct body has a source or type: %+v", w)
			}
		}
		b, err := Parse(raw, qid)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error is not ErrInvalid: %v", err)
			}
			if b != (Body{}) {
				t.Fatalf("rejected body came back non-empty: %+v", b)
			}
			return
		}
		if b.ID == "" {
			t.Fatalf("accepted a body without a key: %q", raw)
		}
		enc, err := Encode(b)
		if err != nil {
			t.Fatalf("encode %+v: %v", b, err)
		}
		again, err := Parse(enc, "")
		if b.ID == qid {
			// The queue's own id is taken as it is, unchecked: the body's rules
			// (and JSON's UTF-8) need not hold for it.
			if err == nil {
				again.ID = b.ID
			} else if !strings.Contains(err.Error(), `"id"`) {
				t.Fatalf("accepted %q, but not its own encoding %q: %v", raw, enc, err)
			}
		}
		if err == nil && again != b {
			t.Fatalf("round trip changed %+v into %+v", b, again)
		}
		if err != nil && b.ID != qid {
			t.Fatalf("accepted %q, but not its own encoding %q: %v", raw, enc, err)
		}
	})
}

// The limits are inclusive: the largest body, the longest id and the edges of
// the forbidden character ranges are each on the side the rule says.
func TestParseLimitsAreExact(t *testing.T) {
	const stamp = `"srcStamp":"2026-11-23 05:00:01.000000"`
	prefix, suffix := `{"msg":"`, `",`+stamp+`}`
	largest := prefix + strings.Repeat("x", MaxBodyBytes-len(prefix)-len(suffix)) + suffix
	require.Len(t, largest, MaxBodyBytes)
	_, err := Parse([]byte(largest), "q")
	assert.NoError(t, err, "a body of exactly MaxBodyBytes is accepted")
	assert.Equal(t, 256*1024, MaxBodyBytes, "SQS's limit")
	_, err = Parse([]byte(largest+" "), "q")
	assert.ErrorIs(t, err, ErrInvalid, "one byte more is not")

	withID := func(id string) error {
		raw, err := json.Marshal(map[string]string{"id": id, "msg": "x", "srcStamp": "2026-11-23 05:00:01.000000"})
		require.NoError(t, err)
		_, err = Parse(raw, "q")
		return err
	}
	assert.Equal(t, 128, MaxIDLength)
	assert.NoError(t, withID(strings.Repeat("i", MaxIDLength)), "an id of exactly MaxIDLength bytes")
	assert.ErrorIs(t, withID(strings.Repeat("i", MaxIDLength+1)), ErrInvalid)
	for _, ok := range []string{"a b", "a~b", "a\u00a0b", "é"} {
		assert.NoError(t, withID(ok), "%q is allowed", ok)
	}
	for _, bad := range []string{"a\x1fb", "a\x7fb", "a\u0080b", "a\u009fb", "a#b", "a?b", `a\b`} {
		assert.ErrorIs(t, withID(bad), ErrInvalid, "%q is not allowed", bad)
	}
}

// Each JSON type is named as a JSON writer would name it, in a field's reason
// and for a body that is not an object.
func TestReasonsNameJSONTypes(t *testing.T) {
	for value, kind := range map[string]string{
		`5`: "a number", `-1.5`: "a number", `true`: "a boolean", `false`: "a boolean",
		`[]`: "an array", `{}`: "an object", `"s"`: "a string",
	} {
		if kind != "a string" {
			_, err := Parse([]byte(`{"msg":`+value+`,"srcStamp":"2026-11-23 05:00:01.000000"}`), "q")
			assert.ErrorContains(t, err, `"msg" must be a string, not `+kind, value)
		}
		if kind != "an object" {
			_, err := Parse([]byte(" "+value+" "), "q")
			assert.ErrorContains(t, err, "not a JSON object (it is "+kind+")", value)
		}
	}
	_, err := Parse([]byte(`null`), "q")
	assert.ErrorContains(t, err, "(it is null)")
	_, err = Parse([]byte("  "), "q")
	assert.ErrorContains(t, err, "not a JSON object")
	assert.Equal(t, "empty", jsonKind(json.RawMessage(" ")))
	assert.Equal(t, "null", jsonKind(json.RawMessage("null")))
}

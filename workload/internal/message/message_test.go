package message

import (
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

func FuzzParseNeverPanics(f *testing.F) {
	f.Add([]byte(`{"msg":"x","srcStamp":"2026-11-23 05:00:01.000000"}`), "q")
	f.Add([]byte(`{"id":null}`), "")
	f.Fuzz(func(t *testing.T, raw []byte, qid string) {
		b, err := Parse(raw, qid)
		if err == nil && b.ID == "" {
			t.Fatalf("accepted a body without a key: %q", raw)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("error is not ErrInvalid: %v", err)
		}
	})
}

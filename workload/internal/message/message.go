// Package message is the one place that says what a good work message is: the
// body the reference producers send ({"msg", "srcStamp"}) plus edw's "id".
package message

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// StampLayout is srcStamp's format, always UTC.
const StampLayout = "2006-01-02 15:04:05.000000"

// MaxBodyBytes is the largest body accepted: SQS's limit, and larger than Azure's.
const MaxBodyBytes = 256 * 1024

// ErrInvalid marks a body that will never be processable, however often it is
// retried; the worker dead-letters it at once.
var ErrInvalid = errors.New("invalid message")

// Body is a work message.
type Body struct {
	ID       string    `json:"id,omitempty"`
	Msg      string    `json:"msg"`
	SrcStamp time.Time `json:"-"`
}

type wire struct {
	ID       *string `json:"id"`
	Msg      *string `json:"msg"`
	SrcStamp *string `json:"srcStamp"`
}

// Parse validates a body. queueID is the queue's own message id, used as the key
// when the body has no id (reference producers do not send one); it is stable
// across redeliveries, so results stay idempotent.
func Parse(raw []byte, queueID string) (Body, error) {
	if len(raw) > MaxBodyBytes {
		return Body{}, fmt.Errorf("%w: body is %d bytes, more than %d", ErrInvalid, len(raw), MaxBodyBytes)
	}
	var w wire
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&w); err != nil {
		return Body{}, fmt.Errorf("%w: not a JSON object: %v", ErrInvalid, err)
	}
	if dec.More() {
		return Body{}, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalid)
	}
	if w.Msg == nil {
		return Body{}, fmt.Errorf("%w: missing \"msg\"", ErrInvalid)
	}
	if w.SrcStamp == nil {
		return Body{}, fmt.Errorf("%w: missing \"srcStamp\"", ErrInvalid)
	}
	stamp, err := time.ParseInLocation(StampLayout, *w.SrcStamp, time.UTC)
	if err != nil {
		return Body{}, fmt.Errorf("%w: srcStamp %q is not %q", ErrInvalid, *w.SrcStamp, StampLayout)
	}
	b := Body{Msg: *w.Msg, SrcStamp: stamp}
	switch {
	case w.ID != nil && validID(*w.ID):
		b.ID = *w.ID
	case w.ID != nil:
		return Body{}, fmt.Errorf("%w: id %q must be 1-128 printable characters", ErrInvalid, *w.ID)
	case queueID != "":
		b.ID = queueID
	default:
		return Body{}, fmt.Errorf("%w: no id in the body and none from the queue", ErrInvalid)
	}
	return b, nil
}

// validID keeps ids usable as DynamoDB keys and Azure RowKeys (which forbid / \ # ?
// and control characters).
func validID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f || r == '/' || r == '\\' || r == '#' || r == '?' {
			return false
		}
	}
	return true
}

// Encode renders a body as the producer sends it.
func Encode(b Body) ([]byte, error) {
	return json.Marshal(struct {
		ID       string `json:"id"`
		Msg      string `json:"msg"`
		SrcStamp string `json:"srcStamp"`
	}{b.ID, b.Msg, b.SrcStamp.UTC().Format(StampLayout)})
}

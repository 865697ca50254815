// Package message is the one place that says what a good work message is: the
// body the reference producers send ({"msg", "srcStamp"}) plus edw's "id".
package message

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// StampLayout is srcStamp's format, always UTC.
const StampLayout = "2006-01-02 15:04:05.000000"

// MaxBodyBytes is the largest body accepted: SQS's limit, and larger than Azure's.
const MaxBodyBytes = 256 * 1024

// MaxIDLength is the longest id: it must fit a DynamoDB key and an Azure RowKey.
const MaxIDLength = 128

// MaxClockSkew is how far srcStamp may lie ahead of the consumer's clock and still
// be taken for clock skew between producer and consumer hosts: the result is
// stored with messageProcessingTime 0 and counted. Further ahead, the stamp is
// not a clock at all, and no processing time computed from it would mean anything.
const MaxClockSkew = 5 * time.Minute

// ErrInvalid marks a body that will never be processable, however often it is
// retried; the worker dead-letters it at once.
var ErrInvalid = errors.New("invalid message")

// Body is a work message.
type Body struct {
	ID       string    `json:"id,omitempty"`
	Msg      string    `json:"msg"`
	SrcStamp time.Time `json:"-"`
}

// Parse validates a body and names every problem it finds, in the body's own
// JSON field names. queueID is the queue's own message id, used as the key when
// the body has no id (reference producers do not send one); it is stable across
// redeliveries, so results stay idempotent.
func Parse(raw []byte, queueID string) (Body, error) {
	if len(raw) > MaxBodyBytes {
		return Body{}, fmt.Errorf("%w: body is %d bytes, more than %d", ErrInvalid, len(raw), MaxBodyBytes)
	}
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&fields); err != nil || fields == nil {
		return Body{}, fmt.Errorf("%w: body is not a JSON object %s", ErrInvalid, describeNonObject(raw, err))
	}
	if rest := bytes.TrimSpace(raw[dec.InputOffset():]); len(rest) > 0 {
		return Body{}, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalid)
	}

	var (
		b        Body
		problems []string
	)
	if msg, problem := stringField(fields, "msg"); problem != "" {
		problems = append(problems, problem)
	} else {
		b.Msg = msg
	}
	if stamp, problem := stringField(fields, "srcStamp"); problem != "" {
		problems = append(problems, problem)
	} else if t, err := time.ParseInLocation(StampLayout, stamp, time.UTC); err != nil {
		problems = append(problems, fmt.Sprintf(`"srcStamp" %q is not UTC time as YYYY-MM-DD HH:MM:SS.ffffff`, stamp))
	} else {
		b.SrcStamp = t
	}
	if _, present := fields["id"]; present && string(fields["id"]) != "null" {
		id, problem := stringField(fields, "id")
		if problem == "" {
			problem = idProblem(id)
		}
		if problem != "" {
			problems = append(problems, problem)
		}
		b.ID = id
	} else if queueID != "" {
		b.ID = queueID
	} else {
		problems = append(problems, `no "id" in the body and none from the queue`)
	}
	if len(problems) > 0 {
		return Body{}, fmt.Errorf("%w: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	return b, nil
}

// stringField reads a required string field, or says what is wrong with it.
func stringField(fields map[string]json.RawMessage, name string) (string, string) {
	raw, ok := fields[name]
	if !ok || string(raw) == "null" {
		return "", fmt.Sprintf("missing %q", name)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Sprintf("%q must be a string, not %s", name, jsonKind(raw))
	}
	return s, ""
}

// idProblem keeps ids usable as DynamoDB keys and Azure RowKeys, which forbid
// / \ # ? and control characters.
func idProblem(id string) string {
	const allowed = `1 to 128 bytes, any characters but / \ # ? and control characters`
	if id == "" || len(id) > MaxIDLength {
		return fmt.Sprintf(`"id" is %d bytes; want %s`, len(id), allowed)
	}
	for _, r := range id {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == '/' || r == '\\' || r == '#' || r == '?' {
			return fmt.Sprintf(`"id" %q contains %q; want %s`, id, r, allowed)
		}
	}
	return ""
}

func describeNonObject(raw []byte, err error) string {
	if err == nil {
		return "(it is null)"
	}
	// A decoder reports a body cut short as io.ErrUnexpectedEOF, not as a
	// syntax error; it is still not "an object", however it starts.
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "(invalid JSON: it ends before the value is complete)"
	}
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return fmt.Sprintf("(invalid JSON at byte %d: %s)", syntax.Offset, syntax.Error())
	}
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return "(it is empty)"
	}
	return fmt.Sprintf("(it is %s)", jsonKind(trimmed))
}

// jsonKind names a JSON value's type as a user writing JSON would.
func jsonKind(raw json.RawMessage) string {
	switch c := bytes.TrimSpace(raw); {
	case len(c) == 0:
		return "empty"
	case c[0] == '"':
		return "a string"
	case c[0] == '{':
		return "an object"
	case c[0] == '[':
		return "an array"
	case c[0] == 't' || c[0] == 'f':
		return "a boolean"
	case c[0] == 'n':
		return "null"
	default:
		return "a number"
	}
}

// Encode renders a body as the producer sends it.
func Encode(b Body) ([]byte, error) {
	return json.Marshal(struct {
		ID       string `json:"id"`
		Msg      string `json:"msg"`
		SrcStamp string `json:"srcStamp"`
	}{b.ID, b.Msg, b.SrcStamp.UTC().Format(StampLayout)})
}

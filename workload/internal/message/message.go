// Package message is the one place that says what a good work message is: the
// body the reference producers send ({"msg", "srcStamp"}) plus edw's "id", and
// (envelope.go) the router events that carry work to a route's queue.
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
	fields, err := decodeObject(raw)
	if err != nil {
		return Body{}, err
	}
	return parseFields(fields, queueID)
}

// decodeObject reads a body that must be exactly one JSON object.
func decodeObject(raw []byte) (map[string]json.RawMessage, error) {
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&fields); err != nil || fields == nil {
		return nil, fmt.Errorf("%w: body is not a JSON object %s", ErrInvalid, describeNonObject(raw, err))
	}
	if rest := bytes.TrimSpace(raw[dec.InputOffset():]); len(rest) > 0 {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalid)
	}
	return fields, nil
}

// parseFields is Parse after the body was read as an object.
func parseFields(fields map[string]json.RawMessage, queueID string) (Body, error) {
	var b Body
	problems := content(fields, "", &b)
	if _, present := fields["id"]; present && string(fields["id"]) != "null" {
		id, problem := stringField(fields, "id")
		if problem == "" {
			problem = idProblem(`"id"`, id)
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

// content reads the work's "msg" and "srcStamp" into b and names each problem;
// prefix is the JSON path of the object holding them ("" at the top).
func content(fields map[string]json.RawMessage, prefix string, b *Body) []string {
	var problems []string
	if msg, problem := stringAt(fields, "msg", prefix+"msg"); problem != "" {
		problems = append(problems, problem)
	} else {
		b.Msg = msg
	}
	if stamp, problem := stringAt(fields, "srcStamp", prefix+"srcStamp"); problem != "" {
		problems = append(problems, problem)
	} else if t, err := time.ParseInLocation(StampLayout, stamp, time.UTC); err != nil {
		problems = append(problems, fmt.Sprintf(`%q %q is not UTC time as YYYY-MM-DD HH:MM:SS.ffffff`, prefix+"srcStamp", stamp))
	} else {
		b.SrcStamp = t
	}
	return problems
}

// stringField reads a required string field, or says what is wrong with it.
func stringField(fields map[string]json.RawMessage, name string) (string, string) {
	return stringAt(fields, name, name)
}

// stringAt is stringField for a field the reason calls path (its JSON path
// from the top of the message, as "detail.data.msg").
func stringAt(fields map[string]json.RawMessage, name, path string) (string, string) {
	raw, ok := fields[name]
	if !ok || string(raw) == "null" {
		return "", fmt.Sprintf("missing %q", path)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Sprintf("%q must be a string, not %s", path, jsonKind(raw))
	}
	return s, ""
}

// idProblem keeps ids usable as DynamoDB keys and Azure RowKeys, which forbid
// / \ # ? and control characters. field names where the id came from, quoted
// as the JSON path the reader wrote.
func idProblem(field, id string) string {
	const allowed = `1 to 128 bytes, any characters but / \ # ? and control characters`
	if id == "" || len(id) > MaxIDLength {
		return fmt.Sprintf(`%s is %d bytes; want %s`, field, len(id), allowed)
	}
	for _, r := range id {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == '/' || r == '\\' || r == '#' || r == '?' {
			return fmt.Sprintf(`%s %q contains %q; want %s`, field, id, r, allowed)
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

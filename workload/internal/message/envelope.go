package message

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Envelope names the form a message arrived in: a direct body from our producer
// (or a reference producer), or an event a router delivered to the route's queue.
type Envelope string

const (
	// Direct is today's body: {"id", "msg", "srcStamp"}.
	Direct Envelope = "direct"
	// EventBridge is the event JSON EventBridge sends to an SQS target:
	// "id", "source", "detail-type", "time", "detail".
	EventBridge Envelope = "eventbridge"
	// EventGrid is an Event Grid schema event: "id", "topic", "eventType",
	// "subject", "eventTime", "data".
	EventGrid Envelope = "eventgrid"
	// CloudEvent is a CloudEvents 1.0 event: "specversion", "id", "source", "type".
	CloudEvent Envelope = "cloudevents"
)

// The idempotency key travels in an event's data as
// {"metadata": {"idempotency-key": K}, "data": {...}}, and in a CloudEvent also
// as an extension attribute (CloudEvents attribute names are lowercase
// letters and digits only).
const (
	MetadataKey            = "idempotency-key"
	CloudEventKeyAttribute = "idempotencykey"
)

// Work is one message as the consumer records it.
type Work struct {
	// Body.ID is the stored id: "<route>:<key>" when the consumer serves a
	// route, else the key. One table serves every route, so an event fanned out
	// to two routes makes one row per route.
	Body
	// Key is the idempotency key: the event's, else the event id (the body's
	// id, else the queue's message id, for a direct message).
	Key string
	// Route is the consumer's route (EDW_ROUTE); Source and Type are the
	// event's, empty for a direct message.
	Route, Source, Type string
	Envelope            Envelope
	// Base64 says the message text was base64, as Event Grid writes events to
	// a storage queue.
	Base64 bool
}

// Decode recognises the message's envelope, reads its work and idempotency key,
// and names every problem it finds by its JSON path from the top of the event
// (as "detail.metadata.idempotency-key"). queueID is the queue's own message
// id, the key of a direct body without one; route, when set, prefixes the key.
// Every error wraps ErrInvalid: no retry can process such a message.
func Decode(raw []byte, queueID, route string) (Work, error) {
	if len(raw) > MaxBodyBytes {
		return Work{}, fmt.Errorf("%w: body is %d bytes, more than %d", ErrInvalid, len(raw), MaxBodyBytes)
	}
	text, encoded := unwrapBase64(raw)
	fields, err := decodeObject(text)
	if err != nil {
		return Work{}, err
	}
	w := Work{Route: route, Base64: encoded, Envelope: envelopeOf(fields)}
	keyPath := `"id"`
	if w.Envelope == Direct {
		b, err := parseFields(fields, queueID)
		if err != nil {
			return Work{}, err
		}
		w.Body, w.Key = b, b.ID
		if _, ok := fields["id"]; !ok || string(fields["id"]) == "null" {
			keyPath = "the queue's message id"
		}
	} else {
		var problems []string
		keyPath, problems = w.readEvent(fields)
		if len(problems) > 0 {
			return Work{}, fmt.Errorf("%w: %s event: %s", ErrInvalid, w.Envelope, strings.Join(problems, "; "))
		}
	}
	w.ID = w.Key
	if route != "" {
		w.ID = route + ":" + w.Key
		if len(w.ID) > MaxIDLength {
			return Work{}, fmt.Errorf("%w: %s %q makes the id %q %d bytes with route %q; want at most %d",
				ErrInvalid, keyPath, w.Key, clipID(w.ID), len(w.ID), route, MaxIDLength)
		}
	}
	return w, nil
}

// unwrapBase64 returns the JSON inside a base64 message text. Event Grid
// base64-encodes each event it writes to a storage queue; our producer and the
// reference producers write plain JSON. A JSON object starts with '{', which
// is not in the base64 alphabet, so the two never collide.
func unwrapBase64(raw []byte) ([]byte, bool) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || trimmed[0] == '{' {
		return raw, false
	}
	dec, err := base64.StdEncoding.DecodeString(string(trimmed))
	if err != nil {
		return raw, false
	}
	if t := bytes.TrimSpace(dec); len(t) == 0 || t[0] != '{' {
		return raw, false
	}
	return dec, true
}

// envelopeOf tells the envelopes apart by the one attribute each schema
// requires and no other has.
func envelopeOf(fields map[string]json.RawMessage) Envelope {
	switch {
	case has(fields, "specversion"):
		return CloudEvent
	case has(fields, "detail-type"):
		return EventBridge
	case has(fields, "eventType"):
		return EventGrid
	}
	return Direct
}

func has(fields map[string]json.RawMessage, name string) bool {
	_, ok := fields[name]
	return ok
}

// schema names an envelope's attributes.
type schema struct {
	source, typ, time, data string
	// timeRequired: the router always sets it, so an event without it is not
	// one the router delivered.
	timeRequired bool
	// dataRequired: the event must carry its data, as an object when
	// dataObject.
	dataRequired, dataObject bool
}

var schemas = map[Envelope]schema{
	// EventBridge: https://docs.aws.amazon.com/eventbridge/latest/ref/overiew-event-structure.html
	EventBridge: {source: "source", typ: "detail-type", time: "time", data: "detail", timeRequired: true, dataRequired: true, dataObject: true},
	// Event Grid schema: https://learn.microsoft.com/azure/event-grid/event-schema
	EventGrid: {source: "topic", typ: "eventType", time: "eventTime", data: "data", timeRequired: true, dataRequired: true},
	// CloudEvents 1.0: time and data are optional.
	CloudEvent: {source: "source", typ: "type", time: "time", data: "data"},
}

// readEvent fills w from a router event and returns the JSON path its key came
// from and every problem found.
func (w *Work) readEvent(fields map[string]json.RawMessage) (keyPath string, problems []string) {
	s := schemas[w.Envelope]
	need := func(name string) string {
		v, problem := stringField(fields, name)
		if problem == "" && v == "" {
			problem = fmt.Sprintf("%q is empty", name)
		}
		if problem != "" {
			problems = append(problems, problem)
		}
		return v
	}
	if w.Envelope == CloudEvent {
		if v := need("specversion"); v != "" && v != "1.0" {
			problems = append(problems, fmt.Sprintf(`"specversion" %q: want "1.0"`, v))
		}
	}
	id := need("id")
	w.Source, w.Type = need(s.source), need(s.typ)

	var eventTime time.Time
	if has(fields, s.time) || s.timeRequired {
		if stamp := need(s.time); stamp != "" {
			t, err := time.Parse(time.RFC3339Nano, stamp)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%q %q is not an RFC 3339 time", s.time, stamp))
			}
			eventTime = t.UTC().Truncate(time.Microsecond)
		}
	}

	data, hasData := fields[s.data]
	if hasData && string(data) == "null" {
		hasData = false
	}
	var dataFields map[string]json.RawMessage
	if hasData {
		_ = json.Unmarshal(data, &dataFields) // nil unless an object
	}
	switch {
	case !hasData && s.dataRequired:
		problems = append(problems, fmt.Sprintf("missing %q", s.data))
	case hasData && s.dataObject && dataFields == nil:
		problems = append(problems, fmt.Sprintf("%q must be an object, not %s", s.data, jsonKind(data)))
	}

	// The key: the event's metadata, a CloudEvent's extension attribute, else
	// the event id, which is new on every publish attempt.
	w.Key, keyPath = id, fmt.Sprintf("%q", "id")
	metaKey, metaPath, shaped, metaProblems := edwMetadata(dataFields, s.data)
	problems = append(problems, metaProblems...)
	if w.Envelope == CloudEvent && has(fields, CloudEventKeyAttribute) {
		ext, problem := stringField(fields, CloudEventKeyAttribute)
		switch {
		case problem != "":
			problems = append(problems, problem)
		case metaKey != "" && ext != metaKey:
			problems = append(problems, fmt.Sprintf("%q %q and %s %q differ: one event, one key",
				CloudEventKeyAttribute, ext, metaPath, metaKey))
		default:
			w.Key, keyPath = ext, fmt.Sprintf("%q", CloudEventKeyAttribute)
		}
	}
	if metaKey != "" {
		w.Key, keyPath = metaKey, metaPath
	}
	if problem := idProblem(keyPath, w.Key); w.Key != "" && problem != "" {
		problems = append(problems, problem)
	}

	// The work: edw's own shape carries msg and srcStamp; any other event is
	// recorded as its data, stamped with the event's time.
	switch {
	case shaped:
		inner, ok := dataFields["data"]
		var innerFields map[string]json.RawMessage
		if ok {
			_ = json.Unmarshal(inner, &innerFields)
		}
		if innerFields == nil {
			what := "missing"
			if ok {
				what = "not an object: " + jsonKind(inner)
			}
			problems = append(problems, fmt.Sprintf(`%q is %s; want {"msg", "srcStamp"}`, s.data+".data", what))
			break
		}
		problems = append(problems, content(innerFields, s.data+".data.", &w.Body)...)
	default:
		w.Msg = dataText(fields, s.data)
		if eventTime.IsZero() && !s.timeRequired && !has(fields, s.time) {
			problems = append(problems, fmt.Sprintf("missing %q (the srcStamp of an event whose %q carries no %q)",
				s.time, s.data, "metadata"))
		}
		w.SrcStamp = eventTime
	}
	return keyPath, problems
}

// edwMetadata reads the key from data {"metadata": {"idempotency-key": K}}.
// shaped says the data is edw's own shape (it has "metadata"); then the key
// is required and its container must be an object.
func edwMetadata(data map[string]json.RawMessage, dataName string) (key, path string, shaped bool, problems []string) {
	meta, ok := data["metadata"]
	if !ok {
		return "", "", false, nil
	}
	path = fmt.Sprintf("%q", dataName+".metadata."+MetadataKey)
	var metaFields map[string]json.RawMessage
	if err := json.Unmarshal(meta, &metaFields); err != nil || metaFields == nil {
		return "", path, true, []string{fmt.Sprintf("%q must be an object, not %s", dataName+".metadata", jsonKind(meta))}
	}
	key, problem := stringAt(metaFields, MetadataKey, dataName+".metadata."+MetadataKey)
	if problem != "" {
		return "", path, true, []string{problem}
	}
	if key == "" {
		return "", path, true, []string{fmt.Sprintf("%s is empty", path)}
	}
	return key, path, true, nil
}

// dataText is a foreign event's data as the result's msg: a string as itself,
// anything else as compact JSON, a CloudEvent's binary data as its base64.
func dataText(fields map[string]json.RawMessage, name string) string {
	raw, ok := fields[name]
	if !ok || string(raw) == "null" {
		if b64, ok := fields["data_base64"]; ok {
			raw = b64
		} else {
			return ""
		}
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return string(raw)
	}
	return buf.String()
}

func clipID(id string) string {
	if len(id) <= 40 {
		return id
	}
	return id[:40] + "…"
}

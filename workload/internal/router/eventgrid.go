package router

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
)

// EventGridScope is the Entra scope of Event Grid's data plane: the topic has
// local (key) auth disabled, so a publisher presents a token for it.
const EventGridScope = "https://eventgrid.azure.net/.default"

// CloudEventsBatch is the content type of a batch of CloudEvents in JSON
// (CloudEvents JSON format, "batched" mode), the one an Event Grid topic with
// the CloudEvents 1.0 input schema takes.
const CloudEventsBatch = "application/cloudevents-batch+json; charset=utf-8"

// EventGrid publishes bodies to an Event Grid topic as CloudEvents 1.0.
type EventGrid struct {
	endpoint, source, typ string
	pl                    runtime.Pipeline
	attempts              int
	newID                 func() string
	now                   func() time.Time
}

// EventGridOptions tune the publisher.
type EventGridOptions struct {
	// Attempts is how often one batch is tried (default 3).
	Attempts int
	// AttemptTimeout bounds one HTTP attempt (0: unbounded).
	AttemptTimeout time.Duration
	// Transport replaces the HTTP client (tests).
	Transport policy.Transporter
}

// NewEventGrid publishes to endpoint (the topic's https .../api/events) with
// tokens from cred.
func NewEventGrid(endpoint string, cred azcore.TokenCredential, source, typ string, o EventGridOptions) *EventGrid {
	if o.Attempts < 1 {
		o.Attempts = 3
	}
	// The pipeline's own retry would send the same events again; this
	// publisher retries itself, each attempt with new event ids (the routes
	// contract), so the pipeline does not.
	opts := &policy.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1, TryTimeout: o.AttemptTimeout}}
	if o.Transport != nil {
		opts.Transport = o.Transport
	}
	pl := runtime.NewPipeline("edw-producer", "v1", runtime.PipelineOptions{
		PerRetry: []policy.Policy{runtime.NewBearerTokenPolicy(cred, []string{EventGridScope}, nil)},
	}, opts)
	return &EventGrid{endpoint: endpoint, source: source, typ: typ, pl: pl, attempts: o.Attempts, newID: newUUID, now: time.Now}
}

// Event Grid's limits: a publish request (a batch) of at most 1 MB. A batch of
// 100 small work messages is a few tens of KB; bigger bodies make smaller
// requests (Send splits by size).
const (
	eventGridBatch        = 100
	eventGridRequestBytes = 1_000_000
)

func (g *EventGrid) MaxBatch() int { return eventGridBatch }

// cloudEvent is one CloudEvents 1.0 event in JSON. The key travels twice: as
// the extension attribute (Event Grid filters can see it) and in the data, as
// EventBridge events carry it.
type cloudEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Time            string          `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	IdempotencyKey  string          `json:"idempotencykey"`
	Data            json.RawMessage `json:"data"`
}

// item is one body ready to publish.
type item struct {
	key  string
	data []byte
}

// Send publishes bodies in requests of at most 1 MB. A request is accepted or
// refused whole; a refused one is tried again (throttling, 5xx, a broken
// connection) with new event ids and the same keys, up to Attempts times.
func (g *EventGrid) Send(ctx context.Context, bodies [][]byte) error {
	items := make([]item, 0, len(bodies))
	for _, b := range bodies {
		key, data, err := wrap(b)
		if err != nil {
			return err
		}
		items = append(items, item{key, data})
	}
	accepted := 0
	for len(items) > 0 {
		n, size := 0, 2 // the brackets
		for n < len(items) && (n == 0 || size+len(items[n].data)+256 <= eventGridRequestBytes) {
			size += len(items[n].data) + 256 // attributes and a comma
			n++
		}
		if err := g.publish(ctx, items[:n]); err != nil {
			return &PartialError{Accepted: accepted, Total: len(bodies), First: err}
		}
		accepted += n
		items = items[n:]
	}
	return nil
}

func (g *EventGrid) publish(ctx context.Context, items []item) error {
	var last error
	for attempt := 1; attempt <= g.attempts; attempt++ {
		if attempt > 1 {
			if err := sleep(ctx, backoff(attempt-1)); err != nil {
				return fmt.Errorf("%w (stopped before attempt %d: %v)", last, attempt, err)
			}
		}
		retryable, err := g.post(ctx, items)
		if err == nil {
			return nil
		}
		last = err
		if !retryable {
			break
		}
	}
	return last
}

// post sends one request; retryable says whether trying again could help.
func (g *EventGrid) post(ctx context.Context, items []item) (bool, error) {
	now := g.now().UTC().Format(time.RFC3339Nano)
	events := make([]cloudEvent, len(items))
	for i, it := range items {
		events[i] = cloudEvent{SpecVersion: "1.0", ID: g.newID(), Source: g.source, Type: g.typ, Time: now,
			DataContentType: "application/json", IdempotencyKey: it.key, Data: it.data}
	}
	body, err := json.Marshal(events)
	if err != nil {
		return false, fmt.Errorf("encode %d CloudEvents: %w", len(events), err)
	}
	req, err := runtime.NewRequest(ctx, http.MethodPost, g.endpoint)
	if err != nil {
		return false, fmt.Errorf("request to %s: %w", g.endpoint, err)
	}
	if err := req.SetBody(streaming.NopCloser(bytes.NewReader(body)), CloudEventsBatch); err != nil {
		return false, fmt.Errorf("request body for %s: %w", g.endpoint, err)
	}
	resp, err := g.pl.Do(req)
	if err != nil {
		// No answer (or no token): the events may or may not have landed; the
		// keys make a second copy harmless.
		return ctx.Err() == nil, fmt.Errorf("publish %d events to %s: %w", len(events), g.endpoint, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return false, nil
	}
	retryable := resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout
	return retryable, fmt.Errorf("publish %d events to %s: %w", len(events), g.endpoint, runtime.NewResponseError(resp))
}

// newUUID is a random (version 4) UUID: a CloudEvent's id is new per attempt.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

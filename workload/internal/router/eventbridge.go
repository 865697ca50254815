package router

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// PutEventsAPI is the one EventBridge call the producer makes.
type PutEventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// EventBridge publishes each body as one event on a bus: Source and DetailType
// as the producer's flags say, Detail {"metadata": {"idempotency-key": K},
// "data": body}.
type EventBridge struct {
	api                     PutEventsAPI
	bus, source, detailType string
	entryAttempts           int
}

// NewEventBridge publishes on bus (a name or an ARN) through api.
func NewEventBridge(api PutEventsAPI, bus, source, detailType string) *EventBridge {
	return &EventBridge{api: api, bus: bus, source: source, detailType: detailType, entryAttempts: 4}
}

// eventBridgeBatch is PutEvents' limit: at most 10 entries per call.
const eventBridgeBatch = 10

func (e *EventBridge) MaxBatch() int { return eventBridgeBatch }

// retryableEntry are the per-entry error codes PutEvents documents as
// retryable; any other (AccessDeniedException, MalformedDetail, ...) fails the
// same way again.
var retryableEntry = map[string]bool{"InternalFailure": true, "ThrottlingException": true}

// Send publishes bodies in calls of at most 10 entries. A call can succeed with
// some entries failed (FailedEntryCount): those are sent again, alone, when
// their error is retryable, each time as a new event (EventBridge gives every
// accepted entry a new event id) with the same idempotency key. What still
// failed is returned as a *PartialError.
func (e *EventBridge) Send(ctx context.Context, bodies [][]byte) error {
	var (
		accepted int
		errs     []error
	)
	for start := 0; start < len(bodies); start += eventBridgeBatch {
		n, err := e.sendBatch(ctx, bodies[start:min(start+eventBridgeBatch, len(bodies))])
		accepted += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &PartialError{Accepted: accepted, Total: len(bodies), First: errors.Join(errs...)}
}

func (e *EventBridge) sendBatch(ctx context.Context, bodies [][]byte) (int, error) {
	pending := make([]types.PutEventsRequestEntry, 0, len(bodies))
	for _, b := range bodies {
		_, detail, err := wrap(b)
		if err != nil {
			return 0, err
		}
		pending = append(pending, types.PutEventsRequestEntry{
			EventBusName: aws.String(e.bus), Source: aws.String(e.source), DetailType: aws.String(e.detailType), Detail: aws.String(string(detail)),
		})
	}
	accepted := 0
	var (
		last      error   // why the entries still pending failed last
		permanent []error // entries that failed for good
	)
	for attempt := 1; len(pending) > 0 && attempt <= e.entryAttempts; attempt++ {
		if attempt > 1 {
			if err := sleep(ctx, backoff(attempt-1)); err != nil {
				break
			}
		}
		// A failed call (after the SDK's own retries) is not retried here: the
		// SDK already rode out what it could, and nothing says which entries landed.
		out, err := e.api.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: pending})
		if err != nil {
			return accepted, fmt.Errorf("put %d events on bus %s: %w", len(pending), e.bus, err)
		}
		var retry []types.PutEventsRequestEntry
		for i, r := range out.Entries {
			if r.ErrorCode == nil || *r.ErrorCode == "" {
				accepted++
				continue
			}
			err := fmt.Errorf("event on bus %s: %s: %s", e.bus, aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage))
			if retryableEntry[*r.ErrorCode] && i < len(pending) {
				retry = append(retry, pending[i])
				last = err
			} else {
				permanent = append(permanent, err)
			}
		}
		pending = retry
	}
	if len(pending) > 0 {
		permanent = append(permanent, fmt.Errorf("%d events still failing after %d attempts, last: %w", len(pending), e.entryAttempts, last))
	}
	if len(permanent) > 0 {
		return accepted, permanent[0]
	}
	return accepted, nil
}

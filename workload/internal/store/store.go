// Package store records results, one backend per cloud: DynamoDB (dynamodb.go)
// and Azure Storage tables (aztable.go). Writes are idempotent on the message id.
package store

import (
	"context"
	"fmt"
	"time"

	"github.com/edw-dev/edw/workload/internal/message"
)

// Result is one processed message, as the workload contract names its fields.
type Result struct {
	ID        string
	Msg       string
	SrcStamp  time.Time
	DestStamp time.Time
	// ProcessingSeconds is from srcStamp to the write.
	ProcessingSeconds float64
	ProcessedBy       string
	ReceiveCount      int
	// Route is the consumer's route (EDW_ROUTE); Source and Type are the router
	// event's. All three are empty for a direct message on a single pipeline,
	// and then not stored at all.
	Route, Source, Type string
}

// Store writes results.
type Store interface {
	// Check reads the table once, so a consumer pointed at a table it cannot
	// reach fails at start-up, saying which table and endpoint.
	Check(ctx context.Context) error
	// Validate reports, before any write, a result the backend can never store
	// (over its size limits). The error wraps failure.ErrPermanent.
	Validate(r Result) error
	// Put writes r unless a result with its id exists. It reports whether this
	// call wrote it, so a redelivered message counts as a duplicate, not a row.
	// When the existing result has different content (msg or srcStamp), the
	// error is a *ConflictError. A rejection of r's own content wraps
	// failure.ErrPermanent.
	Put(ctx context.Context, r Result) (written bool, err error)
}

// ConflictError is a result refused because a different one is already stored
// under its id: two different messages were sent with the same id.
type ConflictError struct {
	ID       string
	Existing Result
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("id %q already holds a different result (msg %q, srcStamp %s, processed by %s on receive %d)",
		e.ID, truncate(e.Existing.Msg, 64), e.Existing.SrcStamp.UTC().Format(message.StampLayout), e.Existing.ProcessedBy, e.Existing.ReceiveCount)
}

// sameContent reports whether two results are for the same message: what the
// producer sent, not when or by whom it was processed.
func sameContent(a, b Result) bool {
	return a.Msg == b.Msg && a.SrcStamp.UTC().Format(message.StampLayout) == b.SrcStamp.UTC().Format(message.StampLayout)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

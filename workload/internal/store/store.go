// Package store records results, one backend per cloud: DynamoDB (dynamodb.go)
// and Azure Storage tables (aztable.go). Writes are idempotent on the message id.
package store

import (
	"context"
	"time"
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
}

// Store writes results.
type Store interface {
	// Put writes r unless a result with its id exists. It reports whether this
	// call wrote it, so a redelivered message counts as a duplicate, not a row.
	Put(ctx context.Context, r Result) (written bool, err error)
}

package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
	"unicode/utf16"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/edw-dev/edw/workload/internal/failure"
	"github.com/edw-dev/edw/workload/internal/message"
)

// AzureTable is an Azure Storage table. RowKey is the message id; PartitionKey
// is derived from the id alone, so an id has exactly one place in the table: a
// second message with the same id meets the first one's entity (409) whatever
// its srcStamp, and the write stays idempotent.
type AzureTable struct {
	client   *aztables.Client
	name     string
	endpoint string
}

// NewAzureTable uses client (built once) for the table name at endpoint; name
// and endpoint only label errors.
func NewAzureTable(client *aztables.Client, name, endpoint string) *AzureTable {
	return &AzureTable{client: client, name: name, endpoint: endpoint}
}

// PartitionKey is the partition of id: two hex digits of its SHA-256, which
// spreads results over 256 partitions (one partition serves about 2,000
// entities a second) and needs nothing but the id to find a result again.
func PartitionKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:1])
}

// Azure table limits (learn.microsoft.com, "Understanding the Table service data
// model"): a string property holds at most 64 KiB, that is 32,768 UTF-16 code
// units; an entity at most 1 MiB.
const (
	azurePropertyChars = 32 * 1024
	azureEntityBytes   = 1024 * 1024
)

// Check lists at most one entity: it needs only read access and fails on a
// missing table, a wrong account or key, or an unreachable endpoint.
func (a *AzureTable) Check(ctx context.Context) error {
	top := int32(1)
	sel := "RowKey"
	if _, err := a.client.NewListEntitiesPager(&aztables.ListEntitiesOptions{Top: &top, Select: &sel}).NextPage(policy.WithRetryOptions(ctx, checkRetry())); err != nil {
		return fmt.Errorf("table %s at %s: %w", a.name, a.endpoint, err)
	}
	return nil
}

// Validate checks every string property against the 32,768-character limit and
// the entity against 1 MiB, so a result Azure would refuse is dead-lettered at
// once with the reason instead of being retried as if the refusal were transient.
func (a *AzureTable) Validate(r Result) error {
	var errs []error
	size := 0
	for name, value := range map[string]string{"id": r.ID, "msg": r.Msg, "processedBy": r.ProcessedBy,
		"route": r.Route, "source": r.Source, "type": r.Type} {
		chars := len(utf16.Encode([]rune(value)))
		if chars > azurePropertyChars {
			errs = append(errs, fmt.Errorf("%q is %d characters (UTF-16 code units); Azure tables store at most %d in one property",
				name, chars, azurePropertyChars))
		}
		size += 2 * chars
	}
	if size > azureEntityBytes {
		errs = append(errs, fmt.Errorf("the result is about %d bytes; Azure tables store entities of at most %d", size, azureEntityBytes))
	}
	if len(errs) > 0 {
		return failure.Permanent(fmt.Errorf("result %s: %w", r.ID, errors.Join(errs...)))
	}
	return nil
}

type entity struct {
	PartitionKey          string  `json:"PartitionKey"`
	RowKey                string  `json:"RowKey"`
	ID                    string  `json:"id"`
	Msg                   string  `json:"msg"`
	SrcStamp              string  `json:"srcStamp"`
	DestStamp             string  `json:"destStamp"`
	MessageProcessingTime float64 `json:"messageProcessingTime"`
	ProcessedBy           string  `json:"processedBy"`
	ReceiveCount          int     `json:"receiveCount"`
	Route                 string  `json:"route,omitempty"`
	Source                string  `json:"source,omitempty"`
	Type                  string  `json:"type,omitempty"`
}

// Put inserts the entity; 409 EntityAlreadyExists means an earlier delivery, or
// a different message with the same id, wrote it: the stored entity tells which.
func (a *AzureTable) Put(ctx context.Context, r Result) (bool, error) {
	raw, err := json.Marshal(entity{
		PartitionKey:          PartitionKey(r.ID),
		RowKey:                r.ID,
		ID:                    r.ID,
		Msg:                   r.Msg,
		SrcStamp:              r.SrcStamp.UTC().Format(message.StampLayout),
		DestStamp:             r.DestStamp.UTC().Format(message.StampLayout),
		MessageProcessingTime: r.ProcessingSeconds,
		ProcessedBy:           r.ProcessedBy,
		ReceiveCount:          r.ReceiveCount,
		Route:                 r.Route,
		Source:                r.Source,
		Type:                  r.Type,
	})
	if err != nil {
		return false, fmt.Errorf("encode result %s: %w", r.ID, err)
	}
	_, err = a.client.AddEntity(ctx, raw, nil)
	var re *azcore.ResponseError
	switch {
	case errors.As(err, &re) && re.StatusCode == http.StatusConflict:
		got, err := a.client.GetEntity(ctx, PartitionKey(r.ID), r.ID, nil)
		if err != nil {
			return false, fmt.Errorf("read existing result %s in %s: %w", r.ID, a.name, err)
		}
		var e entity
		if err := json.Unmarshal(got.Value, &e); err != nil {
			return false, fmt.Errorf("decode existing result %s in %s: %w", r.ID, a.name, err)
		}
		old := Result{ID: e.ID, Msg: e.Msg, ProcessingSeconds: e.MessageProcessingTime, ProcessedBy: e.ProcessedBy, ReceiveCount: e.ReceiveCount,
			Route: e.Route, Source: e.Source, Type: e.Type}
		old.SrcStamp, _ = time.ParseInLocation(message.StampLayout, e.SrcStamp, time.UTC)
		old.DestStamp, _ = time.ParseInLocation(message.StampLayout, e.DestStamp, time.UTC)
		if !sameContent(old, r) {
			return false, &ConflictError{ID: r.ID, Existing: old}
		}
		return false, nil
	case err != nil:
		return false, classifyAzure(fmt.Errorf("put result %s in %s: %w", r.ID, a.name, err))
	}
	return true, nil
}

// azurePermanent are the Table service's answers about the entity itself. Its
// other 4xx (TableNotFound, AuthorizationFailure, throttling) are about the
// deployment and stay transient.
var azurePermanent = map[string]bool{
	"PropertyValueTooLarge": true, "EntityTooLarge": true, "PropertyNameTooLong": true, "PropertyNameInvalid": true,
	"TooManyProperties": true, "InvalidInput": true, "InvalidValueType": true, "InvalidDuplicateRow": true,
	"OutOfRangeInput": true, "KeyValueTooLarge": true, "RequestBodyTooLarge": true,
}

func classifyAzure(err error) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) && (azurePermanent[re.ErrorCode] || re.StatusCode == http.StatusRequestEntityTooLarge) {
		return failure.Permanent(err)
	}
	return err
}

// checkRetry is the start-up check's: one retry, each attempt bounded, so a
// wrong endpoint is reported in seconds rather than ridden out like an outage.
func checkRetry() policy.RetryOptions {
	return policy.RetryOptions{MaxRetries: 1, TryTimeout: 10 * time.Second, RetryDelay: 200 * time.Millisecond}
}

package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/edw-dev/edw/workload/internal/message"
)

// AzureTable is an Azure Storage table. RowKey is the message id; PartitionKey is
// the day of srcStamp, which a redelivery repeats, so the key is stable.
type AzureTable struct {
	client *aztables.Client
}

// NewAzureTable uses client (built once) for one table.
func NewAzureTable(client *aztables.Client) *AzureTable { return &AzureTable{client: client} }

// PartitionKey is the partition a result with this srcStamp lands in.
func PartitionKey(r Result) string { return r.SrcStamp.UTC().Format("2006-01-02") }

// Put inserts the entity; 409 EntityAlreadyExists means an earlier delivery wrote it.
func (a *AzureTable) Put(ctx context.Context, r Result) (bool, error) {
	entity, err := json.Marshal(map[string]any{
		"PartitionKey":          PartitionKey(r),
		"RowKey":                r.ID,
		"id":                    r.ID,
		"msg":                   r.Msg,
		"srcStamp":              r.SrcStamp.UTC().Format(message.StampLayout),
		"destStamp":             r.DestStamp.UTC().Format(message.StampLayout),
		"messageProcessingTime": r.ProcessingSeconds,
		"processedBy":           r.ProcessedBy,
		"receiveCount":          r.ReceiveCount,
	})
	if err != nil {
		return false, fmt.Errorf("encode result %s: %w", r.ID, err)
	}
	_, err = a.client.AddEntity(ctx, entity, nil)
	var re *azcore.ResponseError
	switch {
	case errors.As(err, &re) && re.StatusCode == http.StatusConflict:
		return false, nil
	case err != nil:
		return false, fmt.Errorf("put result %s: %w", r.ID, err)
	}
	return true, nil
}

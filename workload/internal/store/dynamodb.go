package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/edw-dev/edw/workload/internal/message"
)

// DynamoDB is a table with string hash key "id".
type DynamoDB struct {
	client *dynamodb.Client
	table  string
}

// NewDynamoDB uses client (built once) for table.
func NewDynamoDB(client *dynamodb.Client, table string) *DynamoDB {
	return &DynamoDB{client: client, table: table}
}

// Put is a conditional PutItem: the condition makes redelivery a no-op, where a
// BatchWriteItem would silently overwrite the first result.
func (d *DynamoDB) Put(ctx context.Context, r Result) (bool, error) {
	_, err := d.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           &d.table,
		ConditionExpression: aws.String("attribute_not_exists(id)"),
		Item: map[string]types.AttributeValue{
			"id":                    &types.AttributeValueMemberS{Value: r.ID},
			"msg":                   &types.AttributeValueMemberS{Value: r.Msg},
			"srcStamp":              &types.AttributeValueMemberS{Value: r.SrcStamp.UTC().Format(message.StampLayout)},
			"destStamp":             &types.AttributeValueMemberS{Value: r.DestStamp.UTC().Format(message.StampLayout)},
			"messageProcessingTime": &types.AttributeValueMemberN{Value: strconv.FormatFloat(r.ProcessingSeconds, 'f', 6, 64)},
			"processedBy":           &types.AttributeValueMemberS{Value: r.ProcessedBy},
			"receiveCount":          &types.AttributeValueMemberN{Value: strconv.Itoa(r.ReceiveCount)},
		},
	})
	var exists *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &exists):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("put result %s in %s: %w", r.ID, d.table, err)
	}
	return true, nil
}

package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/edw-dev/edw/workload/internal/failure"
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

// dynamoItemLimit is DynamoDB's largest item, attribute names and values included.
const dynamoItemLimit = 400 * 1024

// Check reads one key. GetItem is what the consumer's role may do besides
// PutItem; a missing table, a wrong key schema or missing permissions answer
// with an error, an absent key with an empty item.
func (d *DynamoDB) Check(ctx context.Context) error {
	_, err := d.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &d.table,
		Key:       map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "edw-start-up-check"}},
	}, func(o *dynamodb.Options) { o.RetryMaxAttempts = 2 })
	if err != nil {
		return fmt.Errorf("table %s at %s: %w", d.table, endpointOf(d.client.Options().BaseEndpoint, "dynamodb", d.client.Options().Region), err)
	}
	return nil
}

// Validate checks the item against DynamoDB's 400 KB item limit: UTF-8 bytes of
// every attribute name and string value, at most 21 bytes per number.
func (d *DynamoDB) Validate(r Result) error {
	size := 0
	for name, value := range d.item(r) {
		size += len(name)
		switch v := value.(type) {
		case *types.AttributeValueMemberS:
			size += len(v.Value)
		default:
			size += 21
		}
	}
	if size > dynamoItemLimit {
		return failure.Permanent(fmt.Errorf("result %s is %d bytes; DynamoDB stores items of at most %d bytes (\"msg\" is %d bytes)",
			r.ID, size, dynamoItemLimit, len(r.Msg)))
	}
	return nil
}

func (d *DynamoDB) item(r Result) map[string]types.AttributeValue {
	item := map[string]types.AttributeValue{
		"id":                    &types.AttributeValueMemberS{Value: r.ID},
		"msg":                   &types.AttributeValueMemberS{Value: r.Msg},
		"srcStamp":              &types.AttributeValueMemberS{Value: r.SrcStamp.UTC().Format(message.StampLayout)},
		"destStamp":             &types.AttributeValueMemberS{Value: r.DestStamp.UTC().Format(message.StampLayout)},
		"messageProcessingTime": &types.AttributeValueMemberN{Value: strconv.FormatFloat(r.ProcessingSeconds, 'f', 6, 64)},
		"processedBy":           &types.AttributeValueMemberS{Value: r.ProcessedBy},
		"receiveCount":          &types.AttributeValueMemberN{Value: strconv.Itoa(r.ReceiveCount)},
	}
	for name, value := range map[string]string{"route": r.Route, "source": r.Source, "type": r.Type} {
		if value != "" {
			item[name] = &types.AttributeValueMemberS{Value: value}
		}
	}
	return item
}

// Put is a conditional PutItem: the condition makes redelivery a no-op, where a
// BatchWriteItem would silently overwrite the first result. A failed condition
// returns the stored item, which tells a redelivery from a conflicting message.
func (d *DynamoDB) Put(ctx context.Context, r Result) (bool, error) {
	_, err := d.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           &d.table,
		ConditionExpression:                 aws.String("attribute_not_exists(id)"),
		Item:                                d.item(r),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var exists *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &exists):
		stored := exists.Item
		if stored == nil {
			// Older emulators do not return the item; the role may read it.
			out, err := d.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: &d.table, ConsistentRead: aws.Bool(true),
				Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: r.ID}}})
			if err != nil {
				return false, fmt.Errorf("read existing result %s in %s: %w", r.ID, d.table, err)
			}
			stored = out.Item
		}
		if old := resultFromItem(stored); stored != nil && !sameContent(old, r) {
			return false, &ConflictError{ID: r.ID, Existing: old}
		}
		return false, nil
	case err != nil:
		return false, classifyAWS(fmt.Errorf("put result %s in %s: %w", r.ID, d.table, err))
	}
	return true, nil
}

func resultFromItem(item map[string]types.AttributeValue) Result {
	str := func(k string) string {
		if v, ok := item[k].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	num := func(k string) string {
		if v, ok := item[k].(*types.AttributeValueMemberN); ok {
			return v.Value
		}
		return ""
	}
	r := Result{ID: str("id"), Msg: str("msg"), ProcessedBy: str("processedBy"), Route: str("route"), Source: str("source"), Type: str("type")}
	r.SrcStamp, _ = time.ParseInLocation(message.StampLayout, str("srcStamp"), time.UTC)
	r.DestStamp, _ = time.ParseInLocation(message.StampLayout, str("destStamp"), time.UTC)
	r.ProcessingSeconds, _ = strconv.ParseFloat(num("messageProcessingTime"), 64)
	r.ReceiveCount, _ = strconv.Atoi(num("receiveCount"))
	return r
}

// classifyAWS marks a rejection of the item itself permanent. DynamoDB answers
// 400 for nearly everything, missing tables and permissions included, so the
// error code decides: ValidationException is the item (too large, a bad value);
// everything else is about the deployment, or passes.
func classifyAWS(err error) error {
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "ValidationException" {
		return failure.Permanent(err)
	}
	var resp *awshttp.ResponseError
	if errors.As(err, &resp) && resp.HTTPStatusCode() == 413 {
		return failure.Permanent(err)
	}
	return err
}

// endpointOf says where requests went: the configured endpoint, or the
// service's regional one.
func endpointOf(base *string, service, region string) string {
	if base != nil && *base != "" {
		return *base
	}
	return fmt.Sprintf("https://%s.%s.amazonaws.com (the SDK's regional endpoint; set AWS_ENDPOINT_URL for an emulator)", service, region)
}

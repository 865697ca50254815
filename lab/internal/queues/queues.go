// Package queues creates the rendered queue and table names on the emulators
// (fauxqs + dynalite, Azurite) and reads them back: backlog and result rows.
package queues

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Row is one result row: the fields the lab checks.
type Row struct {
	ID, Msg, ProcessedBy string
}

// Backend is a queue and its results table on an emulator.
type Backend interface {
	// Backlog is what KEDA's scaler counts: messages waiting plus in flight.
	Backlog(ctx context.Context) (int, error)
	// Rows reads every result row.
	Rows(ctx context.Context) ([]Row, error)
}

// AWSKeys are the emulator's static credentials.
const AWSKeys = "lab"

// AWS is an SQS queue with a dead-letter queue on fauxqs and a table on dynalite.
type AWS struct {
	QueueURL, DLQURL, Table string
	sqs                     *sqs.Client
	db                      *dynamodb.Client
}

// NewAWS creates queue, dlq (redrive after maxReceive receives) and table.
func NewAWS(ctx context.Context, region, sqsEndpoint, ddbEndpoint, queue, dlq, table string, visibility, maxReceive int) (*AWS, error) {
	cfg := aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider(AWSKeys, AWSKeys, "")}
	a := &AWS{Table: table,
		sqs: sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(sqsEndpoint) }),
		db:  dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(ddbEndpoint) }),
	}
	d, err := a.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(dlq)})
	if err != nil {
		return nil, fmt.Errorf("create queue %s: %w", dlq, err)
	}
	a.DLQURL = *d.QueueUrl
	attrs, err := a.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: d.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return nil, fmt.Errorf("queue %s arn: %w", dlq, err)
	}
	q, err := a.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(queue), Attributes: map[string]string{
		"VisibilityTimeout": strconv.Itoa(visibility),
		"RedrivePolicy":     fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"%d"}`, attrs.Attributes["QueueArn"], maxReceive),
	}})
	if err != nil {
		return nil, fmt.Errorf("create queue %s: %w", queue, err)
	}
	a.QueueURL = *q.QueueUrl
	_, err = a.db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: ddbtypes.KeyTypeHash}},
	})
	// Routes' consumers share one table: the second route finds it made.
	var inUse *ddbtypes.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return nil, fmt.Errorf("create table %s: %w", table, err)
	}
	return a, nil
}

// Backlog is ApproximateNumberOfMessages + ApproximateNumberOfMessagesNotVisible,
// as KEDA's aws-sqs-queue scaler counts by default.
func (a *AWS) Backlog(ctx context.Context) (int, error) {
	out, err := a.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &a.QueueURL,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		return 0, fmt.Errorf("queue attributes: %w", err)
	}
	visible, _ := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	hidden, _ := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return visible + hidden, nil
}

// Rows scans the table.
func (a *AWS) Rows(ctx context.Context) ([]Row, error) {
	var rows []Row
	p := dynamodb.NewScanPaginator(a.db, &dynamodb.ScanInput{TableName: &a.Table})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", a.Table, err)
		}
		for _, item := range page.Items {
			str := func(k string) string {
				if v, ok := item[k].(*ddbtypes.AttributeValueMemberS); ok {
					return v.Value
				}
				return ""
			}
			rows = append(rows, Row{ID: str("id"), Msg: str("msg"), ProcessedBy: str("processedBy")})
		}
	}
	return rows, nil
}

// Azure is a storage queue, its poison queue and a table on Azurite.
type Azure struct {
	queue *azqueue.QueueClient
	table *aztables.Client
}

// NewAzure creates queue, poison queue and table.
func NewAzure(ctx context.Context, conn, queue, poison, table string) (*Azure, error) {
	qsvc, err := azqueue.NewServiceClientFromConnectionString(conn, nil)
	if err != nil {
		return nil, fmt.Errorf("queue service: %w", err)
	}
	for _, q := range []string{queue, poison} {
		if _, err := qsvc.NewQueueClient(q).Create(ctx, nil); err != nil {
			return nil, fmt.Errorf("create queue %s: %w", q, err)
		}
	}
	tsvc, err := aztables.NewServiceClientFromConnectionString(conn, nil)
	if err != nil {
		return nil, fmt.Errorf("table service: %w", err)
	}
	if _, err := tsvc.CreateTable(ctx, table, nil); err != nil {
		var re *azcore.ResponseError
		if !errors.As(err, &re) || re.ErrorCode != string(aztables.TableAlreadyExists) {
			return nil, fmt.Errorf("create table %s: %w", table, err)
		}
	}
	return &Azure{queue: qsvc.NewQueueClient(queue), table: tsvc.NewClient(table)}, nil
}

// Backlog is the queue's approximate message count (visible and invisible), as
// KEDA's azure-queue scaler reads it.
func (a *Azure) Backlog(ctx context.Context) (int, error) {
	p, err := a.queue.GetProperties(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("queue properties: %w", err)
	}
	if p.ApproximateMessagesCount == nil {
		return 0, nil
	}
	return int(*p.ApproximateMessagesCount), nil
}

// Rows lists the table.
func (a *Azure) Rows(ctx context.Context) ([]Row, error) {
	var rows []Row
	sel := "RowKey,id,msg,processedBy"
	p := a.table.NewListEntitiesPager(&aztables.ListEntitiesOptions{Select: &sel})
	for p.More() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list table: %w", err)
		}
		for _, raw := range page.Entities {
			rows = append(rows, parseEntity(raw))
		}
	}
	return rows, nil
}

func parseEntity(raw []byte) Row {
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	get := func(key string) string { s, _ := m[key].(string); return s }
	id := get("id")
	if id == "" {
		id = get("RowKey")
	}
	return Row{ID: id, Msg: get("msg"), ProcessedBy: get("processedBy")}
}

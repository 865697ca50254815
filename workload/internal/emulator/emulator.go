// Package emulator creates a queue, its dead-letter queue and a results table on
// local emulators (fauxqs or moto for SQS, dynalite or moto for DynamoDB, Azurite),
// shaped as the stacks create them in the cloud, and returns the workload
// contract's environment for them. The demo uses it.
package emulator

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// AWS creates an SQS queue with a redrive policy to its DLQ after maxReceive
// receives, and an on-demand table with hash key id.
func AWS(ctx context.Context, sqsEndpoint, ddbEndpoint, name string, visibilitySeconds, maxReceive int) ([]string, error) {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}
	sq := sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(sqsEndpoint) })
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(ddbEndpoint) })

	dlq, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-dlq")})
	if err != nil {
		return nil, fmt.Errorf("create queue %s-dlq: %w", name, err)
	}
	attrs, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: dlq.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return nil, fmt.Errorf("read %s-dlq arn: %w", name, err)
	}
	q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: map[string]string{
		"VisibilityTimeout": strconv.Itoa(visibilitySeconds),
		"RedrivePolicy":     fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"%d"}`, attrs.Attributes["QueueArn"], maxReceive),
	}})
	if err != nil {
		return nil, fmt.Errorf("create queue %s: %w", name, err)
	}
	_, err = db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: ddbtypes.KeyTypeHash}},
	})
	if err != nil {
		return nil, fmt.Errorf("create table %s: %w", name, err)
	}
	return []string{"EDW_CLOUD=aws", "EDW_QUEUE_URL=" + *q.QueueUrl, "EDW_DLQ_URL=" + *dlq.QueueUrl, "EDW_TABLE_NAME=" + name,
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local",
		"AWS_ENDPOINT_URL_SQS=" + sqsEndpoint, "AWS_ENDPOINT_URL_DYNAMODB=" + ddbEndpoint}, nil
}

// AzuriteConnectionString reaches Azurite's development account at the given
// endpoints (http://host:port), signing with the key Azurite publishes for it.
func AzuriteConnectionString(queueEndpoint, tableEndpoint string) string {
	const key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
	return fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=%s;"+
		"QueueEndpoint=%s/devstoreaccount1;TableEndpoint=%s/devstoreaccount1;", key, queueEndpoint, tableEndpoint)
}

// Azure creates a queue, its poison queue and a table in Azurite.
func Azure(ctx context.Context, conn, name string) ([]string, error) {
	qsvc, err := azqueue.NewServiceClientFromConnectionString(conn, nil)
	if err != nil {
		return nil, fmt.Errorf("queue service: %w", err)
	}
	for _, q := range []string{name, name + "-poison"} {
		if _, err := qsvc.NewQueueClient(q).Create(ctx, nil); err != nil {
			return nil, fmt.Errorf("create queue %s: %w", q, err)
		}
	}
	tsvc, err := aztables.NewServiceClientFromConnectionString(conn, nil)
	if err != nil {
		return nil, fmt.Errorf("table service: %w", err)
	}
	table := strings.ReplaceAll(name, "-", "")
	if _, err := tsvc.NewClient(table).CreateTable(ctx, nil); err != nil {
		return nil, fmt.Errorf("create table %s: %w", table, err)
	}
	return []string{"EDW_CLOUD=azure", "AZURE_STORAGE_CONNECTION_STRING=" + conn, "EDW_QUEUE_NAME=" + name,
		"EDW_TABLE_NAME=" + table}, nil
}

// CountRows counts the result rows in the table env names.
func CountRows(ctx context.Context, env map[string]string) (int, error) {
	switch env["EDW_CLOUD"] {
	case "aws":
		cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}
		db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(env["AWS_ENDPOINT_URL_DYNAMODB"]) })
		n := 0
		p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(env["EDW_TABLE_NAME"]), Select: ddbtypes.SelectCount})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return 0, fmt.Errorf("scan %s: %w", env["EDW_TABLE_NAME"], err)
			}
			n += int(page.Count)
		}
		return n, nil
	case "azure":
		tsvc, err := aztables.NewServiceClientFromConnectionString(env["AZURE_STORAGE_CONNECTION_STRING"], nil)
		if err != nil {
			return 0, fmt.Errorf("table service: %w", err)
		}
		n := 0
		p := tsvc.NewClient(env["EDW_TABLE_NAME"]).NewListEntitiesPager(&aztables.ListEntitiesOptions{Select: aws.String("RowKey")})
		for p.More() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return 0, fmt.Errorf("list %s: %w", env["EDW_TABLE_NAME"], err)
			}
			n += len(page.Entities)
		}
		return n, nil
	}
	return 0, fmt.Errorf("EDW_CLOUD %q", env["EDW_CLOUD"])
}

package emulator

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

func need(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Skipf("%s is not set: run scripts/test-workload.sh, which starts the emulators", name)
	}
	return v
}

func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func TestAWSCreatesTheQueueWithItsRedriveAndTheTable(t *testing.T) {
	sqsEndpoint, ddbEndpoint := need(t, "EDW_TEST_SQS_ENDPOINT"), need(t, "EDW_TEST_DYNAMODB_ENDPOINT")
	ctx := context.Background()
	name := fmt.Sprintf("edwemu%d", time.Now().UnixNano()%1e9)
	env, err := AWS(ctx, sqsEndpoint, ddbEndpoint, name, 7, 3)
	require.NoError(t, err)
	e := envMap(env)
	assert.Equal(t, "aws", e["EDW_CLOUD"])
	assert.Equal(t, name, e["EDW_TABLE_NAME"])
	assert.Equal(t, sqsEndpoint, e["AWS_ENDPOINT_URL_SQS"])
	assert.Equal(t, ddbEndpoint, e["AWS_ENDPOINT_URL_DYNAMODB"])
	assert.True(t, strings.HasSuffix(e["EDW_QUEUE_URL"], "/"+name), e["EDW_QUEUE_URL"])
	assert.True(t, strings.HasSuffix(e["EDW_DLQ_URL"], "/"+name+"-dlq"), e["EDW_DLQ_URL"])

	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("t", "t", "")}
	sq := sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(sqsEndpoint) })
	attrs, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(e["EDW_QUEUE_URL"]),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
	require.NoError(t, err)
	assert.Equal(t, "7", attrs.Attributes["VisibilityTimeout"])
	assert.Contains(t, attrs.Attributes["RedrivePolicy"], name+"-dlq")
	assert.Regexp(t, `"maxReceiveCount":"?3"?`, attrs.Attributes["RedrivePolicy"])

	rows, err := CountRows(ctx, e)
	require.NoError(t, err)
	assert.Equal(t, 0, rows)
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(ddbEndpoint) })
	// dynalite makes a new table ACTIVE a moment after CreateTable answers.
	require.NoError(t, dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 20*time.Millisecond, 200*time.Millisecond
	}).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 30*time.Second))
	for _, id := range []string{"a", "b", "c"} {
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(name),
			Item: map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: id}}})
		require.NoError(t, err)
	}
	rows, err = CountRows(ctx, e)
	require.NoError(t, err)
	assert.Equal(t, 3, rows)

	_, err = AWS(ctx, sqsEndpoint, ddbEndpoint, name, 7, 3)
	assert.ErrorContains(t, err, "create table "+name, "the table exists already")
	e["EDW_TABLE_NAME"] = name + "missing"
	_, err = CountRows(ctx, e)
	assert.ErrorContains(t, err, "scan "+name+"missing")
}

func TestAzureCreatesQueuesAndATableNamedWithoutDashes(t *testing.T) {
	conn := need(t, "EDW_TEST_AZURITE_CONNECTION_STRING")
	ctx := context.Background()
	name := fmt.Sprintf("edw-emu-%d", time.Now().UnixNano()%1e9)
	env, err := Azure(ctx, conn, name)
	require.NoError(t, err)
	e := envMap(env)
	table := strings.ReplaceAll(name, "-", "")
	assert.Equal(t, map[string]string{"EDW_CLOUD": "azure", "AZURE_STORAGE_CONNECTION_STRING": conn, "EDW_QUEUE_NAME": name,
		"EDW_TABLE_NAME": table}, e)

	tsvc, err := aztables.NewServiceClientFromConnectionString(conn, nil)
	require.NoError(t, err)
	for _, id := range []string{"a", "b"} {
		_, err := tsvc.NewClient(table).AddEntity(ctx, []byte(`{"PartitionKey":"p","RowKey":"`+id+`"}`), nil)
		require.NoError(t, err)
	}
	rows, err := CountRows(ctx, e)
	require.NoError(t, err)
	assert.Equal(t, 2, rows)

	_, err = Azure(ctx, conn, name)
	assert.ErrorContains(t, err, "create table "+table, "the table exists already (creating an existing queue is allowed)")
	e["EDW_TABLE_NAME"] = table + "missing"
	_, err = CountRows(ctx, e)
	assert.ErrorContains(t, err, "list "+table+"missing")
}

func TestCountRowsNeedsACloud(t *testing.T) {
	_, err := CountRows(context.Background(), map[string]string{"EDW_CLOUD": "gcp"})
	assert.ErrorContains(t, err, `EDW_CLOUD "gcp"`)
}

func TestAzuriteConnectionStringNamesBothEndpoints(t *testing.T) {
	conn := AzuriteConnectionString("http://127.0.0.1:1", "http://127.0.0.1:2")
	assert.Contains(t, conn, "QueueEndpoint=http://127.0.0.1:1/devstoreaccount1;")
	assert.Contains(t, conn, "TableEndpoint=http://127.0.0.1:2/devstoreaccount1;")
	assert.Contains(t, conn, "AccountName=devstoreaccount1;")
}

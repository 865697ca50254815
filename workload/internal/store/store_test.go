package store

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/workload/internal/failure"
)

// The contract tests run each backend against its emulator (scripts/test-workload.sh
// starts them); without one, they skip.

var seq atomic.Int64

func tableName() string { return fmt.Sprintf("edwstore%d%d", time.Now().UnixNano()%1e9, seq.Add(1)) }

// backend is a store on a new, empty table, and a way to read a row back as it
// was stored (attribute → value as text).
type backend struct {
	// endpoint is where the store sends requests, as its errors must name it.
	endpoint string
	store    Store
	missing  Store // the same backend on a table that does not exist
	row      func(t *testing.T, id string) map[string]string
}

func backends(t *testing.T) map[string]func(t *testing.T) backend {
	return map[string]func(t *testing.T) backend{"dynamodb": dynamoBackend, "aztables": azureBackend}
}

func dynamoBackend(t *testing.T) backend {
	endpoint := os.Getenv("EDW_TEST_DYNAMODB_ENDPOINT")
	if endpoint == "" {
		t.Skip("EDW_TEST_DYNAMODB_ENDPOINT is not set: run scripts/test-workload.sh")
	}
	ctx := context.Background()
	db := dynamodb.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")},
		func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) })
	name := tableName()
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(name), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)}) })
	// dynalite makes a new table ACTIVE a moment after CreateTable answers; on a
	// loaded machine a write can come first.
	require.NoError(t, dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 20*time.Millisecond, 200*time.Millisecond
	}).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 30*time.Second))
	return backend{
		endpoint: endpoint,
		store:    NewDynamoDB(db, name),
		missing:  NewDynamoDB(db, name+"missing"),
		row: func(t *testing.T, id string) map[string]string {
			out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(name), ConsistentRead: aws.Bool(true),
				Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: id}}})
			require.NoError(t, err)
			row := map[string]string{}
			for k, v := range out.Item {
				switch v := v.(type) {
				case *types.AttributeValueMemberS:
					row[k] = v.Value
				case *types.AttributeValueMemberN:
					row[k] = v.Value
				}
			}
			return row
		},
	}
}

func azureBackend(t *testing.T) backend {
	conn := os.Getenv("EDW_TEST_AZURITE_CONNECTION_STRING")
	if conn == "" {
		t.Skip("EDW_TEST_AZURITE_CONNECTION_STRING is not set: run scripts/test-workload.sh")
	}
	ctx := context.Background()
	svc, err := aztables.NewServiceClientFromConnectionString(conn, nil)
	require.NoError(t, err)
	name := tableName()
	client := svc.NewClient(name)
	_, err = client.CreateTable(ctx, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = client.Delete(ctx, nil) })
	return backend{
		endpoint: "azurite",
		store:    NewAzureTable(client, name, "azurite"),
		missing:  NewAzureTable(svc.NewClient(name+"missing"), name+"missing", "azurite"),
		row: func(t *testing.T, id string) map[string]string {
			got, err := client.GetEntity(ctx, PartitionKey(id), id, nil)
			require.NoError(t, err)
			var e map[string]any
			require.NoError(t, json.Unmarshal(got.Value, &e))
			row := map[string]string{}
			for k, v := range e {
				if !strings.HasPrefix(k, "odata.") && !strings.Contains(k, "@odata") && k != "Timestamp" {
					row[k] = fmt.Sprint(v)
				}
			}
			return row
		},
	}
}

func result(id string) Result {
	src := time.Date(2026, 11, 25, 12, 0, 0, 123456000, time.UTC)
	dest := src.Add(1500 * time.Millisecond)
	return Result{ID: id, Msg: "hello " + id, SrcStamp: src, DestStamp: dest, ProcessingSeconds: 1.5, ProcessedBy: "pod-a", ReceiveCount: 2}
}

func TestPutWritesOnceAndTellsARedeliveryFromAConflict(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			b := open(t)
			require.NoError(t, b.store.Check(ctx))
			r := result("r-1")
			written, err := b.store.Put(ctx, r)
			require.NoError(t, err)
			assert.True(t, written, "the first write writes")

			row := b.row(t, "r-1")
			assert.Equal(t, "r-1", row["id"])
			assert.Equal(t, "hello r-1", row["msg"])
			assert.Equal(t, "2026-11-25 12:00:00.123456", row["srcStamp"])
			assert.Equal(t, "2026-11-25 12:00:01.623456", row["destStamp"])
			assert.Equal(t, "pod-a", row["processedBy"])
			assert.Equal(t, "2", row["receiveCount"])
			assert.Contains(t, row["messageProcessingTime"], "1.5")

			again := r
			again.DestStamp, again.ProcessedBy, again.ReceiveCount = r.DestStamp.Add(time.Minute), "pod-b", 3
			written, err = b.store.Put(ctx, again)
			require.NoError(t, err, "a redelivery is not an error")
			assert.False(t, written, "a redelivery writes nothing")
			assert.Equal(t, "pod-a", b.row(t, "r-1")["processedBy"], "the first result stays")

			other := r
			other.Msg = "different"
			written, err = b.store.Put(ctx, other)
			assert.False(t, written)
			var conflict *ConflictError
			require.ErrorAs(t, err, &conflict, "same id, different content")
			assert.Equal(t, "r-1", conflict.ID)
			assert.Equal(t, "hello r-1", conflict.Existing.Msg)
			assert.Equal(t, "pod-a", conflict.Existing.ProcessedBy)
			assert.Equal(t, 2, conflict.Existing.ReceiveCount)
			assert.True(t, conflict.Existing.SrcStamp.Equal(r.SrcStamp))
			assert.Contains(t, err.Error(), `"hello r-1"`)

			later := r
			later.SrcStamp = r.SrcStamp.Add(time.Second)
			_, err = b.store.Put(ctx, later)
			assert.ErrorAs(t, err, &conflict, "same id and msg, different srcStamp")
		})
	}
}

func TestAMissingTableFailsTheCheckAndEveryWriteTransiently(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			b := open(t)
			err := b.missing.Check(ctx)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "missing", "the error names the table")
			assert.Contains(t, err.Error(), b.endpoint, "and where it looked")
			written, err := b.missing.Put(ctx, result("m-1"))
			require.Error(t, err)
			assert.False(t, written)
			assert.False(t, failure.IsPermanent(err), "a missing table is the deployment's problem, not the message's: %v", err)
		})
	}
}

func TestResultsOverTheBackendsLimitsArePermanent(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			b := open(t)
			assert.NoError(t, b.store.Validate(result("small")))
			big := result("big")
			big.Msg = strings.Repeat("x", 410*1024)
			err := b.store.Validate(big)
			require.Error(t, err)
			assert.True(t, failure.IsPermanent(err), "%v", err)
			assert.Contains(t, err.Error(), "msg")
		})
	}
}

func TestAConflictQuotesTheStoredMessageUpTo64Characters(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			b := open(t)
			for _, n := range []int{64, 65} {
				r := result(fmt.Sprintf("c-%d", n))
				r.Msg = strings.Repeat("m", n)
				_, err := b.store.Put(ctx, r)
				require.NoError(t, err)
				other := r
				other.Msg = "other"
				_, err = b.store.Put(ctx, other)
				var conflict *ConflictError
				require.ErrorAs(t, err, &conflict)
				quoted := fmt.Sprintf("%q", strings.Repeat("m", 64))
				if n == 64 {
					assert.Contains(t, err.Error(), "msg "+quoted+",", "64 characters are quoted whole")
				} else {
					assert.Contains(t, err.Error(), fmt.Sprintf("msg %q", strings.Repeat("m", 64)+"…"), "longer ones are cut at 64")
				}
			}
		})
	}
}

// DynamoDB counts an item as its attribute names plus its values (numbers at most
// 21 bytes): a result of exactly 400 KiB is stored, one byte more is refused.
func TestDynamoDBItemLimitIsExact(t *testing.T) {
	b := dynamoBackend(t)
	r := Result{ID: "x", ProcessedBy: "p", SrcStamp: time.Now(), DestStamp: time.Now()}
	names := len("id") + len("msg") + len("srcStamp") + len("destStamp") + len("messageProcessingTime") + len("processedBy") + len("receiveCount")
	fixed := names + len(r.ID) + len(r.ProcessedBy) + 2*len("2006-01-02 15:04:05.000000") + 2*21
	r.Msg = strings.Repeat("x", 400*1024-fixed)
	assert.NoError(t, b.store.Validate(r), "exactly 400 KiB")
	r.Msg += "x"
	assert.True(t, failure.IsPermanent(b.store.Validate(r)), "one byte more")
}

// Azure refuses a property over 32,768 UTF-16 code units and an entity over 1 MiB;
// a message far over both is refused for both reasons.
func TestAzureLimitsAreExactAndBothReported(t *testing.T) {
	b := azureBackend(t)
	r := result("a")
	r.Msg = strings.Repeat("x", 32*1024)
	assert.NoError(t, b.store.Validate(r), "exactly 32,768 characters")
	r.Msg = strings.Repeat("\U0001F600", 16*1024) // two UTF-16 code units each
	assert.NoError(t, b.store.Validate(r), "32,768 code units in surrogate pairs")
	r.Msg += "x"
	assert.ErrorContains(t, b.store.Validate(r), "32769 characters")
	r.Msg = strings.Repeat("x", 600*1024)
	err := b.store.Validate(r)
	assert.ErrorContains(t, err, `"msg" is 614400 characters`)
	assert.ErrorContains(t, err, "entities of at most 1048576")
}

// A routed result stores its route, source and type beside the contract's
// fields, and a conflict reads them back; a direct one stores none of them.
func TestRouteSourceAndTypeAreStoredOnlyWhenSet(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			b := open(t)
			r := result("orders:k-1")
			r.Route, r.Source, r.Type = "orders", "edw.producer", "OrderCreated"
			written, err := b.store.Put(ctx, r)
			require.NoError(t, err)
			require.True(t, written)
			row := b.row(t, "orders:k-1")
			assert.Equal(t, "orders", row["route"])
			assert.Equal(t, "edw.producer", row["source"])
			assert.Equal(t, "OrderCreated", row["type"])

			other := r
			other.Msg = "different"
			_, err = b.store.Put(ctx, other)
			var conflict *ConflictError
			require.ErrorAs(t, err, &conflict)
			assert.Equal(t, "OrderCreated", conflict.Existing.Type)
			assert.Equal(t, "orders", conflict.Existing.Route)

			_, err = b.store.Put(ctx, result("direct-1"))
			require.NoError(t, err)
			direct := b.row(t, "direct-1")
			for _, attr := range []string{"route", "source", "type"} {
				assert.NotContains(t, direct, attr, "a direct result has no %s attribute", attr)
			}
		})
	}
}

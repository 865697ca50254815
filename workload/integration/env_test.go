// Package integration runs the real producer and consumer binaries against real
// emulators that scripts/test-workload.sh starts: fauxqs and dynalite (fast SQS and
// DynamoDB), moto (SQS, DynamoDB and STS for the IRSA path) and Azurite.
package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"
)

var bin struct{ consumer, producer string }

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "edw-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for name, out := range map[string]*string{"consumer": &bin.consumer, "producer": &bin.producer} {
		*out = filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", *out, "../cmd/"+name)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build", name, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func need(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Skipf("%s is not set: run scripts/test-workload.sh, which starts the emulators", name)
	}
	return v
}

var seq atomic.Int64

func unique(prefix string) string {
	return fmt.Sprintf("%s%d%d", prefix, time.Now().UnixNano()%1e9, seq.Add(1))
}

// stack is one set of queue, dead-letter queue and table on an emulator, with
// the environment the binaries need to reach it.
type stack struct {
	env []string
	// len counts everything still queued, hidden (in-flight) messages included;
	// hidden counts only those.
	len    func(t testing.TB) int
	hidden func(t testing.TB) int
	dlqLen func(t testing.TB) int
	rows   func(t testing.TB) map[string]int // id → times written (always 1 unless duplicated)
	send   func(t testing.TB, bodies ...string)
	// drop releases what the stack holds on its emulator, so a benchmark's runs
	// do not slow each other: the AWS stack deletes its queues and table; the
	// benchmark's Azure stack stops its private Azurite.
	drop func(t testing.TB)

	// table is the table service; every consumer writes to it through its own tap,
	// which records each write in writes.
	table     tableService
	writes    *writeLog
	consumers int
	// overwrite is the deliberately broken store: the tap deletes each row just
	// before it is written again, so every write lands as an unconditional put
	// would. Only the test proving the write check can fail sets it.
	overwrite bool
}

// awsStack creates an SQS queue with a redrive policy to its DLQ and an
// on-demand DynamoDB table keyed by id.
func awsStack(t testing.TB, sqsEndpoint, ddbEndpoint string, visibility int) *stack {
	t.Helper()
	return awsStackWith(t, sqsEndpoint, ddbEndpoint, visibility,
		aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
}

// awsStackWith is awsStack as the identity in cfg (moto's IAM test sets up as
// an admin user).
func awsStackWith(t testing.TB, sqsEndpoint, ddbEndpoint string, visibility int, cfg aws.Config) *stack {
	t.Helper()
	ctx := context.Background()
	sq := sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(sqsEndpoint) })
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(ddbEndpoint) })

	name := unique("edw")
	dlq, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-dlq")})
	require.NoError(t, err)
	dlqAttrs, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: dlq.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	require.NoError(t, err)
	redrive := fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"5"}`, dlqAttrs.Attributes["QueueArn"])
	q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: map[string]string{
		"VisibilityTimeout": fmt.Sprint(visibility), "RedrivePolicy": redrive,
	}})
	require.NoError(t, err)
	_, err = db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: ddbtypes.KeyTypeHash}},
	})
	require.NoError(t, err)

	counts := func(t testing.TB, url *string) (visible, hidden int) {
		out, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: url, AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		}})
		require.NoError(t, err)
		fmt.Sscan(out.Attributes["ApproximateNumberOfMessages"], &visible)
		fmt.Sscan(out.Attributes["ApproximateNumberOfMessagesNotVisible"], &hidden)
		return visible, hidden
	}
	count := func(t testing.TB, url *string) int {
		visible, hidden := counts(t, url)
		return visible + hidden
	}
	return &stack{
		hidden: func(t testing.TB) int {
			_, hidden := counts(t, q.QueueUrl)
			return hidden
		},
		writes: &writeLog{},
		table: dynamoTable(ddbEndpoint, func(id string) error {
			_, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(name),
				Key: map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: id}}})
			return err
		}),
		env: []string{"EDW_CLOUD=aws", "EDW_QUEUE_URL=" + atEndpoint(*q.QueueUrl, sqsEndpoint), "EDW_DLQ_URL=" + atEndpoint(*dlq.QueueUrl, sqsEndpoint), "EDW_TABLE_NAME=" + name,
			"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
			"AWS_ENDPOINT_URL_SQS=" + sqsEndpoint, "AWS_ENDPOINT_URL_DYNAMODB=" + ddbEndpoint},
		len:    func(t testing.TB) int { return count(t, q.QueueUrl) },
		dlqLen: func(t testing.TB) int { return count(t, dlq.QueueUrl) },
		rows: func(t testing.TB) map[string]int {
			rows := map[string]int{}
			p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(name), ConsistentRead: aws.Bool(true)})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				require.NoError(t, err)
				for _, it := range page.Items {
					id := it["id"].(*ddbtypes.AttributeValueMemberS).Value
					rows[id]++
				}
			}
			return rows
		},
		send: func(t testing.TB, bodies ...string) {
			for _, b := range bodies {
				_, err := sq.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(b)})
				require.NoError(t, err)
			}
		},
		drop: func(t testing.TB) {
			for _, url := range []*string{q.QueueUrl, dlq.QueueUrl} {
				_, err := sq.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: url})
				require.NoError(t, err)
			}
			_, err := db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)})
			require.NoError(t, err)
		},
	}
}

// atEndpoint moves a queue URL onto the SQS endpoint the binaries are given:
// fauxqs names queues by a virtual host (sqs.<region>.localhost) that need not
// resolve, and the binaries refuse a queue URL whose host is not their endpoint.
func atEndpoint(queueURL, endpoint string) string {
	u, err := url.Parse(queueURL)
	if err != nil {
		return queueURL
	}
	e, err := url.Parse(endpoint)
	if err != nil {
		return queueURL
	}
	u.Scheme, u.Host = e.Scheme, e.Host
	return u.String()
}

// azureStack creates a queue, its poison queue and a results table in Azurite.
func azureStack(t testing.TB, conn string) *stack {
	t.Helper()
	ctx := context.Background()
	qsvc, err := azqueue.NewServiceClientFromConnectionString(conn, nil)
	require.NoError(t, err)
	tsvc, err := aztables.NewServiceClientFromConnectionString(conn, nil)
	require.NoError(t, err)
	name := unique("edw")
	work, poison := qsvc.NewQueueClient(name), qsvc.NewQueueClient(name+"-poison")
	for _, q := range []*azqueue.QueueClient{work, poison} {
		_, err := q.Create(ctx, nil)
		require.NoError(t, err)
	}
	table := tsvc.NewClient(strings.ReplaceAll(name, "-", ""))
	_, err = table.CreateTable(ctx, nil)
	require.NoError(t, err)
	// ApproximateMessagesCount includes hidden messages: everything still queued.
	count := func(t testing.TB, q *azqueue.QueueClient) int {
		props, err := q.GetProperties(ctx, nil)
		require.NoError(t, err)
		return int(aws.ToInt32(props.ApproximateMessagesCount))
	}
	return &stack{
		hidden: func(t testing.TB) int {
			return count(t, work) - azureVisible(t, work)
		},
		writes: &writeLog{},
		table: azureTable(conn, func(partition, row string) error {
			_, err := table.DeleteEntity(ctx, partition, row, nil)
			var re *azcore.ResponseError
			if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
				return nil
			}
			return err
		}),
		env: []string{"EDW_CLOUD=azure", "AZURE_STORAGE_CONNECTION_STRING=" + conn, "EDW_QUEUE_NAME=" + name,
			"EDW_TABLE_NAME=" + strings.ReplaceAll(name, "-", "")},
		len:    func(t testing.TB) int { return count(t, work) },
		dlqLen: func(t testing.TB) int { return count(t, poison) },
		rows: func(t testing.TB) map[string]int {
			rows := map[string]int{}
			p := table.NewListEntitiesPager(nil)
			for p.More() {
				page, err := p.NextPage(ctx)
				require.NoError(t, err)
				for _, raw := range page.Entities {
					var e struct{ RowKey string }
					require.NoError(t, json.Unmarshal(raw, &e))
					rows[e.RowKey]++
				}
			}
			return rows
		},
		send: func(t testing.TB, bodies ...string) {
			for _, b := range bodies {
				_, err := work.EnqueueMessage(ctx, b, nil)
				require.NoError(t, err)
			}
		},
	}
}

// azureVisible counts q's visible messages. Azure reports only a total, hidden
// messages included, so it receives every visible message and makes each visible
// again at once (its dequeue count goes up by one).
func azureVisible(t testing.TB, q *azqueue.QueueClient) int {
	t.Helper()
	ctx := context.Background()
	var got []*azqueue.DequeuedMessage
	for {
		resp, err := q.DequeueMessages(ctx, &azqueue.DequeueMessagesOptions{NumberOfMessages: to.Ptr(int32(32)), VisibilityTimeout: to.Ptr(int32(60))})
		require.NoError(t, err)
		if len(resp.Messages) == 0 {
			break
		}
		got = append(got, resp.Messages...)
	}
	// Eight at a time: one by one, a thousand messages take half a minute.
	var wg sync.WaitGroup
	errs := make([]error, len(got))
	for i, m := range got {
		wg.Go(func() {
			_, errs[i] = q.UpdateMessage(ctx, *m.MessageID, *m.PopReceipt, *m.MessageText,
				&azqueue.UpdateMessageOptions{VisibilityTimeout: to.Ptr(int32(0))})
		})
		if i%8 == 7 {
			wg.Wait()
		}
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	return len(got)
}

// produce runs the producer binary and returns its JSON summary.
func produce(t testing.TB, s *stack, args ...string) map[string]float64 {
	t.Helper()
	cmd := exec.Command(bin.producer, append([]string{"--quiet"}, args...)...)
	cmd.Env = append(os.Environ(), s.env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	require.NoError(t, cmd.Run(), "producer: %s", errb.String())
	var sum map[string]float64
	require.NoError(t, json.Unmarshal(out.Bytes(), &sum), "summary line: %q", out.String())
	return sum
}

// proc is a running consumer.
type proc struct {
	*exec.Cmd
	// by names it in the write log.
	by   string
	logs *bytes.Buffer // read only after it exited
}

// consumer starts the consumer binary with its table writes going through a tap
// (see tap_test.go); wait for it with finish.
func consumer(t testing.TB, s *stack, args ...string) *proc {
	t.Helper()
	s.consumers++
	p := &proc{by: fmt.Sprintf("consumer-%d", s.consumers), logs: &bytes.Buffer{}}
	p.Cmd = exec.Command(bin.consumer, append([]string{"--metrics-addr=127.0.0.1:0", "--wait=1s"}, args...)...)
	p.Env = append(os.Environ(), s.tap(t, p.by)...)
	p.Stderr = p.logs
	require.NoError(t, p.Start())
	t.Cleanup(func() {
		if p.ProcessState == nil {
			_ = p.Process.Kill()
			_ = p.Wait()
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", p.by, tail(p.logs.String(), 4000))
		}
	})
	return p
}

func finish(t testing.TB, p *proc, within time.Duration) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "%s exit", p.by)
	case <-time.After(within):
		_ = p.Process.Kill()
		<-done
		t.Fatalf("%s did not exit within %s", p.by, within)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// eventually polls cond until it holds or the time is up.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

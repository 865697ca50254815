package backend

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSQSEndpointFollowsTheQueueURL(t *testing.T) {
	const aws = "https://sqs.us-west-2.amazonaws.com/123456789012/edw"
	cases := []struct {
		name, configured, queue, dlq string
		want                         string
		errs                         []string
	}{
		{name: "AWS URL, no endpoint: the SDK's regional endpoint", queue: aws, want: ""},
		{name: "AWS URL, VPC endpoint configured", configured: "https://vpce-1.sqs.us-west-2.vpce.amazonaws.com", queue: aws,
			want: "https://vpce-1.sqs.us-west-2.vpce.amazonaws.com"},
		{name: "emulator URL, no endpoint: honour the URL's host", queue: "http://127.0.0.1:4566/000000000000/q",
			dlq: "http://127.0.0.1:4566/000000000000/q-dlq", want: "http://127.0.0.1:4566"},
		{name: "emulator URL, same server configured", configured: "http://localhost:4566", queue: "http://127.0.0.1:4566/000000000000/q",
			want: "http://localhost:4566"},
		{name: "emulator URL under .localhost, same server configured", configured: "http://127.0.0.1:4566",
			queue: "http://sqs.us-east-1.localhost:4566/000000000000/q", want: "http://127.0.0.1:4566"},
		{name: "emulator URL, another server configured", configured: "http://127.0.0.1:9324", queue: "http://127.0.0.1:4566/000000000000/q",
			errs: []string{"EDW_QUEUE_URL=http://127.0.0.1:4566/000000000000/q names host 127.0.0.1:4566", "sends SQS requests to http://127.0.0.1:9324",
				"AWS_ENDPOINT_URL_SQS or AWS_ENDPOINT_URL"}},
		{name: "queue and DLQ on different servers", queue: "http://127.0.0.1:4566/0/q", dlq: "http://127.0.0.1:9324/0/q-dlq",
			errs: []string{"EDW_DLQ_URL=http://127.0.0.1:9324/0/q-dlq names host 127.0.0.1:9324"}},
		{name: "not a URL", queue: "edw-queue", errs: []string{`EDW_QUEUE_URL="edw-queue": want an SQS queue URL`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := sqsEndpoint(c.configured, []namedURL{{"EDW_QUEUE_URL", c.queue}, {"EDW_DLQ_URL", c.dlq}})
			if len(c.errs) == 0 {
				require.NoError(t, err)
				assert.Equal(t, c.want, got)
				return
			}
			require.Error(t, err)
			for _, e := range c.errs {
				assert.Contains(t, err.Error(), e)
			}
		})
	}
}

// cleanAWSEnv leaves the SDK nothing but what the test sets.
func cleanAWSEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
}

// With no endpoint configured, requests go to the host the queue URL names, not
// to the regional AWS endpoint.
func TestSQSRequestsGoToTheQueueURLsHost(t *testing.T) {
	cleanAWSEnv(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		fmt.Fprint(w, `{"Messages":[{"MessageId":"m1","ReceiptHandle":"h1","Body":"hello","Attributes":{"ApproximateReceiveCount":"1"}}]}`)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	be, err := Open(ctx, Env{Cloud: "aws", QueueURL: srv.URL + "/000000000000/q"}, false, 0)
	require.NoError(t, err)
	msgs, err := be.Queue.Receive(ctx, 10, 0)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	assert.Equal(t, "hello", string(msgs[0].Body))
}

func TestOpenRefusesAQueueURLTheEndpointContradicts(t *testing.T) {
	cleanAWSEnv(t)
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9324")
	_, err := Open(context.Background(), Env{Cloud: "aws", QueueURL: "http://127.0.0.1:4566/000000000000/q"}, false, 0)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "sends SQS requests to http://127.0.0.1:9324")
}

// The start-up check names what failed and where it tried: the queue and the
// table, each with its endpoint.
func TestCheckNamesWhatFailedAndTheEndpoint(t *testing.T) {
	t.Run("aws", func(t *testing.T) {
		cleanAWSEnv(t)
		t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		be, err := Open(ctx, Env{Cloud: "aws", QueueURL: "http://127.0.0.1:1/000000000000/q", DLQURL: "http://127.0.0.1:1/000000000000/d",
			TableName: "results"}, true, time.Minute)
		require.NoError(t, err)
		err = be.Check(ctx)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "cannot read the queue http://127.0.0.1:1/000000000000/q at http://127.0.0.1:1")
		assert.Contains(t, err.Error(), "cannot read the table results at http://127.0.0.1:1")
	})
	t.Run("azure", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn := "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;" +
			"QueueEndpoint=http://127.0.0.1:1/devstoreaccount1;TableEndpoint=http://127.0.0.1:1/devstoreaccount1;"
		be, err := Open(ctx, Env{Cloud: "azure", ConnectionString: conn, QueueName: "work", TableName: "results",
			AttemptTimeout: time.Second}, true, time.Minute)
		require.NoError(t, err)
		err = be.Check(ctx)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "cannot read the queue http://127.0.0.1:1/devstoreaccount1/work")
		assert.Contains(t, err.Error(), "cannot read the table results at http://127.0.0.1:1/devstoreaccount1")
	})
}

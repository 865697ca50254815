package backend

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/workload/internal/store"
)

// A reachable queue and table pass the start-up check.
func TestCheckPassesWhenQueueAndTableAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("X-Amz-Crc32", "2745614147") // of "{}", which DynamoDB's client checks
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	cleanAWSEnv(t)
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	be, err := Open(context.Background(), Env{Cloud: "aws", QueueURL: srv.URL + "/000000000000/q", DLQURL: srv.URL + "/000000000000/d",
		TableName: "results"}, true, time.Minute)
	require.NoError(t, err)
	assert.NoError(t, be.Check(context.Background()))
}

// The queue URL and the SDK's endpoint must be one server: scheme, host (any
// loopback name counts as one) and port.
func TestOpenComparesTheQueueURLsPortToo(t *testing.T) {
	for _, c := range []struct {
		endpoint, queue string
		same            bool
	}{
		{"http://127.0.0.1:9324", "http://127.0.0.1:9325/000000000000/q", false},
		{"http://127.0.0.1:9324", "https://127.0.0.1:9324/000000000000/q", false},
		{"http://127.0.0.1:9324", "http://sqs.us-east-1.localhost:9324/000000000000/q", true},
		{"http://localhost", "http://127.0.0.1:80/000000000000/q", true},
		{"http://[::1]:9324", "http://127.0.0.1:9324/000000000000/q", true},
		{"http://one.example:9324", "http://two.example:9324/000000000000/q", false},
	} {
		t.Run(c.endpoint+" "+c.queue, func(t *testing.T) {
			cleanAWSEnv(t)
			t.Setenv("AWS_ENDPOINT_URL", c.endpoint)
			_, err := Open(context.Background(), Env{Cloud: "aws", QueueURL: c.queue}, false, 0)
			if c.same {
				assert.NoError(t, err)
			} else {
				assert.ErrorContains(t, err, "sends SQS requests to "+c.endpoint)
			}
		})
	}
}

// Attempts is how often one call is tried, on Azure as on AWS: a table that
// answers 503 to everything sees exactly Attempts requests for one write.
func TestAzureTriesACallAttemptsTimes(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	conn := "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;" +
		"QueueEndpoint=" + srv.URL + "/devstoreaccount1;TableEndpoint=" + srv.URL + "/devstoreaccount1;"
	be, err := Open(context.Background(), Env{Cloud: "azure", ConnectionString: conn, QueueName: "work", TableName: "results",
		Attempts: 3, AttemptTimeout: 5 * time.Second}, true, time.Minute)
	require.NoError(t, err)
	_, err = be.Store.Put(context.Background(), store.Result{ID: "x", Msg: "m", SrcStamp: time.Now(), DestStamp: time.Now()})
	require.Error(t, err)
	assert.Equal(t, int64(3), requests.Load(), "one try and two retries")
}

package integration

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRouteConsumerLabelsItsMetricsWithItsRoute: the consumer binary started
// for a route (EDW_ROUTE, as the route's Deployment starts it) serves every
// edw_ series with route="<route>", the label the dashboards split routes by,
// and counts its work there.
func TestRouteConsumerLabelsItsMetricsWithItsRoute(t *testing.T) {
	s := awsStack(t, need(t, "EDW_TEST_SQS_ENDPOINT"), need(t, "EDW_TEST_DYNAMODB_ENDPOINT"), 30)
	s.send(t, `{"msg":"a","srcStamp":"2026-11-23 05:00:00.000000"}`, `{"msg":"b","srcStamp":"2026-11-23 05:00:00.000000"}`)
	s.env = append(s.env, "EDW_ROUTE=orders")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	c := consumer(t, s, "--metrics-addr="+addr)
	client := &http.Client{Timeout: time.Second}
	var body string
	eventually(t, 30*time.Second, "the route's consumer counts its two results", func() bool {
		resp, err := client.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		body = string(b)
		return err == nil && strings.Contains(body, `edw_consumer_messages_processed_total{route="orders"} 2`)
	})
	require.NoError(t, c.Process.Signal(syscall.SIGTERM))
	finish(t, c, 20*time.Second)
	series := 0
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "edw_") {
			series++
			assert.Contains(t, line, `route="orders"`, "every edw_ series carries the route")
		}
	}
	assert.Greater(t, series, 10, "the consumer's series were read")
}

package worker

import (
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stamp is one srcStamp for every event of a test: a retry carries the same work.
var stamp = time.Now().UTC().Format("2006-01-02 15:04:05.000000")

// routedEvent is an EventBridge event as it reaches a route's SQS queue.
func routedEvent(eventID, key, typ string) string {
	return fmt.Sprintf(`{"version":"0","id":%q,"detail-type":%q,"source":"edw.producer","time":"2026-12-02T10:00:00Z",`+
		`"detail":{"metadata":{"idempotency-key":%q},"data":{"id":%q,"msg":"work %s","srcStamp":%q}}}`, eventID, typ, key, key, key, stamp)
}

// A route's consumer keys each event by its idempotency key under the route's
// name, records source and type, and keeps one row for a publisher retry (same
// key, new event id); a malformed envelope is dead-lettered at once.
func TestARouteKeysEventsByTheirIdempotencyKey(t *testing.T) {
	q, s := newMemQueue(time.Second), newMemStore()
	first := routedEvent("ev-1", "k-1", "OrderCreated")
	q.add(first)
	q.add(routedEvent("ev-2", "k-1", "OrderCreated")) // the publisher's retry
	q.add(routedEvent("ev-3", "k-2", "OrderCreated"))
	q.add(base64.StdEncoding.EncodeToString([]byte(
		`{"specversion":"1.0","id":"ce-1","source":"/orders","type":"OrderPaid","time":"2026-12-02T10:00:00Z","idempotencykey":"k-3","data":{"orderId":3}}`)))
	malformed := `{"id":"ev-4","detail-type":"OrderCreated","source":"s","time":"2026-12-02T10:00:00Z","detail":{"metadata":{"idempotency-key":7}}}`
	q.add(malformed)
	w, m := newWorker(t, q, s, func(c *Config) { c.Receivers = 1 })
	w.cfg.Route = "orders"
	run(t, w)

	require.Equal(t, 3, s.count(), "k-1 once, k-2, k-3")
	r := s.rows["orders:k-1"]
	assert.Equal(t, "work k-1", r.Msg)
	assert.Equal(t, "orders", r.Route)
	assert.Equal(t, "edw.producer", r.Source)
	assert.Equal(t, "OrderCreated", r.Type)
	assert.Equal(t, "OrderPaid", s.rows["orders:k-3"].Type)
	assert.Equal(t, `{"orderId":3}`, s.rows["orders:k-3"].Msg)
	assert.Equal(t, 1.0, testutil.ToFloat64(m.Duplicates), "the retry was recognised as a duplicate")
	require.Len(t, q.dlq, 1)
	assert.Equal(t, malformed, string(q.dlq[0]), "dead-lettered unchanged")
	require.Len(t, q.reasons, 1)
	assert.Contains(t, q.reasons[0], `"detail.metadata.idempotency-key" must be a string, not a number`)
	assert.Equal(t, 1.0, testutil.ToFloat64(m.Permanent))
}

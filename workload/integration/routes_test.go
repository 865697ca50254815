package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The routes tests run the real producer (--via router) and consumers (one per
// route, EDW_ROUTE set) with a router in front of the queues: moto's
// EventBridge on AWS, which filters by each rule's pattern and delivers the
// event JSON to SQS targets; on Azure, Microsoft's documented deliveries put on
// Azurite's queues as Event Grid writes them (there is no Event Grid emulator).

var testAWS = aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}

// routeFilter is one route as the stack declares it: exact sources and types.
type routeFilter struct {
	name           string
	sources, types []string
}

// eventPattern is the rule's pattern built from the route's filter as data, as
// the stack builds it, never as a hand-written JSON string.
func eventPattern(t *testing.T, r routeFilter) string {
	t.Helper()
	p := map[string][]string{}
	if len(r.sources) > 0 {
		p["source"] = r.sources
	}
	if len(r.types) > 0 {
		p["detail-type"] = r.types
	}
	raw, err := json.Marshal(p)
	require.NoError(t, err)
	return string(raw)
}

// routeStack is a second route's queue and DLQ beside first's, on the same
// table and the same write log: one table serves every route.
func routeStack(t *testing.T, first *stack, sq *sqs.Client, endpoint string) *stack {
	t.Helper()
	ctx := context.Background()
	name := unique("edw-route")
	dlq, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-dlq")})
	require.NoError(t, err)
	redrive := fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"5"}`, queueARN(t, sq, *dlq.QueueUrl))
	q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name),
		Attributes: map[string]string{"VisibilityTimeout": "30", "RedrivePolicy": redrive}})
	require.NoError(t, err)
	s := *first
	s.consumers = 10 // its consumers' names in the write log differ from first's
	s.env = replaceEnv(replaceEnv(first.env, "EDW_QUEUE_URL", atEndpoint(*q.QueueUrl, endpoint)), "EDW_DLQ_URL", atEndpoint(*dlq.QueueUrl, endpoint))
	s.len = func(t testing.TB) int { return sqsCount(t, sq, *q.QueueUrl) }
	s.dlqLen = func(t testing.TB) int { return sqsCount(t, sq, *dlq.QueueUrl) }
	return &s
}

func sqsClient(endpoint string) *sqs.Client {
	return sqs.NewFromConfig(testAWS, func(o *sqs.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

func queueARN(t testing.TB, sq *sqs.Client, url string) string {
	t.Helper()
	out, err := sq.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: &url,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	require.NoError(t, err)
	return out.Attributes["QueueArn"]
}

func sqsCount(t testing.TB, sq *sqs.Client, url string) int {
	t.Helper()
	out, err := sq.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []sqstypes.QueueAttributeName{
		sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	require.NoError(t, err)
	var visible, hidden int
	fmt.Sscan(out.Attributes["ApproximateNumberOfMessages"], &visible)
	fmt.Sscan(out.Attributes["ApproximateNumberOfMessagesNotVisible"], &hidden)
	return visible + hidden
}

// delivered is one event as it sits on a route's queue.
type delivered struct {
	ID, Type, Key string
}

// peek reads every event on a queue (at most 10) without taking it: each is
// received, then made visible again at once (its receive count goes up by
// one, far below the redrive's 5). A VisibilityTimeout of 0 on the receive
// itself would be omitted by the SDK, and the queue's own 30s would apply.
func peek(t *testing.T, sq *sqs.Client, url string) []delivered {
	t.Helper()
	ctx := context.Background()
	out, err := sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10})
	require.NoError(t, err)
	var got []delivered
	for _, m := range out.Messages {
		_, err := sq.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0})
		require.NoError(t, err)
		var e struct {
			ID     string `json:"id"`
			Type   string `json:"detail-type"`
			Detail struct {
				Metadata map[string]string `json:"metadata"`
			} `json:"detail"`
		}
		require.NoError(t, json.Unmarshal([]byte(aws.ToString(m.Body)), &e), aws.ToString(m.Body))
		got = append(got, delivered{ID: e.ID, Type: e.Type, Key: e.Detail.Metadata["idempotency-key"]})
	}
	return got
}

// row is a result with the attributes routes add.
type row struct{ route, source, typ string }

func dynamoRows(t *testing.T, endpoint, table string) map[string]row {
	t.Helper()
	db := dynamodb.NewFromConfig(testAWS, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) })
	out, err := db.Scan(context.Background(), &dynamodb.ScanInput{TableName: &table, ConsistentRead: aws.Bool(true)})
	require.NoError(t, err)
	str := func(it map[string]ddbtypes.AttributeValue, k string) string {
		if v, ok := it[k].(*ddbtypes.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	rows := map[string]row{}
	for _, it := range out.Items {
		rows[str(it, "id")] = row{route: str(it, "route"), source: str(it, "source"), typ: str(it, "type")}
	}
	return rows
}

// TestRoutesOnEventBridge: a custom bus, two routes with disjoint filters, and
// one event type no route takes. Each route's consumer processes exactly its
// events; the unrouted ones reach no queue; a publisher retry (same key, new
// event id) is one row, written once as the table tap sees it.
func TestRoutesOnEventBridge(t *testing.T) {
	moto, ddb := need(t, "EDW_TEST_MOTO_ENDPOINT"), need(t, "EDW_TEST_DYNAMODB_ENDPOINT")
	ctx := context.Background()
	sq := sqsClient(moto)
	eb := eventbridge.NewFromConfig(testAWS, func(o *eventbridge.Options) { o.BaseEndpoint = aws.String(moto) })

	orders := awsStack(t, moto, ddb, 30)
	payments := routeStack(t, orders, sq, moto)
	bus := unique("edw-bus-")
	_, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: &bus})
	require.NoError(t, err)
	routes := []struct {
		routeFilter
		s *stack
	}{
		{routeFilter{"orders", []string{"edw.producer"}, []string{"OrderCreated"}}, orders},
		{routeFilter{"payments", nil, []string{"PaymentCaptured"}}, payments},
	}
	for _, r := range routes {
		rule, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(r.name), EventBusName: &bus, EventPattern: aws.String(eventPattern(t, r.routeFilter))})
		require.NoError(t, err)
		require.NotEmpty(t, aws.ToString(rule.RuleArn))
		out, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(r.name), EventBusName: &bus, Targets: []ebtypes.Target{{
			Id: aws.String("queue"), Arn: aws.String(queueARN(t, sq, envValue(r.s.env, "EDW_QUEUE_URL"))),
			RetryPolicy: &ebtypes.RetryPolicy{MaximumRetryAttempts: aws.Int32(185), MaximumEventAgeInSeconds: aws.Int32(86400)},
		}}})
		require.NoError(t, err)
		require.Zero(t, out.FailedEntryCount)
	}

	producerEnv := []string{"EDW_CLOUD=aws", "EDW_EVENT_BUS_NAME=" + bus, "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test", "AWS_ENDPOINT_URL_EVENTBRIDGE=" + moto}
	published := map[string]int{"OrderCreated": 6, "PaymentCaptured": 4, "ShipmentScheduled": 3}
	for typ, n := range published {
		r := runBinary(t, bin.producer, producerEnv, time.Minute, "--via=router", "--type="+typ, fmt.Sprintf("--count=%d", n), "--quiet")
		require.Equal(t, 0, r.code, r.stderr)
		var sum map[string]float64
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &sum), r.stdout)
		assert.Equal(t, float64(n), sum["sent"], typ)
	}
	// A publisher's retry: the same detail (so the same key) published again;
	// EventBridge gives it a new event id.
	detail := `{"metadata":{"idempotency-key":"retried-1"},"data":{"id":"retried-1","msg":"published twice","srcStamp":"` +
		time.Now().UTC().Format("2006-01-02 15:04:05.000000") + `"}}`
	var eventIDs []string
	for range 2 {
		out, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
			EventBusName: &bus, Source: aws.String("edw.producer"), DetailType: aws.String("OrderCreated"), Detail: &detail}}})
		require.NoError(t, err)
		require.Zero(t, out.FailedEntryCount)
		eventIDs = append(eventIDs, aws.ToString(out.Entries[0].EventId))
	}
	require.NotEqual(t, eventIDs[0], eventIDs[1], "a new event id per publish")

	// Before any consumer runs: each queue holds exactly its route's events.
	onOrders, onPayments := peek(t, sq, envValue(orders.env, "EDW_QUEUE_URL")), peek(t, sq, envValue(payments.env, "EDW_QUEUE_URL"))
	types := func(ds []delivered) map[string]int {
		n := map[string]int{}
		for _, d := range ds {
			n[d.Type]++
		}
		return n
	}
	assert.Equal(t, map[string]int{"OrderCreated": 6 + 2}, types(onOrders), "orders holds the OrderCreated events, the retry's two included")
	assert.Equal(t, map[string]int{"PaymentCaptured": 4}, types(onPayments), "payments holds only its own")
	var retried []string
	for _, d := range onOrders {
		if d.Key == "retried-1" {
			retried = append(retried, d.ID)
		}
	}
	sort.Strings(retried)
	sort.Strings(eventIDs)
	assert.Equal(t, eventIDs, retried, "both publishes arrived, under their own event ids")

	// One consumer per route, as the stack deploys them.
	var procs []*proc
	for _, r := range routes {
		r.s.env = append(r.s.env, "EDW_ROUTE="+r.name)
		procs = append(procs, consumer(t, r.s, "--exit-when-idle=3s", "--receivers=1"))
	}
	for _, p := range procs {
		finish(t, p, 2*time.Minute)
	}

	rows := dynamoRows(t, ddb, envValue(orders.env, "EDW_TABLE_NAME"))
	perRoute := map[string]int{}
	for id, r := range rows {
		perRoute[r.route]++
		assert.True(t, strings.HasPrefix(id, r.route+":"), "id %s carries its route %s", id, r.route)
		assert.Equal(t, "edw.producer", r.source, id)
		assert.Equal(t, map[string]string{"orders": "OrderCreated", "payments": "PaymentCaptured"}[r.route], r.typ, id)
	}
	assert.Equal(t, map[string]int{"orders": 6 + 1, "payments": 4}, perRoute, "each route its events; the retry one row; ShipmentScheduled nowhere")
	assert.Contains(t, rows, "orders:retried-1")

	ids := orders.rows(t)
	for _, p := range orders.writes.problems(ids) {
		t.Error(p)
	}
	var retriedWrites []int
	for _, w := range orders.writes.all() {
		if w.id == "orders:retried-1" {
			retriedWrites = append(retriedWrites, w.status)
		}
	}
	assert.Len(t, retriedWrites, 2, "the tap saw the retry's second write, and the table refused it: %v", retriedWrites)
	for _, s := range []*stack{orders, payments} {
		assert.Equal(t, 0, s.len(t), "queue drained")
		assert.Equal(t, 0, s.dlqLen(t), "nothing dead-lettered")
	}
}

// eventGridMessage is an event as Event Grid writes it to a storage queue: one
// event per message, base64-encoded (see docs/routes-workload.md for the
// sources).
func eventGridMessage(raw []byte) string { return base64.StdEncoding.EncodeToString(raw) }

// TestRouteConsumerTakesEventGridDeliveries runs a route's consumer on Azurite
// with Microsoft's documented example events in both delivery schemas, an edw
// CloudEvent published twice (same key, new event id) and a malformed one.
func TestRouteConsumerTakesEventGridDeliveries(t *testing.T) {
	conn := need(t, "EDW_TEST_AZURITE_CONNECTION_STRING")
	s := azureStack(t, conn)
	examples := map[string]string{}
	for _, f := range []string{"eventgrid-blob-created.json", "eventgrid-custom-topic.json", "cloudevent-blob-created.json"} {
		raw, err := os.ReadFile(filepath.Join("..", "internal", "message", "testdata", "events", f))
		require.NoError(t, err)
		examples[f] = eventGridMessage(raw)
	}
	stamp := time.Now().UTC().Format("2006-01-02 15:04:05.000000")
	edw := func(eventID string) string {
		return eventGridMessage([]byte(`{"specversion":"1.0","id":"` + eventID + `","source":"edw.producer","type":"edw.work",` +
			`"time":"2026-12-02T10:00:00Z","datacontenttype":"application/json","idempotencykey":"k-1",` +
			`"data":{"metadata":{"idempotency-key":"k-1"},"data":{"id":"k-1","msg":"work 1","srcStamp":"` + stamp + `"}}}`))
	}
	malformed := eventGridMessage([]byte(`{"specversion":"1.0","id":"bad-1","source":"edw.producer","type":"edw.work",` +
		`"data":{"metadata":{"idempotency-key":["k"]},"data":{}}}`))
	for _, m := range examples {
		s.send(t, m)
	}
	s.send(t, edw("ce-1"), edw("ce-2"), malformed)
	s.env = append(s.env, "EDW_ROUTE=blobs")
	p := consumer(t, s, "--exit-when-idle=3s")
	finish(t, p, time.Minute)

	tsvc, err := aztables.NewServiceClientFromConnectionString(conn, nil)
	require.NoError(t, err)
	pager := tsvc.NewClient(envValue(s.env, "EDW_TABLE_NAME")).NewListEntitiesPager(nil)
	got := map[string]row{}
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		require.NoError(t, err)
		for _, raw := range page.Entities {
			var e struct{ RowKey, Route, Source, Type, Msg string }
			require.NoError(t, json.Unmarshal(raw, &e))
			got[e.RowKey] = row{route: e.Route, source: e.Source, typ: e.Type}
		}
	}
	assert.Equal(t, map[string]row{
		"blobs:831e1650-001e-001b-66ab-eeb76e069631": {"blobs",
			"/subscriptions/{subscription-id}/resourceGroups/Storage/providers/Microsoft.Storage/storageAccounts/xstoretestaccount", "Microsoft.Storage.BlobCreated"},
		"blobs:b68529f3-68cd-4744-baa4-3c0498ec19e2": {"blobs",
			"/subscriptions/{subscription-id}/resourceGroups/Storage/providers/Microsoft.EventGrid/topics/myeventgridtopic", "recordInserted"},
		"blobs:9aeb0fdf-c01e-0131-0922-9eb54906e209": {"blobs",
			"/subscriptions/{subscription-id}/resourceGroups/{resource-group}/providers/Microsoft.Storage/storageAccounts/{storage-account}", "Microsoft.Storage.BlobCreated"},
		"blobs:k-1": {"blobs", "edw.producer", "edw.work"},
	}, got, "keyed by event id (Microsoft's examples carry no key) or the idempotency key; the retry one row")
	for _, p := range s.writes.problems(s.rows(t)) {
		t.Error(p)
	}
	assert.Equal(t, 1, s.dlqLen(t), "the malformed event went to the poison queue")
	assert.Contains(t, p.logs.String(), `\"data.metadata.idempotency-key\" must be a string, not an array`, "and the log says why")
	assert.Equal(t, 0, s.len(t))
}

// TestProducerPublishesUnderIAMEnforcement runs the producer --via router
// through the IRSA web-identity path on a moto that enforces IAM: with a role
// allowed events:PutEvents its events reach the bus (and a rule's queue);
// with the queue producer's policy instead (sqs:SendMessage only) PutEvents
// is denied and the producer says so and fails.
//
// moto evaluates EventBridge calls against resource "*" (only SQS names the
// resource it authorizes), so the role's statement names "*" here, as the
// DynamoDB statements do in TestStackPoliciesUnderRealIAMEvaluation: moto
// checks the action, not the bus. That the stack scopes the statement to its
// bus's ARN is for the stack's own tests to assert; a PutEvents on another bus
// cannot be shown denied on moto.
func TestProducerPublishesUnderIAMEnforcement(t *testing.T) {
	m := startMotoIAM(t)
	ctx := context.Background()
	admin := aws.Config{Region: "us-east-1", Credentials: credentials.StaticCredentialsProvider{Value: m.admin}}
	eb := eventbridge.NewFromConfig(admin, func(o *eventbridge.Options) { o.BaseEndpoint = aws.String(m.endpoint) })
	sq := sqs.NewFromConfig(admin, func(o *sqs.Options) { o.BaseEndpoint = aws.String(m.endpoint) })

	bus := unique("edw-bus-")
	_, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: &bus})
	require.NoError(t, err)
	q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(unique("edw-route"))})
	require.NoError(t, err)
	_, err = eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("all"), EventBusName: &bus,
		EventPattern: aws.String(eventPattern(t, routeFilter{name: "all", sources: []string{"edw.producer"}}))})
	require.NoError(t, err)
	_, err = eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("all"), EventBusName: &bus,
		Targets: []ebtypes.Target{{Id: aws.String("queue"), Arn: aws.String(queueARN(t, sq, *q.QueueUrl))}}})
	require.NoError(t, err)

	policy := func(action string) string {
		raw, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []map[string]any{
			{"Effect": "Allow", "Action": []string{action}, "Resource": "*"}}})
		require.NoError(t, err)
		return string(raw)
	}
	publish := func(t *testing.T, action string) ran {
		env := append([]string{"EDW_CLOUD=aws", "EDW_EVENT_BUS_NAME=" + bus}, m.irsaEnv(t, m.role(t, unique("edw-producer-"), policy(action)))...)
		return runBinary(t, bin.producer, env, time.Minute, "--via=router", "--count=5", "--quiet")
	}

	allowed := publish(t, "events:PutEvents")
	require.Equal(t, 0, allowed.code, allowed.stderr)
	assert.NotContains(t, allowed.stderr, denied)
	assert.Equal(t, 5, sqsCount(t, sq, *q.QueueUrl), "the five events reached the bus and its rule's queue")

	refused := publish(t, "sqs:SendMessage")
	assert.NotEqual(t, 0, refused.code)
	assert.Contains(t, refused.stderr, denied, "without events:PutEvents the producer is denied")
	assert.Contains(t, refused.stderr, "bus "+bus, "and the error names the bus")
	assert.Equal(t, 5, sqsCount(t, sq, *q.QueueUrl), "nothing more arrived")
}

// TestAPublisherRetryIsOneRow makes the producer's own retry happen: a proxy in
// front of moto forwards the first PutEvents (EventBridge accepts and delivers
// it) and then answers 500, as a call whose answer was lost, so the SDK sends
// the call again and every event arrives twice under two event ids with one
// key. The route's consumer makes one row per key; the tap sees the second
// write of each refused.
func TestAPublisherRetryIsOneRow(t *testing.T) {
	moto, ddb := need(t, "EDW_TEST_MOTO_ENDPOINT"), need(t, "EDW_TEST_DYNAMODB_ENDPOINT")
	ctx := context.Background()
	sq := sqsClient(moto)
	eb := eventbridge.NewFromConfig(testAWS, func(o *eventbridge.Options) { o.BaseEndpoint = aws.String(moto) })
	s := awsStack(t, moto, ddb, 30)
	bus := unique("edw-bus-")
	_, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: &bus})
	require.NoError(t, err)
	_, err = eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("work"), EventBusName: &bus,
		EventPattern: aws.String(eventPattern(t, routeFilter{name: "work", types: []string{"edw.work"}}))})
	require.NoError(t, err)
	_, err = eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("work"), EventBusName: &bus,
		Targets: []ebtypes.Target{{Id: aws.String("queue"), Arn: aws.String(queueARN(t, sq, envValue(s.env, "EDW_QUEUE_URL")))}}})
	require.NoError(t, err)

	target, err := url.Parse(moto)
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(target)
	var lost atomic.Bool
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".PutEvents") && lost.CompareAndSwap(false, true) {
			rp.ServeHTTP(httptest.NewRecorder(), r) // delivered, answer lost
			http.Error(w, `{"__type":"InternalException","message":"answer lost"}`, http.StatusInternalServerError)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)

	env := []string{"EDW_CLOUD=aws", "EDW_EVENT_BUS_NAME=" + bus, "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test", "AWS_ENDPOINT_URL_EVENTBRIDGE=" + proxy.URL}
	r := runBinary(t, bin.producer, env, time.Minute, "--via=router", "--count=3", "--concurrency=1", "--quiet")
	require.Equal(t, 0, r.code, r.stderr)
	require.True(t, lost.Load(), "the first call's answer was lost")

	events := peek(t, sq, envValue(s.env, "EDW_QUEUE_URL"))
	ids, keys := map[string]bool{}, map[string]int{}
	for _, e := range events {
		ids[e.ID] = true
		keys[e.Key]++
	}
	require.Len(t, events, 6, "three events, each delivered twice")
	assert.Len(t, ids, 6, "under six event ids")
	assert.Len(t, keys, 3, "with three keys")

	s.env = append(s.env, "EDW_ROUTE=work")
	finish(t, consumer(t, s, "--exit-when-idle=3s", "--receivers=1"), 2*time.Minute)
	rows := s.rows(t)
	assert.Len(t, rows, 3, "one row per key")
	for key := range keys {
		assert.Equal(t, 1, rows["work:"+key])
	}
	assert.Empty(t, s.writes.problems(rows))
	assert.Len(t, s.writes.all(), 6, "six writes, three refused as duplicates")
	assert.Equal(t, 0, s.len(t))
}

// routerProducerCalls runs the producer with --via router against a bus on
// moto, through a recorder, and returns the calls it made: the permissions test
// holds them to the table's producer entries for the bus.
func routerProducerCalls(t *testing.T) []string {
	t.Helper()
	moto := need(t, "EDW_TEST_MOTO_ENDPOINT")
	eb := eventbridge.NewFromConfig(testAWS, func(o *eventbridge.Options) { o.BaseEndpoint = aws.String(moto) })
	bus := unique("edw-bus-")
	_, err := eb.CreateEventBus(context.Background(), &eventbridge.CreateEventBusInput{Name: &bus})
	require.NoError(t, err)
	rec := newRecorder(t, moto, awsOperation, nil)
	env := []string{"EDW_CLOUD=aws", "EDW_EVENT_BUS_NAME=" + bus, "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test", "AWS_ENDPOINT_URL_EVENTBRIDGE=" + rec.proxy.URL}
	r := runBinary(t, bin.producer, env, time.Minute, "--via=router", "--count=12", "--quiet")
	require.Equal(t, 0, r.code, r.stderr)
	return rec.seen()
}

package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// permissionsTable is internal/permissions/calls.json of the infra module: every
// call the workload makes and the permission it needs. The stacks render the
// workload's IAM policies and Azure roles from it.
type permissionsTable map[string]map[string][]struct {
	Call, Action, On string
}

func loadPermissions(t *testing.T) permissionsTable {
	t.Helper()
	raw, err := os.ReadFile("../../internal/permissions/calls.json")
	require.NoError(t, err)
	var all map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &all))
	p := permissionsTable{}
	for _, cloud := range []string{"aws", "azure"} {
		var ids map[string][]struct{ Call, Action, On string }
		require.NoError(t, json.Unmarshal(all[cloud], &ids))
		p[cloud] = ids
	}
	return p
}

func (p permissionsTable) calls(cloud, identity string) []string {
	return p.callsExcept(cloud, identity, "")
}

// callsExcept is calls without the entries on the resource role except names.
func (p permissionsTable) callsExcept(cloud, identity, except string) []string {
	var out []string
	for _, n := range p[cloud][identity] {
		if except != "" && n.On == except {
			continue
		}
		if !slices.Contains(out, n.Call) {
			out = append(out, n.Call)
		}
	}
	sort.Strings(out)
	return out
}

// recorder is a reverse proxy in front of an emulator that records the name of
// every operation that passes, and can slow some down.
type recorder struct {
	mu    sync.Mutex
	ops   map[string]bool
	name  func(*http.Request) string
	slow  map[string]time.Duration
	proxy *httptest.Server
}

func newRecorder(t *testing.T, target string, name func(*http.Request) string, slow map[string]time.Duration) *recorder {
	t.Helper()
	u, err := url.Parse(target)
	require.NoError(t, err)
	r := &recorder{ops: map[string]bool{}, name: name, slow: slow}
	rp := httputil.NewSingleHostReverseProxy(u)
	r.proxy = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		op := r.name(req)
		r.mu.Lock()
		r.ops[op] = true
		r.mu.Unlock()
		if d := r.slow[op]; d > 0 {
			time.Sleep(d)
		}
		rp.ServeHTTP(w, req)
	}))
	t.Cleanup(r.proxy.Close)
	return r
}

func (r *recorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for op := range r.ops {
		out = append(out, op)
	}
	sort.Strings(out)
	return out
}

// awsOperation is the operation of an AWS JSON-protocol request.
func awsOperation(r *http.Request) string { return r.Header.Get("X-Amz-Target") }

var azureMessageID = regexp.MustCompile(`/messages/[^/]+$`)

// azureOperation names an Azure Storage REST request as Azure's permission
// tables do.
func azureOperation(r *http.Request) string {
	q, path := r.URL.Query(), r.URL.Path
	switch {
	case strings.HasSuffix(path, "/messages") && r.Method == http.MethodGet && q.Get("peekonly") == "true":
		return "PeekMessages"
	case strings.HasSuffix(path, "/messages") && r.Method == http.MethodGet:
		return "GetMessages"
	case strings.HasSuffix(path, "/messages") && r.Method == http.MethodPost:
		return "PutMessage"
	case strings.HasSuffix(path, "/messages") && r.Method == http.MethodDelete:
		return "ClearMessages"
	case azureMessageID.MatchString(path) && r.Method == http.MethodPut:
		return "UpdateMessage"
	case azureMessageID.MatchString(path) && r.Method == http.MethodDelete:
		return "DeleteMessage"
	case q.Get("comp") == "metadata" && r.Method == http.MethodGet:
		return "GetQueueMetadata"
	case strings.HasSuffix(path, "/Tables") || strings.Contains(path, "/Tables("):
		return "Tables:" + r.Method
	case r.Method == http.MethodPost:
		return "InsertEntity"
	case r.Method == http.MethodGet:
		return "QueryEntities"
	}
	return r.Method + " " + path
}

// TestEveryCallTheWorkloadMakesIsInThePermissionsTable runs the real producer
// and consumer through recording proxies over every path that calls the cloud
// (start-up check, send, receive, write, a write slow enough to need a
// visibility extension, a redelivered id with other content, a malformed
// message dead-lettered), and compares the calls seen with the permissions
// table both ways: a new call the table lacks fails here, before a real account
// denies it; a table entry nothing calls is a permission granted for nothing.
func TestEveryCallTheWorkloadMakesIsInThePermissionsTable(t *testing.T) {
	perms := loadPermissions(t)
	const slowWrite = 3 * time.Second // longer than half the 2s visibility timeout
	t.Run("aws", func(t *testing.T) {
		sqsEndpoint, ddbEndpoint := need(t, "EDW_TEST_SQS_ENDPOINT"), need(t, "EDW_TEST_DYNAMODB_ENDPOINT")
		s := awsStack(t, sqsEndpoint, ddbEndpoint, 2)
		var logs string
		run := func(identity string, slow map[string]time.Duration, body func(env []string)) []string {
			sq := newRecorder(t, sqsEndpoint, awsOperation, slow)
			db := newRecorder(t, ddbEndpoint, awsOperation, slow)
			var env []string
			for _, kv := range s.env {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "EDW_QUEUE_URL", "EDW_DLQ_URL":
					v = atEndpoint(v, sq.proxy.URL)
				case "AWS_ENDPOINT_URL_SQS":
					v = sq.proxy.URL
				case "AWS_ENDPOINT_URL_DYNAMODB":
					v = db.proxy.URL
				}
				env = append(env, k+"="+v)
			}
			body(env)
			return append(sq.seen(), db.seen()...)
		}
		produced := run("producer", nil, func(env []string) {
			r := runBinary(t, bin.producer, env, time.Minute, "--count=25", "--quiet")
			require.Equal(t, 0, r.code, r.stderr)
		})
		produced = append(produced, routerProducerCalls(t)...)
		s.send(t, `{"msg":`, `{"id":"dup-1","msg":"first","srcStamp":"2026-11-25 10:00:00.000000"}`)
		consumed := run("consumer", map[string]time.Duration{"DynamoDB_20120810.PutItem": slowWrite}, func(env []string) {
			r := runBinary(t, bin.consumer, env, 3*time.Minute, "--exit-when-idle=4s", "--wait=1s", "--visibility-timeout=2s", "--metrics-addr=127.0.0.1:0")
			require.Equal(t, 0, r.code, tail(r.stderr, 3000))
			logs += r.stderr
		})
		s.send(t, `{"id":"dup-1","msg":"second","srcStamp":"2026-11-25 10:00:01.000000"}`)
		consumed = append(consumed, run("consumer", nil, func(env []string) {
			r := runBinary(t, bin.consumer, env, 2*time.Minute, "--exit-when-idle=3s", "--wait=1s", "--metrics-addr=127.0.0.1:0")
			require.Equal(t, 0, r.code, tail(r.stderr, 3000))
			logs += r.stderr
		})...)
		assert.Equal(t, perms.calls("aws", "producer"), dedupe(produced), "producer calls vs the permissions table")
		assert.Equal(t, perms.calls("aws", "consumer"), dedupe(consumed), "consumer calls vs the permissions table")
		assert.Equal(t, 1, s.dlqLen(t), "the malformed message, and only it, was dead-lettered; consumer logs:\n%s", tail(logs, 4000))
	})
	t.Run("azure", func(t *testing.T) {
		conn := need(t, "EDW_TEST_AZURITE_CONNECTION_STRING")
		s := azureStack(t, conn)
		var logs string
		queueEndpoint, tableEndpoint := connField(conn, "QueueEndpoint"), connField(conn, "TableEndpoint")
		run := func(slow map[string]time.Duration, body func(env []string)) []string {
			qr := newRecorder(t, origin(queueEndpoint), azureOperation, slow)
			tr := newRecorder(t, origin(tableEndpoint), azureOperation, slow)
			proxied := strings.NewReplacer(origin(queueEndpoint), qr.proxy.URL, origin(tableEndpoint), tr.proxy.URL).Replace(conn)
			var env []string
			for _, kv := range s.env {
				if strings.HasPrefix(kv, "AZURE_STORAGE_CONNECTION_STRING=") {
					kv = "AZURE_STORAGE_CONNECTION_STRING=" + proxied
				}
				env = append(env, kv)
			}
			body(env)
			return append(qr.seen(), tr.seen()...)
		}
		produced := run(nil, func(env []string) {
			r := runBinary(t, bin.producer, env, time.Minute, "--count=25", "--quiet")
			require.Equal(t, 0, r.code, r.stderr)
		})
		s.send(t, `{"msg":`, `{"id":"dup-1","msg":"first","srcStamp":"2026-11-25 10:00:00.000000"}`)
		consumed := run(map[string]time.Duration{"InsertEntity": slowWrite}, func(env []string) {
			r := runBinary(t, bin.consumer, env, 3*time.Minute, "--exit-when-idle=4s", "--wait=1s", "--visibility-timeout=2s", "--metrics-addr=127.0.0.1:0")
			require.Equal(t, 0, r.code, tail(r.stderr, 3000))
			logs += r.stderr
		})
		s.send(t, `{"id":"dup-1","msg":"second","srcStamp":"2026-11-25 10:00:01.000000"}`)
		consumed = append(consumed, run(nil, func(env []string) {
			r := runBinary(t, bin.consumer, env, 2*time.Minute, "--exit-when-idle=3s", "--wait=1s", "--metrics-addr=127.0.0.1:0")
			require.Equal(t, 0, r.code, tail(r.stderr, 3000))
			logs += r.stderr
		})...)
		// No Event Grid emulator runs here, so the producer's publish to the topic
		// (the table's producer entry on "topic") is not seen by this test; the
		// router package's test holds the request to a local server instead.
		assert.Equal(t, perms.callsExcept("azure", "producer", "topic"), dedupe(produced), "producer calls vs the permissions table")
		assert.Equal(t, perms.calls("azure", "consumer"), dedupe(consumed), "consumer calls vs the permissions table")
		assert.Equal(t, 1, s.dlqLen(t), "the malformed message, and only it, went to the poison queue; consumer logs:\n%s", tail(logs, 4000))
	})
}

func dedupe(ops []string) []string {
	sort.Strings(ops)
	return slices.Compact(ops)
}

// connField reads one field of an Azure Storage connection string.
func connField(conn, key string) string {
	for _, part := range strings.Split(conn, ";") {
		if k, v, ok := strings.Cut(part, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// origin is scheme://host:port of an endpoint URL.
func origin(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return endpoint
	}
	return fmt.Sprintf("%s://%s", u.Scheme, u.Host)
}

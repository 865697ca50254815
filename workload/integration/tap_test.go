package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The table tap is a recording reverse proxy between a consumer and its table
// service. A table keyed by id cannot tell one write from an overwrite; the tap
// sees every write request and the service's answer, so "written once" is proved
// from the writes themselves, not from the rows they left behind.

// tableWrite is one write request the tap forwarded.
type tableWrite struct {
	id string
	by string // the consumer that sent it
	// status is the service's answer; 0 when no answer came (the service was down
	// or the connection broke), so the write may or may not have landed.
	status int
	at     time.Time
}

// accepted reports whether the service wrote the row.
func (w tableWrite) accepted() bool { return w.status >= 200 && w.status < 300 }

// writeLog collects the writes of every consumer of one stack.
type writeLog struct {
	mu       sync.Mutex
	writes   []tableWrite
	unparsed []string // write requests the tap could not attribute to an id
}

func (l *writeLog) add(w tableWrite) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes = append(l.writes, w)
}

func (l *writeLog) all() []tableWrite {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.writes)
}

// acceptedBy counts the writes each consumer made that the service accepted.
func (l *writeLog) acceptedBy() map[string]int {
	n := map[string]int{}
	for _, w := range l.all() {
		if w.accepted() {
			n[w.by]++
		}
	}
	return n
}

// problems compares the writes with the rows left in the table: every row was
// written by exactly one accepted write (or by a write whose answer was lost, when
// the service went away mid-request), and no accepted write is missing its row.
func (l *writeLog) problems(rows map[string]int) []string {
	accepted, unanswered := map[string]int{}, map[string]int{}
	for _, w := range l.all() {
		switch {
		case w.accepted():
			accepted[w.id]++
		case w.status == 0:
			unanswered[w.id]++
		}
	}
	var out []string
	for id, n := range accepted {
		if n > 1 {
			out = append(out, fmt.Sprintf("id %s written %d times (accepted writes seen by the tap)", id, n))
		}
		if rows[id] == 0 {
			out = append(out, fmt.Sprintf("id %s: write accepted but no row", id))
		}
	}
	for id := range rows {
		if accepted[id] == 0 && unanswered[id] == 0 {
			out = append(out, fmt.Sprintf("id %s has a row but the tap saw no write for it", id))
		}
	}
	l.mu.Lock()
	for _, u := range l.unparsed {
		out = append(out, "a write the tap could not attribute: "+u)
	}
	l.mu.Unlock()
	slices.Sort(out)
	return out
}

// tableService says how to find the table endpoint in a stack's environment and
// the id in a write request.
type tableService struct {
	// upstream is the real table endpoint (scheme://host:port).
	upstream string
	// via rewrites env so the table endpoint is proxy (scheme://host:port).
	via func(env []string, proxy string) []string
	// writes returns the ids a request writes; ok is false for requests that
	// write nothing (reads, table management).
	writes func(r *http.Request, body []byte) (ids []string, ok bool, err error)
	// remove deletes the row a write is about to write. Only the overwriting
	// break uses it.
	remove func(r *http.Request, body []byte, id string) error
}

// tap starts a recording proxy for one consumer and returns the environment that
// sends its table writes through it.
func (s *stack) tap(t testing.TB, by string) []string {
	t.Helper()
	target, err := url.Parse(s.table.upstream)
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(target)
	// Host stays as the client sent it: SigV4 signs it.
	var serial sync.Mutex
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		ids, isWrite, err := s.table.writes(r, body)
		if err != nil {
			s.writes.mu.Lock()
			s.writes.unparsed = append(s.writes.unparsed, fmt.Sprintf("%s %s: %v", r.Method, r.URL.Path, err))
			s.writes.mu.Unlock()
		}
		if !isWrite {
			rp.ServeHTTP(w, r)
			return
		}
		if s.overwrite {
			// The deliberately broken store: every write lands, as an unconditional
			// put would. Serialised, so concurrent writes of one id all land.
			serial.Lock()
			defer serial.Unlock()
			for _, id := range ids {
				if err := s.table.remove(r, body, id); err != nil {
					t.Errorf("overwrite break: remove %s: %v", id, err)
				}
			}
		}
		rec := &statusRecorder{ResponseWriter: w}
		rp.ServeHTTP(rec, r)
		for _, id := range ids {
			s.writes.add(tableWrite{id: id, by: by, status: rec.upstream(), at: time.Now()})
		}
	})
	rp.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, err error) {
		w.(*statusRecorder).unanswered = true
		http.Error(w, err.Error(), http.StatusBadGateway)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s.table.via(s.env, "http://"+l.Addr().String())
}

// statusRecorder keeps the status of the upstream's answer; the proxy's own 502
// for an upstream that did not answer is recorded as no answer.
type statusRecorder struct {
	http.ResponseWriter
	status     int
	unanswered bool
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) upstream() int {
	if s.unanswered {
		return 0
	}
	return s.status
}

// replaceEnv sets name=value in env.
func replaceEnv(env []string, name, value string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return append(out, name+"="+value)
}

// dynamoTable is DynamoDB's JSON protocol: the operation is in X-Amz-Target.
func dynamoTable(endpoint string, remove func(id string) error) tableService {
	return tableService{
		upstream: endpoint,
		via: func(env []string, proxy string) []string {
			return replaceEnv(env, "AWS_ENDPOINT_URL_DYNAMODB", proxy)
		},
		writes: func(r *http.Request, body []byte) ([]string, bool, error) {
			type item map[string]struct{ S string }
			op := r.Header.Get("X-Amz-Target")
			op = op[strings.LastIndex(op, ".")+1:]
			switch op {
			case "PutItem", "UpdateItem":
				var req struct{ Item, Key item }
				if err := json.Unmarshal(body, &req); err != nil {
					return nil, true, err
				}
				id := req.Item["id"].S + req.Key["id"].S
				if id == "" {
					return nil, true, fmt.Errorf("%s without an id", op)
				}
				return []string{id}, true, nil
			case "BatchWriteItem", "TransactWriteItems", "DeleteItem":
				return nil, false, fmt.Errorf("%s: the tap counts single-item writes only", op)
			}
			return nil, false, nil
		},
		remove: func(_ *http.Request, _ []byte, id string) error { return remove(id) },
	}
}

// entityPath is an Azure Table entity address: /account/table(PartitionKey='p',RowKey='r').
var entityPath = regexp.MustCompile(`\(PartitionKey='([^']*)',\s*RowKey='([^']*)'\)$`)

// azureTable is the Azure Table REST API: insert is POST to the table, update,
// merge and upsert address the entity.
func azureTable(conn string, remove func(partition, row string) error) tableService {
	var upstream string
	for _, part := range strings.Split(conn, ";") {
		if v, ok := strings.CutPrefix(part, "TableEndpoint="); ok {
			if u, err := url.Parse(v); err == nil {
				upstream = u.Scheme + "://" + u.Host
			}
		}
	}
	return tableService{
		upstream: upstream,
		via: func(env []string, proxy string) []string {
			return replaceEnv(env, "AZURE_STORAGE_CONNECTION_STRING", strings.Replace(conn, upstream, proxy, 1))
		},
		writes: func(r *http.Request, body []byte) ([]string, bool, error) {
			path, _ := url.PathUnescape(r.URL.Path)
			switch {
			case strings.HasSuffix(path, "$batch"):
				return nil, false, fmt.Errorf("batch: the tap counts single-entity writes only")
			case r.Method == http.MethodPost && strings.Count(strings.Trim(path, "/"), "/") == 1 &&
				!strings.HasSuffix(path, "/Tables"):
				var e struct{ RowKey string }
				if err := json.Unmarshal(body, &e); err != nil || e.RowKey == "" {
					return nil, true, fmt.Errorf("insert without a RowKey: %v", err)
				}
				return []string{e.RowKey}, true, nil
			case r.Method == http.MethodPut || r.Method == "MERGE" || r.Method == http.MethodPatch:
				m := entityPath.FindStringSubmatch(path)
				if m == nil {
					return nil, true, fmt.Errorf("%s %s: not an entity", r.Method, path)
				}
				return []string{m[2]}, true, nil
			}
			return nil, false, nil
		},
		remove: func(r *http.Request, body []byte, id string) error {
			var e struct{ PartitionKey string }
			if err := json.Unmarshal(body, &e); err != nil {
				return err
			}
			if m := entityPath.FindStringSubmatch(r.URL.Path); m != nil {
				e.PartitionKey = m[1]
			}
			return remove(e.PartitionKey, id)
		},
	}
}

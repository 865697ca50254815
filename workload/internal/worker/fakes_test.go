package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/edw-dev/edw/workload/internal/failure"
	"github.com/edw-dev/edw/workload/internal/queue"
	"github.com/edw-dev/edw/workload/internal/store"
)

// memQueue is an in-memory queue with SQS's semantics: received messages are
// hidden for a visibility timeout, each receive issues a new handle, and only the
// latest handle deletes.
type memQueue struct {
	mu         sync.Mutex
	visibility time.Duration
	seq        int
	msgs       map[string]*memMsg
	order      []string
	dlq        [][]byte
	reasons    []string
	deletes    int
	failDelete int // fail this many Delete calls
	// receiveErr, while set, fails every Receive, as an unreachable queue does.
	receiveErr error
}

type memMsg struct {
	body     []byte
	received int
	hidden   time.Time
	handle   string
}

func newMemQueue(visibility time.Duration) *memQueue {
	return &memQueue{visibility: visibility, msgs: map[string]*memMsg{}}
}

func (q *memQueue) MaxBatch() int { return 10 }

func (q *memQueue) Check(context.Context) error { return nil }

func (q *memQueue) add(body string) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.seq++
	id := fmt.Sprintf("qid-%04d", q.seq)
	q.msgs[id] = &memMsg{body: []byte(body)}
	q.order = append(q.order, id)
	return id
}

func (q *memQueue) Receive(ctx context.Context, max int, wait time.Duration) ([]*queue.Message, error) {
	deadline := time.Now().Add(wait)
	for {
		q.mu.Lock()
		if err := q.receiveErr; err != nil {
			q.mu.Unlock()
			return nil, err
		}
		var out []*queue.Message
		now := time.Now()
		for _, id := range q.order {
			m, ok := q.msgs[id]
			if !ok || now.Before(m.hidden) {
				continue
			}
			q.seq++
			m.received++
			m.hidden = now.Add(q.visibility)
			m.handle = fmt.Sprintf("h-%d", q.seq)
			out = append(out, &queue.Message{ID: id, Body: m.body, ReceiveCount: m.received, Handle: m.handle})
			if len(out) == max {
				break
			}
		}
		q.mu.Unlock()
		if len(out) > 0 || time.Now().After(deadline) {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func (q *memQueue) Delete(ctx context.Context, msgs []*queue.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.failDelete > 0 {
		q.failDelete--
		return errors.New("delete: injected failure")
	}
	for _, m := range msgs {
		if cur, ok := q.msgs[m.ID]; ok && cur.handle == m.Handle {
			delete(q.msgs, m.ID)
			q.deletes++
		}
	}
	return nil
}

func (q *memQueue) Extend(_ context.Context, m *queue.Message, d time.Duration) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if cur, ok := q.msgs[m.ID]; ok && cur.handle == m.Handle {
		cur.hidden = time.Now().Add(d)
	}
	return nil
}

func (q *memQueue) DeadLetter(_ context.Context, m *queue.Message, reason string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.dlq = append(q.dlq, m.Body)
	q.reasons = append(q.reasons, reason)
	return nil
}

func (q *memQueue) Send(_ context.Context, bodies [][]byte) error {
	for _, b := range bodies {
		q.add(string(b))
	}
	return nil
}

func (q *memQueue) Len(context.Context) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.msgs), nil
}

func (q *memQueue) remaining() int {
	n, _ := q.Len(context.Background())
	return n
}

// memStore keeps results by id and can fail or stall on demand.
type memStore struct {
	mu      sync.Mutex
	rows    map[string]store.Result
	puts    int
	failFor map[string]bool // ids whose writes always fail
	failN   int             // fail this many writes, any id
	gate    chan struct{}   // when set, writes wait for it to close
	entered chan struct{}   // when set, signalled as each write starts
	// rejectFor are ids whose writes the backend refuses for their content.
	rejectFor map[string]bool
	// maxMsg, when positive, is the longest msg Validate accepts.
	maxMsg int
}

func (s *memStore) Check(context.Context) error { return nil }

func (s *memStore) Validate(r store.Result) error {
	if s.maxMsg > 0 && len(r.Msg) > s.maxMsg {
		return failure.Permanent(fmt.Errorf("msg is %d characters, more than %d", len(r.Msg), s.maxMsg))
	}
	return nil
}

func newMemStore() *memStore {
	return &memStore{rows: map[string]store.Result{}, failFor: map[string]bool{}}
}

func (s *memStore) Put(ctx context.Context, r store.Result) (bool, error) {
	if s.entered != nil {
		select {
		case s.entered <- struct{}{}:
		default:
		}
	}
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.puts++
	if s.failFor[r.ID] {
		return false, errors.New("put: injected failure")
	}
	if s.failN > 0 {
		s.failN--
		return false, errors.New("put: injected transient failure")
	}
	if s.rejectFor[r.ID] {
		return false, failure.Permanent(errors.New("put: PropertyValueTooLarge"))
	}
	if old, ok := s.rows[r.ID]; ok {
		if old.Msg != r.Msg || !old.SrcStamp.Equal(r.SrcStamp) {
			return false, &store.ConflictError{ID: r.ID, Existing: old}
		}
		return false, nil
	}
	s.rows[r.ID] = r
	return true, nil
}

func (s *memStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.rows)
}

package lab

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestRoutesScaleOnTheirOwn: two routes of one stack, as rendered (aws-routes),
// each with its Deployment, TriggerAuthentication and ScaledObject on its own
// queue. The real KEDA operator scales the route that has work from zero and
// back, while the other route, whose queue stays empty, never gets a replica:
// the routes share a namespace, a service account and a table, and nothing else.
// The router's delivery to the right queue is proven on moto's EventBridge
// (workload/integration TestRoutesOnEventBridge); here the messages go straight
// to the busy route's queue.
func TestRoutesScaleOnTheirOwn(t *testing.T) {
	t.Parallel()
	l := lab(t)
	if l.env.SQSEndpoint3 == "" || l.env.DynamoDBEndpoint3 == "" {
		t.Skip("needs a third SQS and DynamoDB pair (EDW_LAB_SQS_ENDPOINT_3, EDW_LAB_DYNAMODB_ENDPOINT_3): scripts/test-cluster.sh starts it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const busyRoute, idleRoute, n = "orders", "payments", 200
	at := func(route string) placement {
		return placement{namespace: "edw-routes", sqs: l.env.SQSEndpoint3, dynamodb: l.env.DynamoDBEndpoint3,
			scaled: "edw-consumer-" + route}
	}
	busy := startRun(ctx, t, "aws-routes", at(busyRoute))
	idle := startRun(ctx, t, "aws-routes", at(idleRoute))
	if busy.w.renderedEnv["EDW_QUEUE_URL"] == idle.w.renderedEnv["EDW_QUEUE_URL"] {
		t.Fatalf("both routes consume %s", busy.w.renderedEnv["EDW_QUEUE_URL"])
	}
	rule := busy.w.rule
	t.Logf("%s: min %d max %d queueLength %d polling %s cooldown %s; %s: queueLength %d",
		busyRoute, rule.Min, rule.Max, rule.Target, rule.Polling, rule.Cooldown, idleRoute, idle.w.rule.Target)

	start := time.Now()
	busy.tl, idle.tl = &timeline{start: start}, &timeline{start: start}
	// Samples both every second until done(busy) holds; every sample of the idle
	// route must show no replica, no process and an empty queue.
	var idleWrong []sample
	both := func(limit time.Duration, what string, done func(sample) bool) sample {
		t.Helper()
		deadline := time.Now().Add(limit)
		for {
			s := busy.tl.record(ctx, busy.w, busy.k, busy.cs, busy.hpa)
			o := idle.tl.record(ctx, idle.w, idle.k, idle.cs, idle.hpa)
			if o.Desired != 0 || o.Running != 0 || o.Backlog != 0 {
				idleWrong = append(idleWrong, o)
			}
			if done(s) {
				return s
			}
			for _, err := range []error{busy.op.Check(), l.cluster.Check()} {
				if err != nil {
					t.Fatal(err)
				}
			}
			if time.Now().After(deadline) {
				busy.tl.print(t, busyRoute+": timeline so far")
				idle.tl.print(t, idleRoute+": timeline so far")
				t.Fatalf("%s: not within %s", what, limit)
			}
			select {
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			case <-time.After(time.Until(start.Add(s.At + time.Second))):
			}
		}
	}
	// The Deployments are created with one replica; KEDA takes each idle one to zero.
	idle.until(ctx, t, rule.Polling+30*time.Second, idleRoute+" scales to zero", func(s sample) bool {
		return s.Desired == 0 && s.Running == 0
	})
	both(rule.Polling+30*time.Second, busyRoute+" scales to zero", func(s sample) bool { return s.Desired == 0 && s.Running == 0 })
	idleWrong = nil
	idleStarted := idle.k.Status().Started

	if err := busy.w.produce(ctx, l, n); err != nil {
		t.Fatal(err)
	}
	up := both(rule.Polling+time.Minute, busyRoute+" scales up", func(s sample) bool { return s.Desired >= 1 })
	both(3*time.Minute, fmt.Sprintf("%d rows", n), func(s sample) bool { return s.Rows >= n && s.Backlog == 0 })
	end := both(rule.Cooldown+rule.Polling+time.Minute, busyRoute+" scales back to zero", func(s sample) bool {
		return s.Desired == 0 && s.Running == 0
	})
	busy.tl.print(t, fmt.Sprintf("%s: %d messages on its queue, per second", busyRoute, n))
	idle.tl.print(t, idleRoute+": nothing on its queue, per second")
	t.Logf("%s scaled up at %s and back to zero at %s; %s stayed at zero for all %d samples",
		busyRoute, up.At, end.At, idleRoute, len(idle.tl.samples))

	for _, s := range idleWrong {
		t.Errorf("%s at %s: %d desired, %d running, backlog %s; its queue had no work", idleRoute, s.At, s.Desired, s.Running, known(s.Backlog))
	}
	rows, err := busy.w.backend.Rows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, row := range rows {
		ids[row.ID] = true
		// A route's consumer keys its results by route (workload contract).
		if !strings.HasPrefix(row.ID, busyRoute+":") {
			t.Errorf("row %q in the shared table is not keyed by the route %s", row.ID, busyRoute)
		}
	}
	if len(rows) != n || len(ids) != n {
		t.Errorf("want %d rows with distinct ids from %s, got %d rows, %d ids", n, busyRoute, len(rows), len(ids))
	}
	if st := idle.k.Status(); st.Started != idleStarted {
		t.Errorf("%s started %d consumer processes with nothing on its queue", idleRoute, st.Started-idleStarted)
	}
}

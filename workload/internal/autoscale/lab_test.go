//go:build labreport

// The lab's report exists only after the cluster lab ran, so this file is built
// only by scripts/test-cluster.sh (go test -tags labreport), where a missing
// report is a failure, never a skip; `go test ./...` does not compile it.

package autoscale

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"testing"
	"time"
)

// labReport is what the cluster lab (lab/zero_to_n_test.go) observed the real
// KEDA operator and HPA decide, with the ScaledObject's numbers as rendered.
type labReport struct {
	Rule struct {
		Min, Max, Target, Activation int
		CooldownMs, PollingMs        int
	} `json:"rule"`
	Decisions []struct {
		Backlog  int `json:"backlog"`
		Current  int `json:"current"`
		Desired  int `json:"desired"`
		CooledMs int `json:"cooledMs"`
		IdleMs   int `json:"idleMs"`
	} `json:"decisions"`
}

// TestRuleMatchesTheLab replays the lab's observations through the demo's rule:
// for the same backlog and replica count, the same decision. `make test-cluster`
// runs it with EDW_LAB_REPORT set, after the lab's TestKEDAAndHPAScaleZeroToN wrote it.
func TestRuleMatchesTheLab(t *testing.T) {
	path := os.Getenv("EDW_LAB_REPORT")
	if path == "" {
		t.Fatal("EDW_LAB_REPORT is not set: run this through `make test-cluster`, which writes the report")
	}
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s does not exist: the lab's TestKEDAAndHPAScaleZeroToN, which writes it, did not run or failed", path)
	}
	if err != nil {
		t.Fatalf("reading the lab report: %v", err)
	}
	var rep labReport
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Decisions) == 0 {
		t.Fatal("the lab recorded no decisions")
	}
	rule := Rule{MinReplicas: rep.Rule.Min, MaxReplicas: rep.Rule.Max, Target: rep.Rule.Target,
		Activation: rep.Rule.Activation, Cooldown: time.Duration(rep.Rule.CooldownMs) * time.Millisecond}
	polling := time.Duration(rep.Rule.PollingMs) * time.Millisecond
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, d := range rep.Decisions {
		s := &Scaler{Rule: rule}
		if d.IdleMs > 0 {
			// Inside the cooldown with an empty queue the HPA still owns the count,
			// and its default scale-down stabilization (300 s, longer than the
			// cooldown) holds the peak. The demo simulates that with Deployment
			// (KEDA's rule plus the HPA's behavior), so that is what must agree.
			dep := &Deployment{Rule: rule, Polling: polling, Behavior: DemoBehavior()}
			dep.Step(t0, d.Current*max(rule.Target, 1))
			idle := time.Duration(d.IdleMs) * time.Millisecond
			if got, _ := dep.Step(t0.Add(idle), 0); got != d.Desired {
				t.Errorf("empty queue %s into the cooldown with %d replicas: the lab's HPA kept %d, the demo's deployment %d",
					idle, d.Current, d.Desired, got)
			} else {
				t.Logf("empty queue %s into the cooldown with %d replicas: lab %d, demo %d", idle, d.Current, d.Desired, got)
			}
			continue
		}
		if d.CooledMs == 0 {
			got := s.Desired(t0, d.Backlog, d.Current)
			if got != d.Desired {
				t.Errorf("backlog %d with %d replicas: the lab's KEDA/HPA chose %d, the demo's rule %d", d.Backlog, d.Current, d.Desired, got)
			} else {
				t.Logf("backlog %d with %d replicas: lab %d, rule %d", d.Backlog, d.Current, d.Desired, got)
			}
			continue
		}
		// Scaled to zero CooledMs after the queue emptied. KEDA's last active poll
		// was up to one polling interval before that, so the rule must agree that
		// the workload stays up just before and goes to zero just after.
		s.Desired(t0, rule.Activation+1, d.Current)
		cooled := time.Duration(d.CooledMs) * time.Millisecond
		if got := s.Desired(t0.Add(cooled+polling), 0, d.Current); got != 0 {
			t.Errorf("the lab scaled to zero %s after the queue emptied; the rule still wants %d replicas %s later", cooled, got, polling)
		}
		if early := cooled - polling - time.Second; early > 0 {
			if got := s.Desired(t0.Add(early), 0, d.Current); got == 0 {
				t.Errorf("the lab held replicas until %s after the queue emptied; the rule had scaled to zero by %s", cooled, early)
			}
		}
		t.Logf("empty queue, %d replicas: lab scaled to zero after %s; rule cooldown %s agrees", d.Current, cooled, rule.Cooldown)
	}
}

package kubevalidate

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRenderedObjects validates what the infra tests rendered. The test command
// sets EDW_RENDER_DIR for both; run alone, there is nothing to validate.
func TestRenderedObjects(t *testing.T) {
	dir := os.Getenv("EDW_RENDER_DIR")
	if dir == "" {
		t.Skip("EDW_RENDER_DIR is not set; `make test` renders the infra objects and sets it")
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no rendered objects in %s: the infra tests did not write any", dir)
	}
	lists := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// The infra tests also leave other JSON there (aws-policies.json, the
		// IAM documents for the workload's tests): only object lists are ours,
		// and the rest is not a test that skipped.
		if b := bytes.TrimSpace(raw); len(b) > 0 && b[0] != '[' {
			continue
		}
		lists++
		t.Run(filepath.Base(f), func(t *testing.T) {
			if err := Objects(raw); err != nil {
				t.Errorf("%s:\n%v", f, err)
			}
		})
	}
	if lists == 0 {
		t.Fatalf("no lists of Kubernetes objects among %d files in %s", len(files), dir)
	}
}

func TestValidatorCatchesBadFields(t *testing.T) {
	cases := map[string]struct{ obj, want string }{
		"misspelt field": {
			`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replica":1}}`,
			`unknown field "spec.replica"`},
		"misplaced field": {
			`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"template":{"spec":{"image":"x"}}}}`,
			`unknown field "spec.template.spec.image"`},
		"wrong case": {
			`{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"Name":"sa","name":"sa"}}`,
			`unknown field "metadata.Name"`},
		"wrong type": {
			`{"apiVersion":"keda.sh/v1alpha1","kind":"ScaledObject","metadata":{"name":"s"},"spec":{"scaleTargetRef":{"name":"d"},"maxReplicaCount":"ten","triggers":[]}}`,
			`maxReplicaCount`},
		"keda field typo": {
			`{"apiVersion":"keda.sh/v1alpha1","kind":"ScaledObject","metadata":{"name":"s"},"spec":{"scaleTargetRef":{"name":"d"},"triggers":[{"type":"azure-queue","metadata":{},"authRef":{"name":"a"}}]}}`,
			`unknown field "spec.triggers[0].authRef"`},
		"karpenter v1beta1 layout": {
			`{"apiVersion":"karpenter.sh/v1","kind":"NodePool","metadata":{"name":"np"},"spec":{"template":{"spec":{"nodeClassRef":{"group":"karpenter.k8s.aws","kind":"EC2NodeClass","name":"default"},"requirements":[]}},"disruption":{"consolidationPolicy":"WhenUnderutilized","expireAfter":"720h"}}}`,
			`unknown field "spec.disruption.expireAfter"`},
		"pod monitor endpoint typo": {
			`{"apiVersion":"monitoring.coreos.com/v1","kind":"PodMonitor","metadata":{"name":"m"},"spec":{"selector":{},"podMetricsEndpoints":[{"portName":"metrics"}]}}`,
			`unknown field "spec.podMetricsEndpoints[0].portName"`},
		"azure pod monitor endpoint typo": {
			`{"apiVersion":"azmonitoring.coreos.com/v1","kind":"PodMonitor","metadata":{"name":"m"},"spec":{"selector":{},"endpoints":[{"port":"metrics"}]}}`,
			`unknown field "spec.endpoints"`},
		"unknown kind": {
			`{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"}}`,
			`kind has no Go API type`},
		"no name": {
			`{"apiVersion":"v1","kind":"Namespace","metadata":{}}`,
			`metadata.name is empty`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := Object([]byte(tc.obj))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error containing %q, got %v", tc.want, err)
			}
		})
	}
}

func TestValidatorAcceptsGoodObjects(t *testing.T) {
	good := `[
	 {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","namespace":"edw"},
	  "spec":{"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},
	  "spec":{"containers":[{"name":"c","image":"x@sha256:00","resources":{"requests":{"cpu":"250m"}}}]}}}},
	 {"apiVersion":"karpenter.sh/v1","kind":"NodePool","metadata":{"name":"np"},
	  "spec":{"template":{"spec":{"expireAfter":"720h","nodeClassRef":{"group":"karpenter.k8s.aws","kind":"EC2NodeClass","name":"default"},
	  "requirements":[{"key":"karpenter.sh/capacity-type","operator":"In","values":["spot"]}]}},
	  "disruption":{"consolidationPolicy":"WhenEmptyOrUnderutilized","consolidateAfter":"1m"},"limits":{"cpu":"64"}}}
	]`
	if err := Objects([]byte(good)); err != nil {
		t.Fatal(err)
	}
}

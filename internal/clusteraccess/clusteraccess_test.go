package clusteraccess

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// apiServer stands in for a cluster's authorizer while a grant propagates:
// it answers 403 to the first refusals requests, then reviews each check
// with allow. What it cannot show is AKS's own webhook; the review protocol
// (path, body, bearer token, status.allowed) is Kubernetes'.
type apiServer struct {
	mu       sync.Mutex
	refusals int
	allow    func(verb, group, resource string) (bool, string)
	token    string
	reviews  []map[string]string
	requests int
}

func (s *apiServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if r.Method != http.MethodPost || r.URL.Path != "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews" {
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+s.token {
		http.Error(w, `{"kind":"Status","code":401}`, http.StatusUnauthorized)
		return
	}
	if s.refusals > 0 {
		s.refusals--
		http.Error(w, `{"kind":"Status","reason":"Forbidden","code":403}`, http.StatusForbidden)
		return
	}
	var review struct {
		Kind string `json:"kind"`
		Spec struct {
			ResourceAttributes map[string]string `json:"resourceAttributes"`
		} `json:"spec"`
	}
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Kind != "SelfSubjectAccessReview" {
		http.Error(w, "bad review", http.StatusBadRequest)
		return
	}
	a := review.Spec.ResourceAttributes
	s.reviews = append(s.reviews, a)
	ok, reason := s.allow(a["verb"], a["group"], a["resource"])
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{"kind": "SelfSubjectAccessReview", "status": map[string]any{"allowed": ok, "reason": reason}})
}

// kubeconfigFor reaches srv as kubelogin-style exec users do: a credential
// plugin (a script) prints the token, which it takes from the env the
// kubeconfig gives it, and refuses to run without KUBERNETES_EXEC_INFO.
func kubeconfigFor(t *testing.T, srv *httptest.Server, token string) string {
	t.Helper()
	plugin := filepath.Join(t.TempDir(), "get-token")
	script := `#!/bin/sh
[ -n "$KUBERNETES_EXEC_INFO" ] || { echo "no exec info" >&2; exit 1; }
[ "$1" = get-token ] || exit 2
printf '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"%s"}}' "$EDW_TEST_TOKEN"
`
	require.NoError(t, os.WriteFile(plugin, []byte(script), 0o755))
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return fmt.Sprintf(`apiVersion: v1
kind: Config
current-context: aks
clusters:
- name: aks
  cluster:
    server: %s
    certificate-authority-data: %s
contexts:
- name: aks
  context: {cluster: aks, user: deployer}
users:
- name: other
  user: {token: wrong}
- name: deployer
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: %s
      args: [get-token, --login, azurecli]
      env:
      - {name: EDW_TEST_TOKEN, value: %s}
`, srv.URL, base64.StdEncoding.EncodeToString(ca), plugin, token)
}

var deployChecks = []Check{{Verb: "create", Resource: "namespaces"}, {Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings"}}

func TestWaitsUntilTheClusterAllowsTheUser(t *testing.T) {
	api := &apiServer{refusals: 3, token: "tok-7", allow: func(string, string, string) (bool, string) { return true, "" }}
	srv := httptest.NewTLSServer(api)
	defer srv.Close()
	var progress []string
	w := Waiter{Checks: deployChecks, Interval: 10 * time.Millisecond, Timeout: 10 * time.Second,
		Progress: func(m string) { progress = append(progress, m) }}
	require.NoError(t, w.Wait(context.Background(), kubeconfigFor(t, srv, "tok-7")))
	assert.Len(t, progress, 3, "one line per refused attempt")
	assert.Contains(t, progress[0], "HTTP 403")
	assert.Equal(t, 5, api.requests, "three refusals, then one review per check")
	assert.Equal(t, []map[string]string{
		{"verb": "create", "group": "", "resource": "namespaces"},
		{"verb": "create", "group": "rbac.authorization.k8s.io", "resource": "clusterrolebindings"},
	}, api.reviews)
}

func TestEveryCheckMustBeAllowed(t *testing.T) {
	// Namespaces at once, cluster RBAC never: the wait must not stop at the
	// first allowed check.
	api := &apiServer{token: "t", allow: func(_, group, _ string) (bool, string) {
		return group == "", "no RBAC policy matched"
	}}
	srv := httptest.NewTLSServer(api)
	defer srv.Close()
	w := Waiter{Checks: deployChecks, Interval: 50 * time.Millisecond, Timeout: 2 * time.Second}
	err := w.Wait(context.Background(), kubeconfigFor(t, srv, "t"))
	require.ErrorIs(t, err, ErrNotAllowed)
	assert.ErrorContains(t, err, "not granted within 2s: create clusterrolebindings.rbac.authorization.k8s.io: not allowed: no RBAC policy matched")
}

func TestTheCredentialPluginsTokenIsUsed(t *testing.T) {
	api := &apiServer{token: "right", allow: func(string, string, string) (bool, string) { return true, "" }}
	srv := httptest.NewTLSServer(api)
	defer srv.Close()
	w := Waiter{Checks: deployChecks[:1], Interval: 50 * time.Millisecond, Timeout: 2 * time.Second}
	err := w.Wait(context.Background(), kubeconfigFor(t, srv, "wrong"))
	assert.ErrorContains(t, err, "HTTP 401", "a token the server does not know is never taken for access")
	assert.Empty(t, api.reviews)
}

func TestAKubeconfigWithoutItsContextIsAnError(t *testing.T) {
	err := Waiter{Timeout: time.Second}.Wait(context.Background(), "apiVersion: v1\nkind: Config\ncurrent-context: gone\n")
	assert.EqualError(t, err, `cluster access: kubeconfig: no context "gone"`)
}

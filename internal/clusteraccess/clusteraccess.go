// Package clusteraccess waits until a kubeconfig's user may do what a
// deployment needs, asking the cluster's API server itself
// (SelfSubjectAccessReview). On AKS with Azure RBAC a new role assignment
// takes minutes to reach the cluster's authorizer, and the Kubernetes
// provider retries a create only on NotFound, never on Forbidden: a first
// `up` that does not wait fails with 403.
package clusteraccess

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Check is one thing the user must be allowed: a verb on a resource of an
// API group ("" is the core group) in any namespace.
type Check struct {
	Verb, Group, Resource string
}

func (c Check) String() string {
	if c.Group == "" {
		return c.Verb + " " + c.Resource
	}
	return c.Verb + " " + c.Resource + "." + c.Group
}

// Waiter asks again every Interval until every check is allowed or Timeout
// has passed.
type Waiter struct {
	Checks   []Check
	Interval time.Duration
	Timeout  time.Duration
	// Progress, when set, hears why each attempt was not yet enough.
	Progress func(msg string)
}

// Wait returns nil once the kubeconfig's current user is allowed every
// check, and an error naming the check still refused (or the last failure)
// when the time is up or ctx ends.
func (w Waiter) Wait(ctx context.Context, kubeconfig string) error {
	target, err := parseKubeconfig(kubeconfig)
	if err != nil {
		return fmt.Errorf("cluster access: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, w.Timeout)
	defer cancel()
	var last error
	for {
		err := w.attempt(ctx, target)
		if err == nil {
			return nil
		}
		// An attempt cut short by the deadline says nothing about access:
		// the one before it does.
		if ctx.Err() == nil || last == nil {
			last = err
		}
		if w.Progress != nil {
			w.Progress(fmt.Sprintf("waiting for access to %s: %v", target.server, last))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster access to %s not granted within %s: %w", target.server, w.Timeout, last)
		case <-time.After(w.Interval):
		}
	}
}

func (w Waiter) attempt(ctx context.Context, t *target) error {
	client, token, err := t.client(ctx)
	if err != nil {
		return err
	}
	for _, c := range w.Checks {
		allowed, reason, err := review(ctx, client, t.server, token, c)
		if err != nil {
			return fmt.Errorf("%s: %w", c, err)
		}
		if !allowed {
			if reason == "" {
				reason = "not allowed"
			}
			return fmt.Errorf("%s: %w: %s", c, ErrNotAllowed, reason)
		}
	}
	return nil
}

// ErrNotAllowed is the API server's answer that a check is not (yet) allowed.
var ErrNotAllowed = errors.New("not allowed")

func review(ctx context.Context, client *http.Client, server, token string, c Check) (bool, string, error) {
	body, err := json.Marshal(map[string]any{
		"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
		"spec": map[string]any{"resourceAttributes": map[string]string{"verb": c.Verb, "group": c.Group, "resource": c.Resource}},
	})
	if err != nil {
		return false, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		strings.TrimSuffix(server, "/")+"/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", bytes.NewReader(body))
	if err != nil {
		return false, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return false, "", fmt.Errorf("reading the review: %w", err)
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return false, "", fmt.Errorf("%w: HTTP %d: %s", ErrNotAllowed, resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	var out struct {
		Status struct {
			Allowed bool   `json:"allowed"`
			Reason  string `json:"reason"`
		} `json:"status"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return false, "", fmt.Errorf("decoding the review: %w", err)
	}
	return out.Status.Allowed, out.Status.Reason, nil
}

// target is what the kubeconfig's current context says about reaching the
// cluster as its user.
type target struct {
	server   string
	caData   []byte
	insecure bool
	token    string
	certData []byte
	keyData  []byte
	exec     *execConfig
}

type execConfig struct {
	APIVersion string   `yaml:"apiVersion"`
	Command    string   `yaml:"command"`
	Args       []string `yaml:"args"`
	Env        []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
}

func parseKubeconfig(kubeconfig string) (*target, error) {
	var kc struct {
		CurrentContext string `yaml:"current-context"`
		Contexts       []struct {
			Name    string `yaml:"name"`
			Context struct {
				Cluster string `yaml:"cluster"`
				User    string `yaml:"user"`
			} `yaml:"context"`
		} `yaml:"contexts"`
		Clusters []struct {
			Name    string `yaml:"name"`
			Cluster struct {
				Server   string `yaml:"server"`
				CAData   string `yaml:"certificate-authority-data"`
				CAFile   string `yaml:"certificate-authority"`
				Insecure bool   `yaml:"insecure-skip-tls-verify"`
			} `yaml:"cluster"`
		} `yaml:"clusters"`
		Users []struct {
			Name string `yaml:"name"`
			User struct {
				Token    string      `yaml:"token"`
				CertData string      `yaml:"client-certificate-data"`
				KeyData  string      `yaml:"client-key-data"`
				CertFile string      `yaml:"client-certificate"`
				KeyFile  string      `yaml:"client-key"`
				Exec     *execConfig `yaml:"exec"`
			} `yaml:"user"`
		} `yaml:"users"`
	}
	if err := yaml.Unmarshal([]byte(kubeconfig), &kc); err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	ctxName := kc.CurrentContext
	if ctxName == "" && len(kc.Contexts) == 1 {
		ctxName = kc.Contexts[0].Name
	}
	var clusterName, userName string
	found := false
	for _, c := range kc.Contexts {
		if c.Name == ctxName {
			clusterName, userName, found = c.Context.Cluster, c.Context.User, true
		}
	}
	if !found {
		return nil, fmt.Errorf("kubeconfig: no context %q", ctxName)
	}
	t := &target{}
	for _, c := range kc.Clusters {
		if c.Name == clusterName {
			t.server, t.insecure = c.Cluster.Server, c.Cluster.Insecure
			ca, err := material(c.Cluster.CAData, c.Cluster.CAFile)
			if err != nil {
				return nil, fmt.Errorf("kubeconfig cluster %s: certificate authority: %w", clusterName, err)
			}
			t.caData = ca
		}
	}
	if t.server == "" {
		return nil, fmt.Errorf("kubeconfig: cluster %q has no server", clusterName)
	}
	for _, u := range kc.Users {
		if u.Name != userName {
			continue
		}
		t.token, t.exec = u.User.Token, u.User.Exec
		var err error
		if t.certData, err = material(u.User.CertData, u.User.CertFile); err != nil {
			return nil, fmt.Errorf("kubeconfig user %s: client certificate: %w", userName, err)
		}
		if t.keyData, err = material(u.User.KeyData, u.User.KeyFile); err != nil {
			return nil, fmt.Errorf("kubeconfig user %s: client key: %w", userName, err)
		}
	}
	return t, nil
}

// material is a kubeconfig's certificate or key: the base64 data, else the
// file it names, else none.
func material(data, file string) ([]byte, error) {
	switch {
	case data != "":
		return base64.StdEncoding.DecodeString(data)
	case file != "":
		return os.ReadFile(file)
	}
	return nil, nil
}

// client builds the HTTPS client and bearer token for one attempt, running
// the exec credential plugin (kubelogin on AKS) again each time, as
// kubectl would.
func (t *target) client(ctx context.Context) (*http.Client, string, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.insecure}
	if len(t.caData) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(t.caData) {
			return nil, "", errors.New("kubeconfig: certificate-authority-data holds no PEM certificate")
		}
		tlsConfig.RootCAs = pool
	}
	token, cert, key := t.token, t.certData, t.keyData
	if t.exec != nil {
		cred, err := t.exec.run(ctx)
		if err != nil {
			return nil, "", err
		}
		token = cred.Token
		if cred.ClientCertificateData != "" {
			cert, key = []byte(cred.ClientCertificateData), []byte(cred.ClientKeyData)
		}
	}
	if len(cert) > 0 {
		pair, err := tls.X509KeyPair(cert, key)
		if err != nil {
			return nil, "", fmt.Errorf("kubeconfig client certificate: %w", err)
		}
		tlsConfig.Certificates = []tls.Certificate{pair}
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}, token, nil
}

type execStatus struct {
	Token                 string `json:"token"`
	ClientCertificateData string `json:"clientCertificateData"`
	ClientKeyData         string `json:"clientKeyData"`
}

// run speaks the client-go credential plugin protocol: ExecCredential in
// KUBERNETES_EXEC_INFO, ExecCredential with a status on stdout.
func (e *execConfig) run(ctx context.Context) (*execStatus, error) {
	info, err := json.Marshal(map[string]any{
		"apiVersion": e.APIVersion, "kind": "ExecCredential", "spec": map[string]any{"interactive": false},
	})
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, e.Command, e.Args...)
	cmd.Env = append(os.Environ(), "KUBERNETES_EXEC_INFO="+string(info))
	for _, kv := range e.Env {
		cmd.Env = append(cmd.Env, kv.Name+"="+kv.Value)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("credential plugin %s: %w: %s", e.Command, err, strings.TrimSpace(stderr.String()))
	}
	var cred struct {
		Status *execStatus `json:"status"`
	}
	if err := json.Unmarshal(out, &cred); err != nil || cred.Status == nil {
		return nil, fmt.Errorf("credential plugin %s: no ExecCredential status on stdout", e.Command)
	}
	return cred.Status, nil
}

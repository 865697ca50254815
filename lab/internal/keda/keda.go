// Package keda runs the real KEDA operator — and, for scaling beyond one replica,
// its metrics adapter — against the lab from outside the cluster, as processes.
package keda

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/edw-dev/edw/lab/internal/cluster"
	"github.com/edw-dev/edw/lab/internal/proc"
)

// Namespace is where KEDA's own objects would live (leader election, the
// metrics adapter's Service).
const Namespace = "keda"

// Operator is a running keda-operator.
type Operator struct {
	// GRPC is the address of its metrics service (the adapter's upstream).
	GRPC    string
	CertDir string
	p       *proc.Process
}

// StartOperator starts the operator with the lab's admin kubeconfig and waits
// until it reports healthy. certDir receives its gRPC serving certificate.
func StartOperator(ctx context.Context, bin string, c *cluster.Cluster, dir string, grpcHosts ...string) (*Operator, error) {
	certDir := filepath.Join(dir, "keda-certs")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return nil, err
	}
	if err := writeCerts(c, certDir, "keda-operator", append([]string{"127.0.0.1", "localhost", "keda-operator." + Namespace + ".svc"}, grpcHosts...)...); err != nil {
		return nil, err
	}
	ports := make([]int, 3)
	for i := range ports {
		p, err := cluster.FreePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	addr := func(p int) string { return "127.0.0.1:" + strconv.Itoa(p) }
	p, err := proc.Start(proc.Spec{Name: "keda-operator", Path: bin, Log: filepath.Join(dir, "keda-operator.log"),
		Args: []string{
			"--leader-elect=false",
			"--metrics-bind-address=" + addr(ports[0]),
			"--health-probe-bind-address=" + addr(ports[1]),
			"--metrics-service-bind-address=" + addr(ports[2]),
			"--cert-dir=" + certDir, "--ca-dir=" + certDir,
			"--zap-log-level=info", "--zap-encoder=console",
		},
		Env: []string{"KUBECONFIG=" + c.Kubeconfig, "WATCH_NAMESPACE=", "POD_NAMESPACE=" + Namespace,
			"KEDA_CLUSTER_OBJECT_NAMESPACE=" + Namespace},
	})
	if err != nil {
		return nil, err
	}
	o := &Operator{GRPC: addr(ports[2]), CertDir: certDir, p: p}
	if err := waitHTTP(ctx, p, "http://"+addr(ports[1])+"/readyz", 90*time.Second); err != nil {
		o.Stop()
		return nil, err
	}
	return o, nil
}

// Stop stops the operator by PID.
func (o *Operator) Stop() { o.p.Stop(10 * time.Second) }

// Check reports an operator that has exited.
func (o *Operator) Check() error {
	if ok, err := o.p.Exited(); ok {
		return fmt.Errorf("keda-operator exited: %v\n%s", err, o.p.Tail(3000))
	}
	return nil
}

// Log is the operator's log file.
func (o *Operator) Log() string { return o.p.Log }

func writeCerts(c *cluster.Cluster, dir, name string, hosts ...string) error {
	crt, key, ca, err := c.IssueServing(dir, name, hosts...)
	if err != nil {
		return err
	}
	for src, dst := range map[string]string{crt: "tls.crt", key: "tls.key"} {
		if err := os.Rename(src, filepath.Join(dir, dst)); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "ca.crt"), ca, 0o600)
}

func waitHTTP(ctx context.Context, p *proc.Process, url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		if ok, err := p.Exited(); ok {
			return fmt.Errorf("%s exited while starting: %v\n%s", p.Name, err, p.Tail(4000))
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s\n%s", p.Name, limit, p.Tail(4000))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

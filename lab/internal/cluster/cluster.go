// Package cluster runs a Kubernetes control plane on loopback for the lab: etcd
// and kube-apiserver, optionally kube-controller-manager, each on a random free
// port with a throwaway CA, all stopped by PID when the lab stops.
package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/edw-dev/edw/lab/internal/proc"
)

// Binaries are the paths of the programs the lab runs.
type Binaries struct {
	Etcd              string
	APIServer         string
	ControllerManager string // optional
}

// Config says how to start the lab.
type Config struct {
	Binaries Binaries
	// Dir holds certificates, data and logs; the caller removes it.
	Dir string
	// ExtraSANs are additional addresses the API server's certificate is valid for.
	ExtraSANs []string
	// ControllerManager starts kube-controller-manager with these controllers
	// (e.g. "horizontal-pod-autoscaler-controller"); empty means not at all.
	Controllers []string
}

// Cluster is a running lab control plane.
type Cluster struct {
	// Kubeconfig is the path of an admin kubeconfig (system:masters).
	Kubeconfig string
	// Server is the API server's URL.
	Server string
	// REST is the admin client configuration.
	REST *rest.Config

	ca      *authority
	etcdURL string
	dir     string
	procs   []*proc.Process
	started time.Time
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start starts etcd and kube-apiserver (and kube-controller-manager when
// controllers are named) and waits until the API server is ready. On error
// everything already started is stopped.
func Start(ctx context.Context, cfg Config) (c *Cluster, err error) {
	c = &Cluster{dir: cfg.Dir, started: time.Now()}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	for _, d := range []string{"pki", "etcd", "logs"} {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("lab dir: %w", err)
		}
	}
	if err := c.startEtcd(ctx, cfg); err != nil {
		return nil, err
	}
	if err := c.startAPIServer(ctx, cfg); err != nil {
		return nil, err
	}
	if len(cfg.Controllers) > 0 {
		if err := c.startControllerManager(cfg); err != nil {
			return nil, err
		}
	}
	slog.Info("lab control plane ready", "server", c.Server, "took", time.Since(c.started).Round(time.Millisecond))
	return c, nil
}

func (c *Cluster) start(spec proc.Spec) (*proc.Process, error) {
	spec.Log = filepath.Join(c.dir, "logs", spec.Name+".log")
	p, err := proc.Start(spec)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	return p, nil
}

func (c *Cluster) startEtcd(ctx context.Context, cfg Config) error {
	client, err := FreePort()
	if err != nil {
		return err
	}
	peer, err := FreePort()
	if err != nil {
		return err
	}
	clientURL := "http://127.0.0.1:" + strconv.Itoa(client)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peer)
	p, err := c.start(proc.Spec{Name: "etcd", Path: cfg.Binaries.Etcd, Args: []string{
		"--name=lab", "--data-dir=" + filepath.Join(cfg.Dir, "etcd"),
		"--listen-client-urls=" + clientURL, "--advertise-client-urls=" + clientURL,
		"--listen-peer-urls=" + peerURL, "--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=lab=" + peerURL, "--initial-cluster-state=new",
		"--quota-backend-bytes=2147483648", "--log-level=warn",
	}})
	if err != nil {
		return err
	}
	return waitFor(ctx, p, 30*time.Second, func() error {
		resp, err := http.Get(clientURL + "/health")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("etcd health: %s", resp.Status)
		}
		c.etcdURL = clientURL
		return nil
	})
}

func (c *Cluster) startAPIServer(ctx context.Context, cfg Config) error {
	pki := filepath.Join(cfg.Dir, "pki")
	ca, err := newAuthority("edw-lab-ca")
	if err != nil {
		return err
	}
	c.ca = ca
	caFile := filepath.Join(pki, "ca.crt")
	if err := os.WriteFile(caFile, ca.pem, 0o600); err != nil {
		return fmt.Errorf("lab ca: %w", err)
	}
	serving, err := ca.issue("kube-apiserver", nil, append([]string{"127.0.0.1", "localhost", "kubernetes",
		"kubernetes.default", "kubernetes.default.svc"}, cfg.ExtraSANs...))
	if err != nil {
		return err
	}
	servingCrt, servingKey, err := serving.write(pki, "apiserver")
	if err != nil {
		return fmt.Errorf("apiserver certificate: %w", err)
	}
	admin, err := ca.issue("edw-lab-admin", []string{"system:masters"}, nil)
	if err != nil {
		return err
	}
	adminCrt, adminKey, err := admin.write(pki, "admin")
	if err != nil {
		return fmt.Errorf("admin certificate: %w", err)
	}
	// The aggregator authenticates to extension API servers as the front proxy.
	front, err := newAuthority("edw-lab-front-proxy-ca")
	if err != nil {
		return err
	}
	frontCA := filepath.Join(pki, "front-proxy-ca.crt")
	if err := os.WriteFile(frontCA, front.pem, 0o600); err != nil {
		return fmt.Errorf("front proxy ca: %w", err)
	}
	proxyClient, err := front.issue("front-proxy-client", nil, nil)
	if err != nil {
		return err
	}
	proxyCrt, proxyKey, err := proxyClient.write(pki, "front-proxy-client")
	if err != nil {
		return fmt.Errorf("front proxy certificate: %w", err)
	}
	saPub, saKey, err := serviceAccountKey(pki)
	if err != nil {
		return err
	}
	port, err := FreePort()
	if err != nil {
		return err
	}
	c.Server = "https://127.0.0.1:" + strconv.Itoa(port)
	p, err := c.start(proc.Spec{Name: "kube-apiserver", Path: cfg.Binaries.APIServer, Args: []string{
		"--etcd-servers=" + c.etcdURL,
		"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(port),
		"--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none",
		"--service-cluster-ip-range=10.96.0.0/16",
		"--tls-cert-file=" + servingCrt, "--tls-private-key-file=" + servingKey,
		"--client-ca-file=" + caFile,
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + saPub, "--service-account-signing-key-file=" + saKey,
		"--authorization-mode=RBAC",
		"--requestheader-client-ca-file=" + frontCA,
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + proxyCrt, "--proxy-client-key-file=" + proxyKey,
		"--enable-aggregator-routing=true",
		"--profiling=false", "--v=1",
	}})
	if err != nil {
		return err
	}
	c.Kubeconfig = filepath.Join(cfg.Dir, "kubeconfig")
	if err := writeKubeconfig(c.Kubeconfig, c.Server, ca.pem, adminCrt, adminKey); err != nil {
		return err
	}
	c.REST, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return fmt.Errorf("lab kubeconfig: %w", err)
	}
	c.REST.QPS, c.REST.Burst = 100, 200
	client, err := c.httpClient(adminCrt, adminKey)
	if err != nil {
		return err
	}
	return waitFor(ctx, p, 90*time.Second, func() error {
		resp, err := client.Get(c.Server + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: %s", resp.Status)
		}
		return nil
	})
}

func (c *Cluster) httpClient(crt, key string) (*http.Client, error) {
	pair, err := tls.LoadX509KeyPair(crt, key)
	if err != nil {
		return nil, fmt.Errorf("admin key pair: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c.ca.cert)
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}},
	}}, nil
}

func (c *Cluster) startControllerManager(cfg Config) error {
	if cfg.Binaries.ControllerManager == "" {
		return errors.New("kube-controller-manager: no binary")
	}
	_, err := c.start(proc.Spec{Name: "kube-controller-manager", Path: cfg.Binaries.ControllerManager, Args: []string{
		"--kubeconfig=" + c.Kubeconfig,
		"--authentication-kubeconfig=" + c.Kubeconfig, "--authorization-kubeconfig=" + c.Kubeconfig,
		"--bind-address=127.0.0.1", "--secure-port=0",
		"--leader-elect=false", "--use-service-account-credentials=false",
		"--controllers=" + strings.Join(cfg.Controllers, ","),
		"--v=2",
	}})
	return err
}

// IssueServing signs a serving certificate with the lab CA and writes it as
// dir/name.crt and dir/name.key; it returns the CA bundle too.
func (c *Cluster) IssueServing(dir, name string, hosts ...string) (crt, key string, ca []byte, err error) {
	kp, err := c.ca.issue(name, nil, hosts)
	if err != nil {
		return "", "", nil, err
	}
	crt, key, err = kp.write(dir, name)
	return crt, key, c.ca.pem, err
}

// WriteUserKubeconfig writes a kubeconfig at path for a user of the lab with
// these groups (a client certificate signed by the lab CA: CN is the user, O
// the groups), as a cloud's authenticator would name an identity it maps.
func (c *Cluster) WriteUserKubeconfig(path, user string, groups ...string) error {
	kp, err := c.ca.issue(user, groups, nil)
	if err != nil {
		return fmt.Errorf("certificate for %s: %w", user, err)
	}
	crt, key, err := kp.write(filepath.Dir(path), user)
	if err != nil {
		return fmt.Errorf("certificate for %s: %w", user, err)
	}
	return writeKubeconfig(path, c.Server, c.ca.pem, crt, key)
}

// CAFile is the lab CA's certificate.
func (c *Cluster) CAFile() string { return filepath.Join(c.dir, "pki", "ca.crt") }

// Logs is the directory the control plane's logs are in.
func (c *Cluster) Logs() string { return filepath.Join(c.dir, "logs") }

// Check reports a control-plane process that has exited.
func (c *Cluster) Check() error {
	for _, p := range c.procs {
		if ok, err := p.Exited(); ok {
			return fmt.Errorf("%s (pid %d) exited: %v\n%s", p.Name, p.PID(), err, p.Tail(3000))
		}
	}
	return nil
}

// Stop stops every process in reverse start order, by PID.
func (c *Cluster) Stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		c.procs[i].Stop(10 * time.Second)
	}
	c.procs = nil
}

func waitFor(ctx context.Context, p *proc.Process, limit time.Duration, ready func() error) error {
	deadline := time.Now().Add(limit)
	var last error
	for {
		if ok, err := p.Exited(); ok {
			return fmt.Errorf("%s exited while starting: %v\n%s", p.Name, err, p.Tail(4000))
		}
		if last = ready(); last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %w\n%s", p.Name, limit, last, p.Tail(4000))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func writeKubeconfig(path, server string, ca []byte, crt, key string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["lab"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificate: crt, ClientKey: key}
	cfg.Contexts["lab"] = &clientcmdapi.Context{Cluster: "lab", AuthInfo: "admin"}
	cfg.CurrentContext = "lab"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("lab kubeconfig: %w", err)
	}
	return nil
}

package lab

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/edw-dev/edw/lab/internal/apply"
	"github.com/edw-dev/edw/lab/internal/cluster"
	"github.com/edw-dev/edw/lab/internal/keda"
	"github.com/edw-dev/edw/lab/internal/netns"
)

// labState is the one control plane every test in this package shares.
type labState struct {
	env     Env
	cluster *cluster.Cluster
	client  *apply.Client
	dir     string
	net     netAddrs

	kedaOnce sync.Once
	kedaErr  error
	operator *keda.Operator
	adapter  *keda.Adapter // nil when the HPA path is not available

	mu       sync.Mutex
	cleanups []func()
}

// onExit registers f to run when the lab stops, also on a signal; last in, first run.
func (l *labState) onExit(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cleanups = append(l.cleanups, f)
}

func (l *labState) stop() {
	l.mu.Lock()
	fs := l.cleanups
	l.cleanups = nil
	l.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// netAddrs names the network namespace the metrics adapter runs in and the
// addresses of its veth pair: chosen by the test command (EDW_LAB_NETNS), which
// also removes them if this process is killed.
type netAddrs struct{ name, hostIP, nsIP string }

func netAddrsFor(name string) netAddrs {
	h := fnv.New32a()
	h.Write([]byte(name))
	x := h.Sum32()%200 + 20
	return netAddrs{name: name, hostIP: fmt.Sprintf("10.254.%d.1", x), nsIP: fmt.Sprintf("10.254.%d.2", x)}
}

// shared is set by TestMain when the test command handed the lab its binaries.
var shared *labState

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	env, missing := LoadEnv()
	if len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "cluster lab not started, %s not set: run `make test-cluster`\n", strings.Join(missing, ", "))
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "edw-lab-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	l := &labState{env: env, dir: dir}
	if env.NetNS != "" {
		l.net = netAddrsFor(env.NetNS)
	}
	cfg := cluster.Config{
		Binaries: cluster.Binaries{Etcd: env.Etcd, APIServer: env.APIServer, ControllerManager: env.ControllerManager},
		Dir:      dir,
		// The metrics adapter reaches the API server over the veth pair.
		ExtraSANs: []string{l.net.hostIP},
	}
	if env.ControllerManager != "" {
		cfg.Controllers = []string{"horizontal-pod-autoscaler-controller", "garbage-collector-controller"}
	}
	c, err := cluster.Start(ctx, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "start lab: %v\n", err)
		return 1
	}
	l.cluster = c
	l.onExit(c.Stop)
	defer l.stop()
	// A signal ends the test binary without running deferred calls: stop the
	// lab first. (Every process also dies with this one, by PR_SET_PDEATHSIG.)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "lab: %v, stopping\n", s)
		l.stop()
		os.RemoveAll(dir)
		os.Exit(1)
	}()
	client, err := apply.New(c.REST)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	files, err := env.CRDFiles()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	names, err := client.InstallCRDs(ctx, files...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "install CRDs: %v\n", err)
		return 1
	}
	slog.Info("CRDs installed", "count", len(names), "names", strings.Join(names, ","))
	// The namespaces edw's Helm releases create (createNamespace), which no
	// render holds as an object: objects edw puts there (KEDA's PodMonitor)
	// find them in users' clusters, as the release is applied first.
	for _, ns := range helmReleaseNamespaces {
		o := &unstructured.Unstructured{}
		o.SetAPIVersion("v1")
		o.SetKind("Namespace")
		o.SetName(ns)
		if _, err := client.Apply(ctx, o); err != nil {
			fmt.Fprintf(os.Stderr, "namespace %s: %v\n", ns, err)
			return 1
		}
	}
	l.client = client
	shared = l
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "lab logs were in %s:\n", c.Logs())
		for _, name := range []string{"kube-apiserver", "kube-controller-manager"} {
			fmt.Fprintf(os.Stderr, "--- %s (tail)\n%s\n", name, tailLog(c.Logs(), name, 2000))
		}
	}
	return code
}

// helmReleaseNamespaces: KEDA's release installs into "keda" with
// createNamespace (infra/kube/keda.go, KedaServiceAccount.Namespace).
var helmReleaseNamespaces = []string{"keda"}

// lab returns the shared lab or skips the test.
func lab(t *testing.T) *labState {
	t.Helper()
	if shared == nil {
		t.Skip("the cluster lab is not running: `make test-cluster` builds and starts it")
	}
	if err := shared.cluster.Check(); err != nil {
		t.Fatal(err)
	}
	return shared
}

// keda starts the KEDA operator once for every scaling test, and, when the test
// command provides kube-controller-manager, the adapter binary and a network
// namespace name, the metrics adapter behind the aggregator, so KEDA's HPA can
// scale beyond one replica.
func (l *labState) keda(t *testing.T) *keda.Operator {
	t.Helper()
	if l.env.KedaOperator == "" {
		t.Skip("EDW_LAB_KEDA_OPERATOR not set")
	}
	l.kedaOnce.Do(func() { l.kedaErr = l.startKeda() })
	if l.kedaErr != nil {
		t.Fatal(l.kedaErr)
	}
	return l.operator
}

func (l *labState) startKeda() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var grpcHosts []string
	if l.net.hostIP != "" {
		grpcHosts = append(grpcHosts, l.net.hostIP)
	}
	op, err := keda.StartOperator(ctx, l.env.KedaOperator, l.cluster, l.dir, grpcHosts...)
	if err != nil {
		return err
	}
	l.operator = op
	l.onExit(op.Stop)
	if l.env.KedaAdapter == "" || l.env.ControllerManager == "" || l.net.name == "" {
		slog.Warn("no metrics adapter: KEDA scales 0↔1 only", "adapter", l.env.KedaAdapter,
			"controllerManager", l.env.ControllerManager, "netns", l.net.name)
		return nil
	}
	ns, err := netns.Create(ctx, l.net.name, l.net.hostIP, l.net.nsIP)
	if err != nil {
		return err
	}
	l.onExit(ns.Remove)
	fwd, stopFwd := context.WithCancel(context.Background())
	l.onExit(stopFwd)
	start := time.Now()
	a, err := keda.StartAdapter(fwd, l.env.KedaAdapter, l.cluster, op, ns, l.dir)
	if err != nil {
		return err
	}
	l.adapter = a
	l.onExit(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		keda.Unregister(ctx, l.cluster)
		a.Stop()
	})
	slog.Info("metrics adapter available through the aggregator", "netns", ns.Name, "endpoint", ns.NSIP, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

package engine

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edw-dev/edw/lab"
	"github.com/edw-dev/edw/lab/internal/apply"
	"github.com/edw-dev/edw/lab/internal/cluster"
	"github.com/edw-dev/edw/lab/internal/keda"
)

// site is the lab the engine deploys onto: its own etcd, kube-apiserver with the
// CRDs users' clusters have, kube-controller-manager's deployment, replicaset and
// garbage-collector controllers, and the KEDA operator outside the cluster.
type site struct {
	env      lab.Env
	bins     Binaries
	cluster  *cluster.Cluster
	client   *apply.Client
	operator *keda.Operator
	dir      string

	mu       sync.Mutex
	cleanups []func()
}

func (s *site) onExit(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}

func (s *site) stop() {
	s.mu.Lock()
	fs := s.cleanups
	s.cleanups = nil
	s.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

var shared *site

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	bins, missing := LoadBinaries()
	// The lab's environment, as scripts/test-cluster.sh sets it; the rendered
	// objects are not needed here.
	env, _ := lab.LoadEnv()
	for _, v := range []struct{ name, value string }{
		{"EDW_LAB_ETCD", env.Etcd}, {"EDW_LAB_KUBE_APISERVER", env.APIServer},
		{"EDW_LAB_KUBE_CONTROLLER_MANAGER", env.ControllerManager}, {"EDW_LAB_KEDA_OPERATOR", env.KedaOperator},
		{"EDW_LAB_KEDA_CRDS", env.KedaCRDs}, {"EDW_LAB_KARPENTER_CRDS", env.KarpenterCRDs}, {"EDW_LAB_PROMETHEUS_CRDS", env.PrometheusCRDs},
		{"EDW_LAB_CONSUMER", env.Consumer}, {"EDW_LAB_PRODUCER", env.Producer},
		{"EDW_TEST_SQS_ENDPOINT", env.SQSEndpoint}, {"EDW_TEST_DYNAMODB_ENDPOINT", env.DynamoDBEndpoint},
	} {
		if v.value == "" {
			missing = append(missing, v.name)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "engine lab not started, %s not set: run `make test-cluster`\n", strings.Join(missing, ", "))
		return m.Run()
	}
	if err := startSite(env, bins); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if shared != nil {
			shared.stop()
		}
		return 1
	}
	defer shared.stop()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "engine lab: %v, stopping\n", s)
		shared.stop()
		os.Exit(1)
	}()
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "--- kube-apiserver (tail)\n%s\n--- keda-operator (tail)\n%s\n",
			tail(shared.cluster.Logs()+"/kube-apiserver.log", 2000), tail(shared.operator.Log(), 3000))
	}
	return code
}

func startSite(env lab.Env, bins Binaries) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "edw-engine-")
	if err != nil {
		return err
	}
	s := &site{env: env, bins: bins, dir: dir}
	shared = s
	s.onExit(func() { os.RemoveAll(dir) })
	start := time.Now()
	c, err := cluster.Start(ctx, cluster.Config{
		Binaries: cluster.Binaries{Etcd: env.Etcd, APIServer: env.APIServer, ControllerManager: env.ControllerManager},
		Dir:      dir,
		// The engine waits for a Deployment's rollout: the controllers that make
		// its ReplicaSet and Pods, and the one that cascades their deletion.
		Controllers: []string{"deployment-controller", "replicaset-controller", "garbage-collector-controller"},
	})
	if err != nil {
		return fmt.Errorf("start lab: %w", err)
	}
	s.cluster = c
	s.onExit(c.Stop)
	if s.client, err = apply.New(c.REST); err != nil {
		return err
	}
	files, err := env.CRDFiles()
	if err != nil {
		return err
	}
	if _, err := s.client.InstallCRDs(ctx, files...); err != nil {
		return fmt.Errorf("install CRDs: %w", err)
	}
	op, err := keda.StartOperator(ctx, env.KedaOperator, c, dir)
	if err != nil {
		return err
	}
	s.operator = op
	s.onExit(op.Stop)
	slog.Info("engine lab ready: API server, CRDs, controllers, KEDA operator", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// labSite returns the running lab or skips the test.
func labSite(t *testing.T) *site {
	t.Helper()
	if shared == nil {
		t.Skip("the engine lab is not running: `make test-cluster` builds the engine and starts it")
	}
	if err := shared.cluster.Check(); err != nil {
		t.Fatal(err)
	}
	return shared
}

func tail(path string, n int64) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if int64(len(b)) > n {
		b = b[int64(len(b))-n:]
	}
	return string(b)
}

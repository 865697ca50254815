// Package kubelet plays the lab's missing kubelet (and ReplicaSet controller) for
// one Deployment: it keeps exactly spec.replicas real processes running from the
// Deployment's container as rendered, stops extras with SIGTERM and the pod's
// grace period, and reports them in the Deployment's status.
package kubelet

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/edw-dev/edw/lab/internal/proc"
)

// Pod is what one replica runs: the container's binary, args and env after the
// lab's substitutions.
type Pod struct {
	Args []string
	Env  []string
}

// Config describes the Deployment and how to turn its container into a process.
type Config struct {
	Client          kubernetes.Interface
	Namespace, Name string
	Container       string // container name in the pod template
	Binary          string // stands in for the container image
	LogDir          string
	PollInterval    time.Duration
	// Substitute maps the container as rendered to what runs here (queue and
	// table endpoints, identity, per-process ports); name is the pod's name.
	Substitute func(name string, c corev1.Container) (Pod, error)
	// Paused holds the replica count where it is (the pods are "pending"):
	// scaling decisions can then be observed for a fixed backlog.
	Paused func() bool
}

// Kubelet runs the Deployment's replicas as processes.
type Kubelet struct {
	cfg      Config
	mu       sync.Mutex
	running  []*replica
	stopping sync.WaitGroup
	serial   int
	restarts int
	started  int
	desired  int
}

type replica struct {
	name string
	p    *proc.Process
}

// Status is one observation.
type Status struct {
	Desired, Running, Started, Restarts int
}

// New returns a kubelet for the Deployment; Run starts it.
func New(cfg Config) *Kubelet {
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 200 * time.Millisecond
	}
	return &Kubelet{cfg: cfg}
}

// Status is the latest observation.
func (k *Kubelet) Status() Status {
	k.mu.Lock()
	defer k.mu.Unlock()
	return Status{Desired: k.desired, Running: len(k.running), Started: k.started, Restarts: k.restarts}
}

// Run reconciles until ctx ends, then stops every process like a node drain and
// returns once they have exited.
func (k *Kubelet) Run(ctx context.Context) error {
	defer k.shutdown()
	t := time.NewTicker(k.cfg.PollInterval)
	defer t.Stop()
	for {
		if err := k.reconcile(ctx); err != nil && ctx.Err() == nil {
			slog.Warn("kubelet reconcile", "deployment", k.cfg.Name, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (k *Kubelet) reconcile(ctx context.Context) error {
	d, err := k.cfg.Client.AppsV1().Deployments(k.cfg.Namespace).Get(ctx, k.cfg.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get deployment: %w", err)
	}
	want := 1
	if d.Spec.Replicas != nil {
		want = int(*d.Spec.Replicas)
	}
	k.mu.Lock()
	k.desired = want
	k.reapLocked()
	paused := k.cfg.Paused != nil && k.cfg.Paused()
	for !paused && len(k.running) < want {
		if err := k.startLocked(d); err != nil {
			k.mu.Unlock()
			return err
		}
	}
	for len(k.running) > want {
		// Like a ReplicaSet: the newest pod goes first.
		r := k.running[len(k.running)-1]
		k.running = k.running[:len(k.running)-1]
		k.terminate(r, grace(d))
	}
	running, pods := int32(len(k.running)), int32(len(k.running))
	if paused {
		// Pending pods exist (status.replicas) but are not ready.
		pods = int32(want)
	}
	k.mu.Unlock()
	return k.updateStatus(ctx, d, pods, running)
}

// reapLocked restarts nothing by itself: a replica that exited is counted as a
// restart and replaced on the next pass, as the kubelet restarts a container.
func (k *Kubelet) reapLocked() {
	alive := k.running[:0]
	for _, r := range k.running {
		if ok, err := r.p.Exited(); ok {
			k.restarts++
			slog.Warn("replica exited on its own", "pod", r.name, "err", err, "log", proc.TailFile(r.p.Log, 1500))
			continue
		}
		alive = append(alive, r)
	}
	k.running = alive
}

func (k *Kubelet) startLocked(d *appsv1.Deployment) error {
	var c *corev1.Container
	for i := range d.Spec.Template.Spec.Containers {
		if d.Spec.Template.Spec.Containers[i].Name == k.cfg.Container {
			c = &d.Spec.Template.Spec.Containers[i]
		}
	}
	if c == nil {
		return fmt.Errorf("deployment %s has no container %q", d.Name, k.cfg.Container)
	}
	k.serial++
	name := fmt.Sprintf("%s-lab-%d", d.Name, k.serial)
	pod, err := k.cfg.Substitute(name, *c)
	if err != nil {
		return fmt.Errorf("pod %s: %w", name, err)
	}
	p, err := proc.Start(proc.Spec{Name: name, Path: k.cfg.Binary, Args: pod.Args, Env: pod.Env,
		Log: filepath.Join(k.cfg.LogDir, name+".log")})
	if err != nil {
		return err
	}
	k.started++
	k.running = append(k.running, &replica{name: name, p: p})
	slog.Info("kubelet started replica", "pod", name, "pid", p.PID())
	return nil
}

func (k *Kubelet) terminate(r *replica, grace time.Duration) {
	slog.Info("kubelet stopping replica", "pod", r.name, "pid", r.p.PID(), "signal", "SIGTERM")
	k.stopping.Add(1)
	go func() {
		defer k.stopping.Done()
		_ = r.p.Signal(syscall.SIGTERM)
		select {
		case <-r.p.Done():
			if _, err := r.p.Exited(); err != nil {
				slog.Warn("replica exited badly after SIGTERM", "pod", r.name, "err", err)
			}
		case <-time.After(grace):
			slog.Warn("replica outlived its grace period: SIGKILL", "pod", r.name)
		}
		r.p.Stop(0)
	}()
}

func (k *Kubelet) shutdown() {
	k.mu.Lock()
	for _, r := range k.running {
		k.terminate(r, 30*time.Second)
	}
	k.running = nil
	k.mu.Unlock()
	k.stopping.Wait()
}

func (k *Kubelet) updateStatus(ctx context.Context, d *appsv1.Deployment, pods, running int32) error {
	s := d.Status
	if s.Replicas == pods && s.ReadyReplicas == running && s.ObservedGeneration == d.Generation {
		return nil
	}
	d = d.DeepCopy()
	d.Status.ObservedGeneration = d.Generation
	d.Status.Replicas, d.Status.UpdatedReplicas = pods, pods
	d.Status.ReadyReplicas, d.Status.AvailableReplicas = running, running
	d.Status.UnavailableReplicas = pods - running
	if _, err := k.cfg.Client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("deployment status: %w", err)
	}
	return nil
}

func grace(d *appsv1.Deployment) time.Duration {
	if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return 30 * time.Second
}

// EnvList turns a container's env (plain values only) into a map.
func EnvList(c corev1.Container) (map[string]string, error) {
	out := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			return nil, fmt.Errorf("env %s comes from %v: the lab has no source for it", e.Name, e.ValueFrom)
		}
		out[e.Name] = e.Value
	}
	return out, nil
}

// Environ renders a map as KEY=VALUE, sorted.
func Environ(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// ReplaceArg replaces the value of --flag=… in args; it reports whether it was there.
func ReplaceArg(args []string, flag, value string) ([]string, bool) {
	out := append([]string(nil), args...)
	for i, a := range out {
		if strings.HasPrefix(a, "--"+flag+"=") {
			out[i] = "--" + flag + "=" + value
			return out, true
		}
	}
	return out, false
}

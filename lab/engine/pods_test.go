package engine

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/edw-dev/edw/lab/internal/kubelet"
	"github.com/edw-dev/edw/lab/internal/proc"
)

// nodeName is the one node of the engine lab; its "kubelet" is podKubelet.
const nodeName = "engine-lab"

// podKubelet plays the scheduler and the kubelet for Pods, where the deployment
// and replicaset controllers of kube-controller-manager make them: the engine's
// `up` waits for a Deployment's rollout as it does on a real cluster. It binds
// every Pod of the namespace that has the container to the lab's node, runs the
// container as a process (Substitute resolves env and args), reports it Running
// and Ready, and on a Pod's graceful deletion stops the process with SIGTERM and
// the Pod's grace period, then removes the Pod, as a kubelet does.
type podKubelet struct {
	cs         kubernetes.Interface
	namespace  string
	container  string
	binary     string
	logDir     string
	substitute func(name string, c corev1.Container) (kubelet.Pod, error)

	mu          sync.Mutex
	running     map[string]*proc.Process
	terminating map[string]bool
	started     int
	restarts    int
	stopping    sync.WaitGroup
}

func (k *podKubelet) status() (running, started, restarts int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.running), k.started, k.restarts
}

// run reconciles until ctx ends, then stops every process and returns.
func (k *podKubelet) run(ctx context.Context) {
	k.running, k.terminating = map[string]*proc.Process{}, map[string]bool{}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName}}
	if _, err := k.cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		slog.Warn("pod kubelet: node", "err", err)
	}
	defer k.shutdown()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		if err := k.reconcile(ctx); err != nil && ctx.Err() == nil {
			slog.Warn("pod kubelet", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (k *podKubelet) reconcile(ctx context.Context) error {
	pods, err := k.cs.CoreV1().Pods(k.namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	seen := map[string]bool{}
	for i := range pods.Items {
		pod := &pods.Items[i]
		c := k.containerOf(pod)
		if c == nil {
			continue
		}
		seen[pod.Name] = true
		k.mu.Lock()
		p := k.running[pod.Name]
		k.mu.Unlock()
		switch {
		case pod.DeletionTimestamp != nil:
			k.terminate(ctx, pod, p)
		case pod.Spec.NodeName == "":
			b := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace},
				Target: corev1.ObjectReference{Kind: "Node", Name: nodeName}}
			if err := k.cs.CoreV1().Pods(pod.Namespace).Bind(ctx, b, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("bind %s: %w", pod.Name, err)
			}
		case p == nil:
			if err := k.start(ctx, pod, *c); err != nil {
				return err
			}
		default:
			if exited, err := p.Exited(); exited {
				slog.Warn("pod kubelet: container exited on its own", "pod", pod.Name, "err", err, "log", p.Tail(1500))
				k.mu.Lock()
				k.restarts++
				delete(k.running, pod.Name)
				k.mu.Unlock()
			}
		}
	}
	// A Pod removed without a graceful deletion (or never seen deleting) still
	// has a process: stop it.
	k.mu.Lock()
	var orphans []*proc.Process
	for name, p := range k.running {
		if !seen[name] {
			orphans = append(orphans, p)
			delete(k.running, name)
		}
	}
	k.mu.Unlock()
	for _, p := range orphans {
		p.Stop(30 * time.Second)
	}
	return nil
}

func (k *podKubelet) containerOf(pod *corev1.Pod) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == k.container {
			return &pod.Spec.Containers[i]
		}
	}
	return nil
}

func (k *podKubelet) start(ctx context.Context, pod *corev1.Pod, c corev1.Container) error {
	spec, err := k.substitute(pod.Name, c)
	if err != nil {
		return fmt.Errorf("pod %s: %w", pod.Name, err)
	}
	p, err := proc.Start(proc.Spec{Name: pod.Name, Path: k.binary, Args: spec.Args, Env: spec.Env,
		Log: filepath.Join(k.logDir, pod.Name+".log")})
	if err != nil {
		return err
	}
	k.mu.Lock()
	k.running[pod.Name] = p
	k.started++
	k.mu.Unlock()
	slog.Info("pod kubelet started", "pod", pod.Name, "pid", p.PID())
	now := metav1.Now()
	pod = pod.DeepCopy()
	pod.Status.Phase = corev1.PodRunning
	pod.Status.StartTime = &now
	pod.Status.Conditions = nil
	for _, t := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		pod.Status.Conditions = append(pod.Status.Conditions, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: c.Name, Image: c.Image, ImageID: c.Image, Ready: true, Started: ptr(true),
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
	}}
	if _, err := k.cs.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("pod %s status: %w", pod.Name, err)
	}
	return nil
}

// terminate stops the Pod's process with its grace period, then deletes the Pod
// for good (grace 0), as the kubelet confirms a graceful deletion.
func (k *podKubelet) terminate(ctx context.Context, pod *corev1.Pod, p *proc.Process) {
	k.mu.Lock()
	if k.terminating[pod.Name] {
		k.mu.Unlock()
		return
	}
	k.terminating[pod.Name] = true
	delete(k.running, pod.Name)
	k.mu.Unlock()
	grace := 30 * time.Second
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	name, ns := pod.Name, pod.Namespace
	k.stopping.Add(1)
	go func() {
		defer k.stopping.Done()
		if p != nil {
			slog.Info("pod kubelet stopping", "pod", name, "pid", p.PID(), "signal", "SIGTERM")
			p.Stop(grace)
		}
		err := k.cs.CoreV1().Pods(ns).Delete(context.WithoutCancel(ctx), name, metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))})
		if err != nil && !apierrors.IsNotFound(err) {
			slog.Warn("pod kubelet: delete", "pod", name, "err", err)
		}
	}()
}

func (k *podKubelet) shutdown() {
	k.mu.Lock()
	ps := k.running
	k.running = map[string]*proc.Process{}
	k.mu.Unlock()
	for _, p := range ps {
		k.stopping.Add(1)
		go func() {
			defer k.stopping.Done()
			p.Stop(30 * time.Second)
		}()
	}
	k.stopping.Wait()
}

func ptr[T any](v T) *T { return &v }

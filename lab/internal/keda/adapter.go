package keda

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/edw-dev/edw/lab/internal/cluster"
	"github.com/edw-dev/edw/lab/internal/netns"
	"github.com/edw-dev/edw/lab/internal/proc"
)

// Adapter is KEDA's metrics adapter, served to the API server's aggregator as
// v1beta1.external.metrics.k8s.io from inside a network namespace.
type Adapter struct {
	p *proc.Process
}

const (
	adapterService = "keda-metrics-apiserver"
	adapterPort    = 6443
	apiService     = "v1beta1.external.metrics.k8s.io"
)

// StartAdapter runs the adapter in ns, forwards its connections to the API server
// and the operator's gRPC service over the veth pair, registers the Service,
// Endpoints, EndpointSlice and APIService, and waits until the aggregator reports
// the APIService available. Cancelling ctx stops the forwarders.
func StartAdapter(ctx context.Context, bin string, c *cluster.Cluster, op *Operator, ns *netns.Namespace, dir string) (*Adapter, error) {
	apiURL, err := url.Parse(c.Server)
	if err != nil {
		return nil, err
	}
	apiFwd, err := forward(ctx, ns.HostIP, apiURL.Host)
	if err != nil {
		return nil, err
	}
	grpcFwd, err := forward(ctx, ns.HostIP, op.GRPC)
	if err != nil {
		return nil, err
	}
	certDir := filepath.Join(dir, "adapter-certs")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return nil, err
	}
	if err := writeCerts(c, certDir, "keda-metrics-apiserver", ns.NSIP,
		adapterService+"."+Namespace+".svc", adapterService+"."+Namespace+".svc.cluster.local"); err != nil {
		return nil, err
	}
	// The admin kubeconfig, with the API server reached through the forwarder.
	kc, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("adapter kubeconfig: %w", err)
	}
	for _, cl := range kc.Clusters {
		cl.Server = "https://" + apiFwd
	}
	kubeconfig := filepath.Join(dir, "adapter.kubeconfig")
	if err := clientcmd.WriteToFile(*kc, kubeconfig); err != nil {
		return nil, fmt.Errorf("adapter kubeconfig: %w", err)
	}
	p, err := proc.Start(proc.Spec{Name: "keda-adapter", Path: bin, NetNS: ns.Name, Log: filepath.Join(dir, "keda-adapter.log"),
		Args: []string{
			"--secure-port=" + strconv.Itoa(adapterPort), "--bind-address=" + ns.NSIP,
			"--cert-dir=" + certDir,
			"--tls-cert-file=" + filepath.Join(certDir, "tls.crt"), "--tls-private-key-file=" + filepath.Join(certDir, "tls.key"),
			"--lister-kubeconfig=" + kubeconfig,
			"--authentication-kubeconfig=" + kubeconfig, "--authorization-kubeconfig=" + kubeconfig,
			"--metrics-service-address=" + grpcFwd,
			"--port=8080", // its own /metrics, inside the namespace
			"--zap-log-level=info", "--zap-encoder=console",
		},
		Env: []string{"KUBECONFIG=" + kubeconfig, "WATCH_NAMESPACE=", "POD_NAMESPACE=" + Namespace,
			"KEDA_CLUSTER_OBJECT_NAMESPACE=" + Namespace},
	})
	if err != nil {
		return nil, err
	}
	a := &Adapter{p: p}
	if err := register(ctx, c, ns.NSIP); err != nil {
		a.Stop()
		return nil, fmt.Errorf("%w\nadapter log:\n%s", err, p.Tail(3000))
	}
	if err := waitAvailable(ctx, c, p); err != nil {
		a.Stop()
		return nil, err
	}
	return a, nil
}

// Stop stops the adapter by PID.
func (a *Adapter) Stop() { a.p.Stop(10 * time.Second) }

// Log is the adapter's log file.
func (a *Adapter) Log() string { return a.p.Log }

// Unregister removes the APIService and the Service so the lab is left as found.
func Unregister(ctx context.Context, c *cluster.Cluster) {
	if dyn, err := dynamic.NewForConfig(c.REST); err == nil {
		_ = dyn.Resource(apiServiceGVR).Delete(ctx, apiService, metav1.DeleteOptions{})
	}
	cfg := rest.CopyConfig(c.REST)
	cfg.WarningHandler = rest.NoWarnings{}
	if cs, err := kubernetes.NewForConfig(cfg); err == nil {
		_ = cs.CoreV1().Services(Namespace).Delete(ctx, adapterService, metav1.DeleteOptions{})
		_ = cs.CoreV1().Endpoints(Namespace).Delete(ctx, adapterService, metav1.DeleteOptions{})
		_ = cs.DiscoveryV1().EndpointSlices(Namespace).Delete(ctx, adapterService, metav1.DeleteOptions{})
	}
}

var apiServiceGVR = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

func forward(ctx context.Context, hostIP, target string) (string, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(hostIP, "0"))
	if err != nil {
		return "", fmt.Errorf("forwarder to %s: %w", target, err)
	}
	go netns.Forward(ctx, l, target)
	return l.Addr().String(), nil
}

func register(ctx context.Context, c *cluster.Cluster, ip string) error {
	cfg := rest.CopyConfig(c.REST)
	cfg.WarningHandler = rest.NoWarnings{} // "v1 Endpoints is deprecated": the aggregator still reads them
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("namespace %s: %w", Namespace, err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: adapterService, Namespace: Namespace},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "https", Port: 443,
			TargetPort: intstr.FromInt32(adapterPort), Protocol: corev1.ProtocolTCP}}},
	}
	if _, err := cs.CoreV1().Services(Namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("service %s: %w", adapterService, err)
	}
	//nolint:staticcheck // the aggregator still resolves Endpoints; the slice is for newer readers
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: adapterService, Namespace: Namespace},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: ip}},
			Ports: []corev1.EndpointPort{{Name: "https", Port: adapterPort, Protocol: corev1.ProtocolTCP}}}},
	}
	if _, err := cs.CoreV1().Endpoints(Namespace).Create(ctx, ep, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("endpoints %s: %w", adapterService, err)
	}
	name, port, proto, ready := "https", int32(adapterPort), corev1.ProtocolTCP, true
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: adapterService, Namespace: Namespace,
			Labels: map[string]string{discoveryv1.LabelServiceName: adapterService, discoveryv1.LabelManagedBy: "edw-lab"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port, Protocol: &proto}},
	}
	if _, err := cs.DiscoveryV1().EndpointSlices(Namespace).Create(ctx, slice, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("endpointslice %s: %w", adapterService, err)
	}
	ca, err := os.ReadFile(c.CAFile())
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(c.REST)
	if err != nil {
		return err
	}
	svcRef := map[string]any{"namespace": Namespace, "name": adapterService, "port": int64(443)}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
		"metadata": map[string]any{"name": apiService},
		"spec": map[string]any{
			"group": "external.metrics.k8s.io", "version": "v1beta1", "service": svcRef,
			"caBundle": base64.StdEncoding.EncodeToString(ca), "groupPriorityMinimum": int64(100), "versionPriority": int64(100),
		},
	}}
	if _, err := dyn.Resource(apiServiceGVR).Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("apiservice %s: %w", apiService, err)
	}
	return nil
}

func waitAvailable(ctx context.Context, c *cluster.Cluster, p *proc.Process) error {
	dyn, err := dynamic.NewForConfig(c.REST)
	if err != nil {
		return err
	}
	var last any
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		if ok, err := p.Exited(); ok {
			return false, fmt.Errorf("keda-adapter exited: %v\n%s", err, p.Tail(4000))
		}
		got, err := dyn.Resource(apiServiceGVR).Get(ctx, apiService, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		last = conds
		for _, cond := range conds {
			m := cond.(map[string]any)
			if m["type"] == "Available" && m["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("APIService %s not available: %w (conditions %v)\nadapter log:\n%s", apiService, err, last, p.Tail(4000))
	}
	return nil
}

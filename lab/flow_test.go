package lab

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"

	"github.com/edw-dev/edw/lab/internal/apply"
	"github.com/edw-dev/edw/lab/internal/cluster"
	"github.com/edw-dev/edw/lab/internal/keda"
	"github.com/edw-dev/edw/lab/internal/kubelet"
	"github.com/edw-dev/edw/lab/internal/queues"
)

// credentialsSecret holds the emulator credentials that replace pod identity.
const credentialsSecret = "edw-lab-emulator-credentials"

// workload is one configuration's consumer, ScaledObject and TriggerAuthentication
// as rendered, with the lab's identity swap applied, ready to run on the lab.
type workload struct {
	cloud      string
	namespace  string
	deployment *unstructured.Unstructured
	scaled     *unstructured.Unstructured
	auth       *unstructured.Unstructured
	others     []*unstructured.Unstructured // namespace, service account
	secret     *corev1.Secret
	backend    queues.Backend
	// renderedEnv is the consumer container's env as rendered.
	renderedEnv map[string]string
	// env maps the container's env as rendered to the emulator's.
	env func(rendered map[string]string) map[string]string
	// rule is the ScaledObject's numbers as rendered.
	rule scalingRule
}

// scalingRule is what the ScaledObject says; the demo's rule takes the same numbers.
type scalingRule struct {
	Min, Max, Target, Activation int
	Polling, Cooldown            time.Duration
}

// placement lets workloads rendered into the same namespace, with the same queue
// names, share the lab at once: another namespace for the namespaced objects,
// another pair of SQS and DynamoDB emulators. Nothing in the specs changes.
// scaled names the ScaledObject to run when the render has several (one per
// route); a render with one needs no name.
type placement struct {
	namespace, sqs, dynamodb string
	scaled                   string
}

// newWorkload reads the rendered configuration and creates its queue and table
// on the emulators under the rendered names.
func newWorkload(ctx context.Context, t *testing.T, l *labState, render string, at placement) *workload {
	t.Helper()
	files, err := Rendered(l.env.RenderDir)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := apply.ReadRendered(files[render])
	if err != nil {
		t.Fatal(err)
	}
	w := &workload{scaled: scaledObject(t, objs, render, at.scaled)}
	// The TriggerAuthentication is the one this ScaledObject's trigger names.
	triggers, _, _ := unstructured.NestedSlice(w.scaled.Object, "spec", "triggers")
	if len(triggers) != 1 {
		t.Fatalf("%s: want one trigger, got %d", apply.Describe(w.scaled), len(triggers))
	}
	authName, _, _ := unstructured.NestedString(triggers[0].(map[string]any), "authenticationRef", "name")
	for _, o := range objs {
		if o.GetKind() == "TriggerAuthentication" && o.GetName() == authName && o.GetNamespace() == w.scaled.GetNamespace() {
			w.auth = o
		}
	}
	if w.auth == nil {
		t.Fatalf("%s renders no TriggerAuthentication %q for %s", render, authName, apply.Describe(w.scaled))
	}
	w.scaled, w.auth = w.scaled.DeepCopy(), w.auth.DeepCopy()
	w.namespace = w.scaled.GetNamespace()
	target, _, _ := unstructured.NestedString(w.scaled.Object, "spec", "scaleTargetRef", "name")
	for _, o := range objs {
		switch {
		case o.GetKind() == "Deployment" && o.GetName() == target && o.GetNamespace() == w.namespace:
			w.deployment = o
		case o.GetKind() == "Namespace" && o.GetName() == w.namespace, o.GetKind() == "ServiceAccount" && o.GetNamespace() == w.namespace:
			w.others = append(w.others, o)
		}
	}
	if w.deployment == nil {
		t.Fatalf("%s renders no Deployment %s/%s for the ScaledObject", render, w.namespace, target)
	}
	w.deployment = w.deployment.DeepCopy()
	if namespace := at.namespace; namespace != "" && namespace != w.namespace {
		w.namespace = namespace
		for i, o := range w.others {
			o = o.DeepCopy()
			if o.GetKind() == "Namespace" {
				o.SetName(namespace)
			} else {
				o.SetNamespace(namespace)
			}
			w.others[i] = o
		}
		for _, o := range []*unstructured.Unstructured{w.deployment, w.scaled, w.auth} {
			o.SetNamespace(namespace)
		}
	}
	w.rule = ruleOf(t, w.scaled)
	triggers, _, _ = unstructured.NestedSlice(w.scaled.Object, "spec", "triggers")
	trigger := triggers[0].(map[string]any)
	meta := trigger["metadata"].(map[string]any)
	renderedEnv := containerEnv(t, w.deployment)
	w.renderedEnv = renderedEnv
	args := containerArgs(t, w.deployment)
	w.secret = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: credentialsSecret, Namespace: w.namespace}}
	switch trigger["type"] {
	case "aws-sqs-queue":
		w.cloud = "aws"
		sqsEndpoint, ddbEndpoint := cmp.Or(at.sqs, l.env.SQSEndpoint), cmp.Or(at.dynamodb, l.env.DynamoDBEndpoint)
		if sqsEndpoint == "" || ddbEndpoint == "" {
			t.Skip("fauxqs and dynalite are not running (EDW_TEST_SQS_ENDPOINT, EDW_TEST_DYNAMODB_ENDPOINT)")
		}
		queueURL, _ := meta["queueURL"].(string)
		if queueURL != renderedEnv["EDW_QUEUE_URL"] {
			t.Fatalf("trigger queueURL %q is not the consumer's EDW_QUEUE_URL %q", queueURL, renderedEnv["EDW_QUEUE_URL"])
		}
		a, err := queues.NewAWS(ctx, renderedEnv["AWS_REGION"], sqsEndpoint, ddbEndpoint,
			lastSegment(t, queueURL), lastSegment(t, renderedEnv["EDW_DLQ_URL"]), renderedEnv["EDW_TABLE_NAME"],
			durationArg(t, args, "visibility-timeout"), intArg(t, args, "max-receive-count"))
		if err != nil {
			t.Fatal(err)
		}
		w.backend = a
		// The scaler's endpoint setting, and the emulator's URL for the same queue name.
		meta["queueURL"], meta["awsEndpoint"] = a.QueueURL, sqsEndpoint
		w.secret.StringData = map[string]string{"id": queues.AWSKeys, "secret": queues.AWSKeys}
		w.auth.Object["spec"] = map[string]any{"secretTargetRef": []any{
			map[string]any{"parameter": "awsAccessKeyID", "name": credentialsSecret, "key": "id"},
			map[string]any{"parameter": "awsSecretAccessKey", "name": credentialsSecret, "key": "secret"},
		}}
		w.env = func(r map[string]string) map[string]string {
			r["EDW_QUEUE_URL"], r["EDW_DLQ_URL"] = a.QueueURL, a.DLQURL
			// IRSA's stand-in: static emulator keys and endpoints.
			r["AWS_ACCESS_KEY_ID"], r["AWS_SECRET_ACCESS_KEY"] = queues.AWSKeys, queues.AWSKeys
			r["AWS_ENDPOINT_URL_SQS"], r["AWS_ENDPOINT_URL_DYNAMODB"] = sqsEndpoint, ddbEndpoint
			return r
		}
	case "azure-queue":
		w.cloud = "azure"
		conn := l.env.AzuriteConnectionString
		if conn == "" {
			t.Skip("Azurite is not running (EDW_TEST_AZURITE_CONNECTION_STRING)")
		}
		queue, _ := meta["queueName"].(string)
		if queue != renderedEnv["EDW_QUEUE_NAME"] {
			t.Fatalf("trigger queueName %q is not the consumer's EDW_QUEUE_NAME %q", queue, renderedEnv["EDW_QUEUE_NAME"])
		}
		a, err := queues.NewAzure(ctx, conn, queue, renderedEnv["EDW_POISON_QUEUE_NAME"], renderedEnv["EDW_TABLE_NAME"])
		if err != nil {
			t.Fatal(err)
		}
		w.backend = a
		w.secret.StringData = map[string]string{"connection": conn}
		w.auth.Object["spec"] = map[string]any{"secretTargetRef": []any{
			map[string]any{"parameter": "connection", "name": credentialsSecret, "key": "connection"},
		}}
		w.env = func(r map[string]string) map[string]string {
			// Workload ID's stand-in: a connection string instead of the account name.
			delete(r, "EDW_STORAGE_ACCOUNT")
			r["AZURE_STORAGE_CONNECTION_STRING"] = conn
			return r
		}
	default:
		t.Fatalf("unknown trigger type %v", trigger["type"])
	}
	if err := unstructured.SetNestedSlice(w.scaled.Object, triggers, "spec", "triggers"); err != nil {
		t.Fatal(err)
	}
	return w
}

// scaledObject is the render's ScaledObject called name, or its only one.
func scaledObject(t *testing.T, objs []*unstructured.Unstructured, render, name string) *unstructured.Unstructured {
	t.Helper()
	var all []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "ScaledObject" && (name == "" || o.GetName() == name) {
			all = append(all, o)
		}
	}
	switch {
	case len(all) == 0 && name != "":
		t.Fatalf("%s renders no ScaledObject %s", render, name)
	case len(all) == 0:
		t.Fatalf("%s renders no ScaledObject", render)
	case len(all) > 1:
		t.Fatalf("%s renders %d ScaledObjects named %q: name the one to run (placement.scaled)", render, len(all), name)
	}
	return all[0]
}

func ruleOf(t *testing.T, so *unstructured.Unstructured) scalingRule {
	t.Helper()
	num := func(fields ...string) int {
		v, ok, _ := unstructured.NestedFieldNoCopy(so.Object, fields...)
		if !ok {
			t.Fatalf("ScaledObject has no %s", strings.Join(fields, "."))
		}
		switch n := v.(type) {
		case int64:
			return int(n)
		case float64:
			return int(n)
		}
		t.Fatalf("ScaledObject %s is %T", strings.Join(fields, "."), v)
		return 0
	}
	triggers, _, _ := unstructured.NestedSlice(so.Object, "spec", "triggers")
	meta := triggers[0].(map[string]any)["metadata"].(map[string]any)
	atoi := func(k string) int {
		n, err := strconv.Atoi(fmt.Sprint(meta[k]))
		if err != nil {
			t.Fatalf("trigger %s: %v", k, err)
		}
		return n
	}
	return scalingRule{
		Min: num("spec", "minReplicaCount"), Max: num("spec", "maxReplicaCount"),
		Target: atoi("queueLength"), Activation: atoi("activationQueueLength"),
		Polling:  time.Duration(num("spec", "pollingInterval")) * time.Second,
		Cooldown: time.Duration(num("spec", "cooldownPeriod")) * time.Second,
	}
}

func containerOf(t *testing.T, d *unstructured.Unstructured) map[string]any {
	t.Helper()
	cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	if len(cs) != 1 {
		t.Fatalf("want one container in %s, got %d", apply.Describe(d), len(cs))
	}
	return cs[0].(map[string]any)
}

func containerEnv(t *testing.T, d *unstructured.Unstructured) map[string]string {
	env := map[string]string{}
	list, _ := containerOf(t, d)["env"].([]any)
	for _, e := range list {
		m := e.(map[string]any)
		v, ok := m["value"].(string)
		if !ok {
			t.Fatalf("env %v has no plain value", m["name"])
		}
		env[m["name"].(string)] = v
	}
	return env
}

func containerArgs(t *testing.T, d *unstructured.Unstructured) []string {
	var out []string
	list, _ := containerOf(t, d)["args"].([]any)
	for _, a := range list {
		out = append(out, a.(string))
	}
	return out
}

func argValue(t *testing.T, args []string, flag string) string {
	t.Helper()
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+flag+"="); ok {
			return v
		}
	}
	t.Fatalf("consumer args %v have no --%s", args, flag)
	return ""
}

func durationArg(t *testing.T, args []string, flag string) int {
	d, err := time.ParseDuration(argValue(t, args, flag))
	if err != nil {
		t.Fatal(err)
	}
	return int(d.Seconds())
}

func intArg(t *testing.T, args []string, flag string) int {
	n, err := strconv.Atoi(argValue(t, args, flag))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func lastSegment(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Path == "" {
		t.Fatalf("not a queue URL: %q", raw)
	}
	return path.Base(u.Path)
}

// deploy applies the workload to the lab: namespace, service account, the
// credentials secret, the Deployment as rendered, TriggerAuthentication and
// ScaledObject with the identity swap. It deletes them all when the test ends.
func (w *workload) deploy(ctx context.Context, t *testing.T, l *labState, cs kubernetes.Interface) {
	t.Helper()
	for _, o := range apply.Order(w.others) {
		if _, err := l.client.Apply(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cs.CoreV1().Secrets(w.namespace).Create(ctx, w.secret, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	for _, o := range []*unstructured.Unstructured{w.deployment, w.auth, w.scaled} {
		if _, err := l.client.Apply(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// The ScaledObject first, while KEDA runs to remove its finalizer.
		for _, o := range []*unstructured.Unstructured{w.scaled, w.auth, w.deployment} {
			if err := l.client.Delete(ctx, o); err != nil {
				t.Error(err)
			}
		}
		_ = cs.CoreV1().Secrets(w.namespace).Delete(ctx, credentialsSecret, metav1.DeleteOptions{})
	})
}

// pod substitutes what the lab cannot have in one replica: the emulators for the
// cloud, a free loopback port for the metrics address each pod has to itself.
func (w *workload) pod(name string, c corev1.Container) (kubelet.Pod, error) {
	env, err := kubelet.EnvList(c)
	if err != nil {
		return kubelet.Pod{}, err
	}
	env = w.env(env)
	port, err := cluster.FreePort()
	if err != nil {
		return kubelet.Pod{}, err
	}
	args, ok := kubelet.ReplaceArg(c.Args, "metrics-addr", "127.0.0.1:"+strconv.Itoa(port))
	if !ok {
		return kubelet.Pod{}, fmt.Errorf("container args %v have no --metrics-addr", c.Args)
	}
	if len(c.Command) > 0 {
		return kubelet.Pod{}, fmt.Errorf("container command %v: the lab runs the image's entrypoint, the consumer binary", c.Command)
	}
	return kubelet.Pod{Args: args, Env: kubelet.Environ(env)}, nil
}

// produce sends n messages with the producer binary and the consumer's
// environment (checked to be plain values when the workload was read).
func (w *workload) produce(ctx context.Context, l *labState, n int) error {
	env := w.env(maps.Clone(w.renderedEnv))
	cmd := exec.CommandContext(ctx, l.env.Producer, "--count", strconv.Itoa(n), "--quiet")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, kubelet.Environ(env)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("producer: %w: %s", err, out)
	}
	return nil
}

// sample is one second of the timeline.
type sample struct {
	At         time.Duration `json:"at"`
	Backlog    int           `json:"backlog"`    // -1: the read failed
	Desired    int           `json:"desired"`    // the Deployment's spec.replicas (KEDA, HPA)
	HPADesired int           `json:"hpaDesired"` // the HPA's status.desiredReplicas, -1 without an HPA
	Running    int           `json:"running"`    // consumer processes
	Rows       int           `json:"rows"`       // -1: the read failed
}

// timeline samples the workload every second until stop returns true or ctx ends.
type timeline struct {
	mu      sync.Mutex
	start   time.Time
	samples []sample
}

func (tl *timeline) record(ctx context.Context, w *workload, k *kubelet.Kubelet, cs kubernetes.Interface, hpaName string) sample {
	// A read that failed is unknown (-1), never 0: "queue empty" must be seen.
	s := sample{At: time.Since(tl.start).Round(time.Second), HPADesired: -1, Backlog: -1, Rows: -1}
	if b, err := w.backend.Backlog(ctx); err == nil {
		s.Backlog = b
	}
	if rows, err := w.backend.Rows(ctx); err == nil {
		s.Rows = len(rows)
	}
	st := k.Status()
	s.Desired, s.Running = st.Desired, st.Running
	if hpaName != "" {
		if h, err := cs.AutoscalingV2().HorizontalPodAutoscalers(w.namespace).Get(ctx, hpaName, metav1.GetOptions{}); err == nil {
			s.HPADesired = int(h.Status.DesiredReplicas)
		}
	}
	tl.mu.Lock()
	tl.samples = append(tl.samples, s)
	tl.mu.Unlock()
	return s
}

func (tl *timeline) print(t *testing.T, title string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%s (a second is shown when something changed, and every 15 s)\n%6s %8s %8s %8s %8s %6s\n",
		title, "t", "backlog", "desired", "hpa", "running", "rows")
	var last sample
	for i, s := range tl.samples {
		same := i > 0 && s.Backlog == last.Backlog && s.Desired == last.Desired && s.HPADesired == last.HPADesired &&
			s.Running == last.Running && s.Rows == last.Rows
		if same && int(s.At.Seconds())%15 != 0 && i != len(tl.samples)-1 {
			continue
		}
		last = s
		hpa := "-"
		if s.HPADesired >= 0 {
			hpa = strconv.Itoa(s.HPADesired)
		}
		fmt.Fprintf(&b, "%5ds %8s %8d %8s %8d %6s\n", int(s.At.Seconds()), known(s.Backlog), s.Desired, hpa, s.Running, known(s.Rows))
	}
	t.Log(b.String())
}

// known prints a count, or "?" for a read that failed.
func known(n int) string {
	if n < 0 {
		return "?"
	}
	return strconv.Itoa(n)
}

// between returns the samples taken from from to to, both included.
func (tl *timeline) between(from, to time.Duration) []sample {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var out []sample
	for _, s := range tl.samples {
		if s.At >= from && s.At <= to {
			out = append(out, s)
		}
	}
	return out
}

// first is the time of the first sample that satisfies ok, or -1.
func (tl *timeline) first(ok func(sample) bool) time.Duration {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	for _, s := range tl.samples {
		if ok(s) {
			return s.At
		}
	}
	return -1
}

// waitScaledObjectReady waits until KEDA has reconciled the ScaledObject.
func waitScaledObjectReady(ctx context.Context, t *testing.T, l *labState, so *unstructured.Unstructured, op *keda.Operator) {
	t.Helper()
	r, err := l.client.Resource(so)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		got, err := r.Get(ctx, so.GetName(), metav1.GetOptions{})
		if err == nil {
			conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
			for _, c := range conds {
				m := c.(map[string]any)
				if m["type"] == "Ready" && m["status"] == "True" {
					return
				}
			}
			if time.Now().After(deadline) {
				b, _ := json.MarshalIndent(got.Object["status"], "", "  ")
				t.Fatalf("ScaledObject not ready after 90s: %s\noperator log:\n%s", b, tailFile(op.Log(), 4000))
			}
		}
		if err := op.Check(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func tailFile(p string, n int64) string {
	return tailLog(filepath.Dir(p), strings.TrimSuffix(filepath.Base(p), ".log"), n)
}

package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"

	"github.com/edw-dev/edw/internal/clusteraccess"
	"github.com/edw-dev/edw/internal/pulumitest"
	"github.com/edw-dev/edw/lab/internal/apply"
	"github.com/edw-dev/edw/lab/internal/cluster"
	"github.com/edw-dev/edw/lab/internal/kubelet"
	"github.com/edw-dev/edw/lab/internal/queues"
	"github.com/edw-dev/edw/stacks"
)

const (
	stackName = "lab"
	namespace = "edw" // the workload namespace a kubernetes stack deploys into
	secret    = "edw-credentials"
	region    = "us-east-1"
	messages  = 200
	// readerGroup is the edw:clusterReaders group the CI preview's user is in.
	readerGroup = "edw-ci-readers"
	// visibility is short: a consumer that KEDA scales down while it long-polls
	// can strand a batch that the emulator hands to the abandoned poll (seen
	// here: 10 messages), which comes back only after the visibility timeout.
	visibility = 15
)

// projectFile is the repository's Pulumi.yaml: its config schema and defaults
// apply to the engine's runs as they do to users'.
var projectFile = filepath.Join("..", "..", "Pulumi.yaml")

// TestEngineDeploysOntoTheLab runs edw's program with `edw:cloud: kubernetes`
// through the real Pulumi engine and Kubernetes provider onto the lab, whose KEDA
// operator and process kubelet then run it on the emulators:
// preview → up → every object on the API server → KEDA scales the consumer, which
// drains the queue into the table → a second up changes nothing → one scaling key
// changes exactly the ScaledObject → destroy leaves nothing → a bad key fails
// preview with one line and registers nothing. The engine's resources are also
// compared with what the mock-recording test kit records for the same config.
func TestEngineDeploysOntoTheLab(t *testing.T) {
	s := labSite(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	steps := &stepTimes{}
	defer steps.print(t)

	// The queue and table exist before edw runs, as they do for its users.
	suffix := strconv.Itoa(os.Getpid() % 100000)
	q, err := queues.NewAWS(ctx, region, s.env.SQSEndpoint, s.env.DynamoDBEndpoint,
		"edw-engine-"+suffix, "edw-engine-dlq-"+suffix, "edw-engine-results-"+suffix, visibility, stacks.DefaultMaxReceiveCount)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(s.cluster.REST)
	if err != nil {
		t.Fatal(err)
	}
	// So does the namespace with the credentials Secret (edw:createNamespace false).
	// fauxqs serves only SQS, so the Secret also points DynamoDB at dynalite: the
	// standard service-specific variable, which wins over AWS_ENDPOINT_URL.
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}},
		metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Secrets(namespace).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: secret, Namespace: namespace},
		StringData: map[string]string{
			"AWS_ACCESS_KEY_ID": queues.AWSKeys, "AWS_SECRET_ACCESS_KEY": queues.AWSKeys,
			"AWS_ENDPOINT_URL_DYNAMODB": s.env.DynamoDBEndpoint,
		},
	}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	digest := func(b byte) string { return "sha256:" + strings.Repeat(string(rune(b)), 64) }
	config := map[string]string{
		"edw:cloud":             "kubernetes",
		"edw:queueBackend":      "aws",
		"edw:queueUrl":          q.QueueURL,
		"edw:dlqUrl":            q.DLQURL,
		"edw:tableName":         q.Table,
		"edw:awsRegion":         region,
		"edw:awsEndpoint":       s.env.SQSEndpoint,
		"edw:credentialsSecret": secret,
		"edw:createNamespace":   "false",
		"edw:installKeda":       "false", // the lab's KEDA runs outside the cluster
		// The process kubelet runs the local binaries for these.
		"edw:producerImage":            "ghcr.io/edw-dev/edw-producer@" + digest('a'),
		"edw:consumerImage":            "ghcr.io/edw-dev/edw-consumer@" + digest('b'),
		"edw:pollingIntervalSeconds":   "2",
		"edw:cooldownSeconds":          "10",
		"edw:messagesPerPod":           "50",
		"edw:visibilityTimeoutSeconds": strconv.Itoa(visibility),
		// The lab serves the Prometheus Operator's CRDs.
		"edw:podMonitor": "true",
	}

	// The scheduler and kubelet for the Pods the controllers make, from before
	// the first up until after destroy (a deleted Pod waits for its kubelet).
	k := &podKubelet{cs: cs, namespace: namespace, container: "consumer", binary: s.env.Consumer,
		logDir: podLogs(t), substitute: podFor(ctx, cs)}
	kctx, stopKubelet := context.WithCancel(context.Background())
	kubeletDone := make(chan struct{})
	go func() {
		defer close(kubeletDone)
		k.run(kctx)
	}()
	defer func() { stopKubelet(); <-kubeletDone }()

	// The engine's own copy of the admin kubeconfig: the reader's preview below
	// swaps its content, and its path is the provider's kubeconfig input, which
	// must not change (a changed input is a provider diff, not a reader's view).
	engineKubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	adminKubeconfig, err := os.ReadFile(s.cluster.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(engineKubeconfig, adminKubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}

	var e *Engine
	steps.run(t, "install engine (CLI, provider plugin, PULUMI_HOME)", func() {
		e, err = New(ctx, s.bins, t.TempDir(), map[string]string{"KUBECONFIG": engineKubeconfig})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() {
		if pids := e.Stop(); len(pids) > 0 {
			t.Errorf("engine processes outlived their commands (killed): %v", pids)
		}
	})
	project, err := workspace.LoadProject(projectFile)
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.Stack(ctx, *project, stackName, stacks.Run, config)
	if err != nil {
		t.Fatal(err)
	}
	// CI previews run as a member of edw:clusterReaders (an array: set by path,
	// as `pulumi config set --path` does).
	if err := st.SetConfigWithOptions(ctx, "edw:clusterReaders[0]", auto.ConfigValue{Value: readerGroup}, &auto.ConfigOptions{Path: true}); err != nil {
		t.Fatal(err)
	}

	var planned int
	steps.run(t, "preview", func() {
		res, err := st.Preview(ctx)
		if err != nil {
			t.Fatalf("preview: %v", err)
		}
		planned = res.ChangeSummary[apitype.OpCreate]
		if planned == 0 || len(res.ChangeSummary) != 1 {
			t.Fatalf("preview of a new stack: want only creates, got %v", res.ChangeSummary)
		}
		t.Logf("preview: %v", res.ChangeSummary)
		if objs := stackObjects(ctx, t, s); len(objs) != 0 {
			t.Fatalf("preview created objects on the API server: %v", objs)
		}
	})

	var created []*unstructured.Unstructured
	steps.run(t, "up", func() {
		res, err := st.Up(ctx)
		if err != nil {
			t.Fatalf("up: %v", err)
		}
		changes := summary(res.Summary)
		if changes[string(apitype.OpCreate)] != planned || len(changes) != 1 {
			t.Fatalf("up: want %d creates as previewed, got %v", planned, changes)
		}
		t.Logf("up: %v", changes)
	})

	var state []apitype.ResourceV3
	steps.run(t, "every object on the API server", func() {
		state = resources(ctx, t, st)
		created = onAPIServer(ctx, t, s, state)
		var kinds []string
		for _, o := range created {
			kinds = append(kinds, o.GetKind()+"/"+o.GetName())
		}
		t.Logf("%d resources in the stack, %d objects on the API server: %s", len(state), len(created), strings.Join(kinds, ", "))
	})

	steps.run(t, "engine resources = mock kit's resources", func() {
		mockConfig := maps.Clone(config)
		mockConfig["edw:clusterReaders"] = `["` + readerGroup + `"]`
		g := pulumitest.Run(t, stacks.Run, pulumitest.Stack(stackName), pulumitest.Config(mockConfig))
		mock := map[string]string{}
		for _, r := range g.Resources {
			mock[r.URN] = r.Type
		}
		engine := map[string]string{}
		for _, r := range state {
			if r.Type == "pulumi:pulumi:Stack" || r.Type == "pulumi:providers:pulumi" {
				// The engine's root, and its built-in provider that serves the
				// program's stack reference: the mocks have neither.
				continue
			}
			engine[string(r.URN)] = string(r.Type)
		}
		for u, typ := range engine {
			if _, ok := mock[u]; !ok {
				t.Errorf("the engine has %s (%s); the mocks recorded no such resource", u, typ)
			}
		}
		for u, typ := range mock {
			if _, ok := engine[u]; !ok {
				t.Errorf("the mocks recorded %s (%s); the engine has no such resource", u, typ)
			}
		}
		t.Logf("engine and mocks: the same %d resources (type and name)", len(engine))
	})

	so := find(t, created, "ScaledObject")
	steps.run(t, fmt.Sprintf("KEDA scales the consumer, %d messages drained", messages), func() {
		drain(ctx, t, s, cs, k, q, so)
	})

	steps.run(t, "second up changes nothing", func() {
		res, err := st.Up(ctx)
		if err != nil {
			t.Fatalf("second up: %v", err)
		}
		changes := summary(res.Summary)
		delete(changes, string(apitype.OpSame))
		if len(changes) != 0 {
			t.Fatalf("second up with the same config changed %v", changes)
		}
	})

	steps.run(t, "edw:messagesPerPod 50 → 20 updates only the ScaledObject", func() {
		if err := st.SetConfig(ctx, "edw:messagesPerPod", auto.ConfigValue{Value: "20"}); err != nil {
			t.Fatal(err)
		}
		var steps []apitype.StepEventMetadata
		res, err := st.Up(ctx, optup.EventStreams(collectSteps(&steps)))
		if err != nil {
			t.Fatalf("up: %v", err)
		}
		changes := summary(res.Summary)
		delete(changes, string(apitype.OpSame))
		var changed []string
		for _, m := range steps {
			if m.Op != apitype.OpSame && m.Op != apitype.OpRead && m.Type != "pulumi:pulumi:Stack" {
				changed = append(changed, fmt.Sprintf("%s %s %s", m.Op, m.Type, m.URN))
			}
		}
		if len(changed) != 1 || !strings.Contains(changed[0], "update kubernetes:keda.sh/v1alpha1:ScaledObject") {
			t.Fatalf("want exactly the ScaledObject updated, got %v (summary %v)", changed, changes)
		}
		live := get(ctx, t, s, so)
		if got := triggerMeta(t, live)["queueLength"]; got != "20" {
			t.Fatalf("ScaledObject on the API server: queueLength %v, want 20", got)
		}
		t.Logf("%s; on the API server queueLength is 20", changed[0])
	})

	// What a CI preview reads, from evidence (issue 21, items 7 and 15): preview
	// the deployed stack as a user whose only rights are the reader grants the
	// stack made. A plain preview reads nothing (it passes with no rules); the
	// CI preview refreshes (preview.yml), which reads every object the stack
	// owns, so each reader rule is needed: taken away, the refresh is denied.
	steps.run(t, "preview as a reader: a plain preview reads nothing, --refresh needs each reader rule", func() {
		readerKubeconfig := filepath.Join(t.TempDir(), "reader", "kubeconfig")
		if err := os.MkdirAll(filepath.Dir(readerKubeconfig), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := s.cluster.WriteUserKubeconfig(readerKubeconfig, "edw-ci-preview", readerGroup); err != nil {
			t.Fatal(err)
		}
		reader, err := os.ReadFile(readerKubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(engineKubeconfig, reader, 0o600); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := os.WriteFile(engineKubeconfig, adminKubeconfig, 0o600); err != nil {
				t.Fatal(err)
			}
		}()
		roles := cs.RbacV1().ClusterRoles()
		orig, err := roles.Get(ctx, "edw-reader", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		setRules := func(rules []rbacv1.PolicyRule) {
			live, err := roles.Get(ctx, orig.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			live.Rules = rules
			if _, err := roles.Update(ctx, live, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		defer setRules(orig.Rules)
		// A plain preview reads nothing from the cluster: with a reader role of
		// no rules at all it plans the deployed stack and a pending change alike.
		setRules(nil)
		if res, err := st.Preview(ctx); err != nil {
			t.Fatalf("plain preview as a reader with no rules: %v", err)
		} else if changes := withoutReads(res.ChangeSummary); changes[apitype.OpSame] == 0 || len(changes) != 1 {
			t.Fatalf("plain preview as a reader of the deployed stack: want only sames, got %v", changes)
		}
		// CI previews refresh first (preview.yml), so they show drift; a refresh
		// reads every object the stack owns. With the reader rules it succeeds.
		setRules(orig.Rules)
		res, err := st.Preview(ctx, optpreview.Refresh())
		if err != nil {
			t.Fatalf("preview --refresh as a member of %s: %v", readerGroup, err)
		}
		t.Logf("preview --refresh as a member of %s: %v", readerGroup, res.ChangeSummary)
		// Each rule covering objects the stack has, taken away, denies the
		// refresh: every grant is one a CI preview uses.
		owned := map[[2]string]bool{} // API group and plural resource of what the stack owns
		for _, r := range resources(ctx, t, st) {
			parts := strings.Split(string(r.Type), ":") // kubernetes:apps/v1:Deployment
			if len(parts) != 3 || parts[0] != "kubernetes" || !r.Custom {
				continue
			}
			group, _, _ := strings.Cut(parts[1], "/")
			if group == "core" {
				group = ""
			}
			owned[[2]string{group, strings.ToLower(parts[2]) + "s"}] = true
		}
		for i, rule := range orig.Rules {
			what := fmt.Sprintf("%v in %q", rule.Resources, rule.APIGroups)
			covers := false
			for _, g := range rule.APIGroups {
				for _, r := range rule.Resources {
					covers = covers || owned[[2]string{g, r}]
				}
			}
			if !covers {
				t.Logf("preview --refresh: the stack owns none of %s here (the rule is for stacks that do)", what)
				continue
			}
			setRules(slices.Delete(slices.Clone(orig.Rules), i, i+1))
			_, err := st.Preview(ctx, optpreview.Refresh())
			switch {
			case err == nil:
				t.Errorf("preview --refresh without %s succeeded: the reader role grants what a CI preview never reads", what)
			case !strings.Contains(err.Error(), "forbidden"):
				t.Errorf("preview --refresh without %s failed, but not for a denied read: %v", what, err)
			default:
				t.Logf("preview --refresh without %s: denied, as it must be", what)
			}
			setRules(orig.Rules)
		}
	})

	// Routes on a kubernetes stack name their existing queues. Two routes deploy;
	// each added route creates its own consumer, TriggerAuthentication and
	// ScaledObject and changes nothing else; removing one deletes exactly what
	// adding it created; destroy (below) then empties the stack with a route in it.
	routeQueues := map[string]*queues.AWS{}
	for _, name := range []string{"orders", "payments"} {
		rq, err := queues.NewAWS(ctx, region, s.env.SQSEndpoint, s.env.DynamoDBEndpoint,
			"edw-engine-"+name+"-"+suffix, "edw-engine-"+name+"-dlq-"+suffix, q.Table, visibility, stacks.DefaultMaxReceiveCount)
		if err != nil {
			t.Fatal(err)
		}
		routeQueues[name] = rq
	}
	// setRoutes replaces edw:routes with these routes and runs up; it returns
	// the URNs created and deleted, and fails on any other change.
	setRoutes := func(names ...string) (created, deleted []string) {
		t.Helper()
		if err := st.RemoveConfig(ctx, "edw:routes"); err != nil {
			t.Fatal(err)
		}
		for i, name := range names {
			for field, value := range map[string]string{"name": name, "queueUrl": routeQueues[name].QueueURL, "dlqUrl": routeQueues[name].DLQURL} {
				key := fmt.Sprintf("edw:routes[%d].%s", i, field)
				if err := st.SetConfigWithOptions(ctx, key, auto.ConfigValue{Value: value}, &auto.ConfigOptions{Path: true}); err != nil {
					t.Fatal(err)
				}
			}
		}
		var steps []apitype.StepEventMetadata
		if _, err := st.Up(ctx, optup.EventStreams(collectSteps(&steps))); err != nil {
			t.Fatalf("up with routes %v: %v", names, err)
		}
		for _, m := range steps {
			switch {
			case m.Op == apitype.OpSame || m.Op == apitype.OpRead || m.Type == "pulumi:pulumi:Stack":
			case m.Op == apitype.OpCreate:
				created = append(created, string(m.URN))
			case m.Op == apitype.OpDelete:
				deleted = append(deleted, string(m.URN))
			default:
				t.Errorf("routes %v: %s %s %s; only creates and deletes of routes' own objects are expected", names, m.Op, m.Type, m.URN)
			}
		}
		slices.Sort(created)
		slices.Sort(deleted)
		return created, deleted
	}
	// checkRoute finds the route's objects among those URNs on the API server:
	// its ScaledObject scales its Deployment on its queue, and KEDA takes it.
	checkRoute := func(name string, urns []string) {
		t.Helper()
		var objs []*unstructured.Unstructured
		for _, r := range resources(ctx, t, st) {
			if slices.Contains(urns, string(r.URN)) {
				objs = append(objs, onAPIServer(ctx, t, s, []apitype.ResourceV3{r})...)
			}
		}
		so, dep := find(t, objs, "ScaledObject"), find(t, objs, "Deployment")
		if got := triggerMeta(t, so)["queueURL"]; got != routeQueues[name].QueueURL {
			t.Errorf("route %s: its ScaledObject scales on %v, want its queue %s", name, got, routeQueues[name].QueueURL)
		}
		if target, _, _ := unstructured.NestedString(so.Object, "spec", "scaleTargetRef", "name"); target != dep.GetName() {
			t.Errorf("route %s: its ScaledObject scales %q, not its Deployment %q", name, target, dep.GetName())
		}
		env := map[string]string{}
		containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
		for _, c := range containers {
			list, _ := c.(map[string]any)["env"].([]any)
			for _, e := range list {
				m := e.(map[string]any)
				if v, ok := m["value"].(string); ok {
					env[m["name"].(string)] = v
				}
			}
		}
		if env["EDW_ROUTE"] != name || env["EDW_QUEUE_URL"] != routeQueues[name].QueueURL {
			t.Errorf("route %s: its consumer has EDW_ROUTE %q and EDW_QUEUE_URL %q", name, env["EDW_ROUTE"], env["EDW_QUEUE_URL"])
		}
		waitReady(ctx, t, s, so)
		var kinds []string
		for _, o := range objs {
			kinds = append(kinds, o.GetKind()+"/"+o.GetName())
		}
		t.Logf("route %s: %d resources (%s); KEDA reports its ScaledObject ready", name, len(urns), strings.Join(kinds, ", "))
	}
	// On AKS the deployer's admin grant reaches the cluster minutes after it
	// is created; the azure stack waits for it (stacks.DeployerChecks, asked
	// with SelfSubjectAccessReviews) before its Kubernetes provider starts.
	// Here the real API server answers: a user with no grant waits, and the
	// wait ends once a binding gives it what a deployer needs.
	steps.run(t, "the deployer's access wait ends when the grant arrives, not before", func() {
		dir := filepath.Join(t.TempDir(), "deployer")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		kubeconfig := filepath.Join(dir, "kubeconfig")
		const group = "edw-deployers"
		if err := s.cluster.WriteUserKubeconfig(kubeconfig, "edw-deployer", group); err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		refused := make(chan string, 100)
		w := clusteraccess.Waiter{Checks: stacks.DeployerChecks(), Interval: 200 * time.Millisecond, Timeout: time.Minute,
			Progress: func(m string) { refused <- m }}
		done := make(chan error, 1)
		go func() { done <- w.Wait(ctx, string(raw)) }()
		for range 3 {
			select {
			case m := <-refused:
				if !strings.Contains(m, "not allowed") {
					t.Fatalf("before the grant: %s", m)
				}
			case err := <-done:
				t.Fatalf("the wait ended before any grant: %v", err)
			case <-time.After(30 * time.Second):
				t.Fatal("no answer from the API server in 30 s")
			}
		}
		binding := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "edw-deployers"},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
			Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "Group", Name: group}},
		}
		granted := time.Now()
		if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cs.RbacV1().ClusterRoleBindings().Delete(ctx, binding.Name, metav1.DeleteOptions{}) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("after the grant: %v", err)
			}
			t.Logf("refused until the grant, allowed %s after it", time.Since(granted).Round(10*time.Millisecond))
		case <-time.After(30 * time.Second):
			t.Fatal("the wait did not end within 30 s of the grant")
		}
	})

	var ordersCreated []string
	steps.run(t, "edw:routes gains orders: only its own objects are created", func() {
		created, deleted := setRoutes("orders")
		if len(deleted) != 0 || len(created) == 0 {
			t.Fatalf("adding route orders created %v and deleted %v", created, deleted)
		}
		ordersCreated = created
		checkRoute("orders", created)
	})
	steps.run(t, "edw:routes gains payments: only its own objects are created", func() {
		created, deleted := setRoutes("orders", "payments")
		if len(deleted) != 0 || len(created) != len(ordersCreated) {
			t.Fatalf("adding route payments created %v and deleted %v; orders alone created %d", created, deleted, len(ordersCreated))
		}
		for _, u := range created {
			if slices.Contains(ordersCreated, u) {
				t.Errorf("adding route payments created %s again", u)
			}
		}
		checkRoute("payments", created)
	})
	steps.run(t, "edw:routes loses orders: exactly its objects are deleted", func() {
		created, deleted := setRoutes("payments")
		if len(created) != 0 || !slices.Equal(deleted, ordersCreated) {
			t.Errorf("removing route orders created %v and deleted %v; adding it created %v", created, deleted, ordersCreated)
		}
		t.Logf("removing route orders deleted the same %d resources", len(deleted))
	})

	steps.run(t, "destroy", func() {
		res, err := st.Destroy(ctx)
		if err != nil {
			t.Fatalf("destroy: %v", err)
		}
		t.Logf("destroy: %v", summary(res.Summary))
		if left := resources(ctx, t, st); len(left) != 0 {
			t.Errorf("%d resources left in the stack after destroy", len(left))
		}
		for _, o := range created {
			r, err := s.client.Resource(o)
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.Get(ctx, o.GetName(), metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				t.Error(err)
			default:
				t.Errorf("%s outlived destroy (finalizers %v, deletionTimestamp %v)", apply.Describe(o), got.GetFinalizers(), got.GetDeletionTimestamp())
			}
		}
		// Pods go with their ReplicaSet (garbage collector) once the kubelet has
		// stopped them.
		deadline := time.Now().Add(time.Minute)
		for objs := stackObjects(ctx, t, s); len(objs) != 0; objs = stackObjects(ctx, t, s) {
			if time.Now().After(deadline) {
				t.Errorf("objects left in namespace %s a minute after destroy: %v", namespace, objs)
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
	})

	steps.run(t, "a bad key fails preview, registering nothing", func() {
		if err := st.SetConfig(ctx, "edw:queueBackend", auto.ConfigValue{Value: "gcp"}); err != nil {
			t.Fatal(err)
		}
		var registered []apitype.StepEventMetadata
		_, err := st.Preview(ctx, optpreview.EventStreams(collectSteps(&registered)))
		if err == nil {
			t.Fatal("preview with edw:queueBackend gcp succeeded")
		}
		var lines []string
		for _, l := range strings.Split(err.Error(), "\n") {
			if strings.Contains(l, "edw:queueBackend") {
				lines = append(lines, strings.TrimSpace(l))
			}
		}
		if len(lines) != 1 || !strings.Contains(lines[0], `"gcp"`) || !strings.Contains(lines[0], "want aws") {
			t.Errorf("want one line naming edw:queueBackend, \"gcp\" and what is allowed, got %q in:\n%v", lines, err)
		}
		for _, m := range registered {
			if m.Type != "pulumi:pulumi:Stack" {
				t.Errorf("a failing preview registered %s %s", m.Op, m.URN)
			}
		}
		t.Logf("preview failed with: %s", strings.Join(lines, ""))
	})
}

// TestEngineAcceptsEveryStackFile previews each Pulumi.<stack>.yaml as shipped
// with the repository's Pulumi.yaml, and checks what the engine's own config
// validation says: it requires every key Pulumi.yaml declares without a default
// (the mock-based tests never read Pulumi.yaml). Only knownMissing may be
// reported. Past the validation each preview must end as it can here and no
// other way: the kubernetes stack file, completed with the keys its comments
// list, previews successfully onto the lab; the aws and azure ones stop at the
// first provider plugin this machine does not have (only kubernetes is
// installed). A control with one default removed must be reported by name.
func TestEngineAcceptsEveryStackFile(t *testing.T) {
	s := labSite(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	project, err := workspace.LoadProject(projectFile)
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(filepath.Dir(projectFile), "Pulumi.*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no stack files next to %s: %v", projectFile, err)
	}
	e, err := New(ctx, s.bins, t.TempDir(), map[string]string{"KUBECONFIG": s.cluster.Kubeconfig})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop() })

	// The control: the check below sees a key without a default, by name.
	t.Run("control", func(t *testing.T) {
		const key = "producerRate"
		p := *project
		p.Config = maps.Clone(project.Config)
		ct, ok := p.Config[key]
		if !ok || ct.Default == nil {
			t.Fatalf("Pulumi.yaml has no default for %s to take away", key)
		}
		ct.Default = nil
		p.Config[key] = ct
		missing, _, _ := previewStackFile(ctx, t, e, &p, "control", filepath.Join(filepath.Dir(projectFile), "Pulumi.aws.yaml"), nil)
		if len(missing) != 1 || strings.TrimPrefix(missing[0], "edw:") != key {
			t.Errorf("with %s's default removed the engine reports %v missing; the check must see exactly it", key, missing)
		}
	})

	cs, err := kubernetes.NewForConfig(s.cluster.REST)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "Pulumi."), ".yaml")
		t.Run(name, func(t *testing.T) {
			var extra map[string]string
			if name == "kubernetes" {
				extra = commentedConfig(t, f)
				// As its comments say: namespace edw exists (edw:createNamespace false).
				if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}},
					metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
					t.Fatal(err)
				}
			}
			missing, steps, err := previewStackFile(ctx, t, e, project, name, f, extra)
			if !slices.Equal(missing, knownMissing) {
				t.Fatalf("the engine requires %v for %s, knownMissing lists %v: give each key a default in Pulumi.yaml "+
					"(or stop declaring it), and keep knownMissing exactly what the engine still reports", missing, filepath.Base(f), knownMissing)
			}
			if name == "kubernetes" {
				if err != nil {
					t.Fatalf("pulumi preview of %s with the keys its comments list failed: %v", filepath.Base(f), err)
				}
				kinds := map[string]bool{}
				for _, m := range steps {
					kinds[m.Type] = true
					if m.Op != apitype.OpCreate && m.Op != apitype.OpRead {
						t.Errorf("a first preview plans %s for %s", m.Op, m.URN)
					}
				}
				for _, want := range []string{"kubernetes:apps/v1:Deployment", "kubernetes:keda.sh/v1alpha1:ScaledObject"} {
					if !kinds[want] {
						t.Errorf("the preview plans no %s; it planned %v", want, slices.Sorted(maps.Keys(kinds)))
					}
				}
				return
			}
			plugin := ""
			if m := missingPluginRE.FindStringSubmatch(fmt.Sprint(err)); m != nil {
				plugin = m[1] + m[2] // one of the two alternatives matched
			}
			if err == nil || plugin == "" || plugin == "kubernetes" {
				t.Fatalf("pulumi preview of %s must get past the config to a provider plugin this machine lacks; it ended with: %v",
					filepath.Base(f), err)
			}
			t.Logf("%s: config accepted; the preview stopped at the %s provider plugin, which is not installed here", filepath.Base(f), plugin)
		})
	}
}

// missingPluginRE finds the plugin in the engine's "no resource plugin …" and
// "Could not automatically download and install resource plugin …" errors.
var missingPluginRE = regexp.MustCompile(`pulumi plugin install resource ([a-z0-9-]+)|no resource plugin 'pulumi-resource-([a-z0-9-]+)'`)

// previewStackFile previews the stack file's config plus extra, and returns the
// keys the engine's config validation reported missing, the planned steps, and
// the preview's error when it was not that validation.
func previewStackFile(ctx context.Context, t *testing.T, e *Engine, project *workspace.Project, name, file string,
	extra map[string]string) ([]string, []apitype.StepEventMetadata, error) {
	t.Helper()
	ps, err := workspace.LoadProjectStack(nil, project, file)
	if err != nil {
		t.Fatal(err)
	}
	config := map[string]string{}
	for k, v := range ps.Config {
		config[k.String()], err = v.Value(nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	maps.Copy(config, extra)
	st, err := e.Stack(ctx, *project, name, stacks.Run, config)
	if err != nil {
		t.Fatal(err)
	}
	var steps []apitype.StepEventMetadata
	_, err = st.Preview(ctx, optpreview.EventStreams(collectSteps(&steps)))
	if err == nil || !strings.Contains(err.Error(), "validating stack config") {
		return nil, steps, err
	}
	line := configLine(err)
	if !strings.Contains(line, "is missing configuration value") {
		t.Fatalf("pulumi preview of %s refuses the config before the program runs:\n%s", filepath.Base(file), line)
	}
	t.Logf("pulumi preview of %s refuses the config before the program runs:\n%s", filepath.Base(file), line)
	_, keys, _ := strings.Cut(line, "is missing configuration value")
	var missing []string
	for _, m := range quotedRE.FindAllStringSubmatch(keys, -1) {
		missing = append(missing, m[1])
	}
	slices.Sort(missing)
	return missing, steps, nil
}

// commentedConfig is the config a stack file's comments tell users to set
// ("#   edw:key: value"), with a digest in place of each "…".
func commentedConfig(t *testing.T, file string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range commentedKeyRE.FindAllStringSubmatch(string(raw), -1) {
		out[m[1]] = strings.ReplaceAll(strings.Trim(m[2], `"`), "…", strings.Repeat("0", 64))
	}
	if len(out) < 5 {
		t.Fatalf("%s lists %d keys in its comments; want the ones a kubernetes stack needs", file, len(out))
	}
	return out
}

var commentedKeyRE = regexp.MustCompile(`(?m)^#\s+(edw:[A-Za-z]+):\s*(\S+)`)

// knownMissing are keys Pulumi.yaml declares without a default, which the
// engine requires of every stack. It caught five (installKeda, createNamespace,
// monitoring and the two alert limits): no stack file got through a real
// `pulumi preview` until they got defaults and the program learned to read an
// injected default as unset on the clouds the key is not for. It stays empty: a
// new key without a default fails this test.
var knownMissing []string

var quotedRE = regexp.MustCompile(`'([^']+)'`)

// configLine is the engine's line about the stack config.
func configLine(err error) string {
	for _, l := range strings.Split(err.Error(), "\n") {
		if strings.Contains(l, "validating stack config") {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "stderr:"))
		}
	}
	return err.Error()
}

// stepTimes records how long each step took.
type stepTimes struct {
	names []string
	took  []time.Duration
}

func (st *stepTimes) run(t *testing.T, name string, f func()) {
	t.Helper()
	start := time.Now()
	defer func() {
		st.names = append(st.names, name)
		st.took = append(st.took, time.Since(start))
	}()
	f()
}

func (st *stepTimes) print(t *testing.T) {
	var b strings.Builder
	b.WriteString("engine test steps:\n")
	var total time.Duration
	for i, n := range st.names {
		fmt.Fprintf(&b, "  %8s  %s\n", st.took[i].Round(100*time.Millisecond), n)
		total += st.took[i]
	}
	fmt.Fprintf(&b, "  %8s  total", total.Round(100*time.Millisecond))
	t.Log(b.String())
}

// summary is an update's resource changes, never nil. Reads are left out:
// the program reads its own last update every run (stacks/previous.go), and
// a read changes nothing.
func summary(s auto.UpdateSummary) map[string]int {
	if s.ResourceChanges == nil {
		return map[string]int{}
	}
	out := maps.Clone(*s.ResourceChanges)
	delete(out, string(apitype.OpRead))
	return out
}

// withoutReads is a preview's change summary without its reads (see summary).
func withoutReads(c map[apitype.OpType]int) map[apitype.OpType]int {
	out := maps.Clone(c)
	delete(out, apitype.OpRead)
	return out
}

// collectSteps returns an event channel that appends every step's metadata to
// out; the Automation API closes the channel when the operation ends, before
// the operation returns.
func collectSteps(out *[]apitype.StepEventMetadata) chan<- events.EngineEvent {
	ch := make(chan events.EngineEvent)
	var mu sync.Mutex
	go func() {
		for ev := range ch {
			if ev.ResourcePreEvent != nil {
				mu.Lock()
				*out = append(*out, ev.ResourcePreEvent.Metadata)
				mu.Unlock()
			}
		}
	}()
	return ch
}

// resources reads the stack's state.
func resources(ctx context.Context, t *testing.T, st auto.Stack) []apitype.ResourceV3 {
	t.Helper()
	u, err := st.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var d apitype.DeploymentV3
	if err := json.Unmarshal(u.Deployment, &d); err != nil {
		t.Fatalf("stack state: %v", err)
	}
	return d.Resources
}

// onAPIServer finds every Kubernetes object in the state on the API server, as
// the same object (uid): it returns them.
func onAPIServer(ctx context.Context, t *testing.T, s *site, state []apitype.ResourceV3) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, r := range state {
		if !r.Custom || !strings.HasPrefix(string(r.Type), "kubernetes:") {
			continue
		}
		o := &unstructured.Unstructured{Object: map[string]any{}}
		o.SetAPIVersion(fmt.Sprint(r.Outputs["apiVersion"]))
		o.SetKind(fmt.Sprint(r.Outputs["kind"]))
		m, _ := r.Outputs["metadata"].(map[string]any)
		name, _ := m["name"].(string)
		ns, _ := m["namespace"].(string)
		uid, _ := m["uid"].(string)
		o.SetName(name)
		o.SetNamespace(ns)
		live := get(ctx, t, s, o)
		if string(live.GetUID()) != uid {
			t.Errorf("%s: uid %s on the API server, %s in the stack", apply.Describe(o), live.GetUID(), uid)
		}
		out = append(out, live)
	}
	if len(out) == 0 {
		t.Fatal("no Kubernetes objects in the stack")
	}
	return out
}

func get(ctx context.Context, t *testing.T, s *site, o *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	r, err := s.client.Resource(o)
	if err != nil {
		t.Fatal(err)
	}
	live, err := r.Get(ctx, o.GetName(), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("%s: %v", apply.Describe(o), err)
	}
	return live
}

// stackObjects lists what a kubernetes stack, and KEDA and the controllers on
// its behalf, could have put in its namespace, besides the test's Secret.
func stackObjects(ctx context.Context, t *testing.T, s *site) []string {
	t.Helper()
	var out []string
	for _, kind := range []struct{ apiVersion, kind string }{
		{"apps/v1", "Deployment"}, {"v1", "ServiceAccount"}, {"apps/v1", "ReplicaSet"}, {"v1", "Pod"},
		{"autoscaling/v2", "HorizontalPodAutoscaler"}, {"batch/v1", "Job"},
		{"keda.sh/v1alpha1", "ScaledObject"}, {"keda.sh/v1alpha1", "TriggerAuthentication"}, {"monitoring.coreos.com/v1", "PodMonitor"},
	} {
		o := &unstructured.Unstructured{}
		o.SetAPIVersion(kind.apiVersion)
		o.SetKind(kind.kind)
		o.SetNamespace(namespace)
		r, err := s.client.Resource(o)
		if err != nil {
			t.Fatal(err)
		}
		list, err := r.List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range list.Items {
			out = append(out, kind.kind+"/"+i.GetName())
		}
	}
	return out
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	t.Helper()
	var found []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %s in the stack, got %d", kind, len(found))
	}
	return found[0]
}

func triggerMeta(t *testing.T, so *unstructured.Unstructured) map[string]any {
	t.Helper()
	triggers, _, _ := unstructured.NestedSlice(so.Object, "spec", "triggers")
	if len(triggers) != 1 {
		t.Fatalf("want one trigger on %s, got %d", apply.Describe(so), len(triggers))
	}
	meta, _ := triggers[0].(map[string]any)["metadata"].(map[string]any)
	return meta
}

// drain sends the messages with the producer binary (the consumer's resolved
// environment) and follows KEDA and the pods until the table has every row and
// KEDA is back at zero: N rows, no duplicates.
func drain(ctx context.Context, t *testing.T, s *site, cs kubernetes.Interface, k *podKubelet, q *queues.AWS, so *unstructured.Unstructured) {
	t.Helper()
	target, _, _ := unstructured.NestedString(so.Object, "spec", "scaleTargetRef", "name")
	waitReady(ctx, t, s, so)
	tl := &timeline{start: time.Now()}
	observe := func() sample {
		b, _ := q.Backlog(ctx)
		rows, _ := q.Rows(ctx)
		desired := -1
		if d, err := cs.AppsV1().Deployments(namespace).Get(ctx, target, metav1.GetOptions{}); err == nil && d.Spec.Replicas != nil {
			desired = int(*d.Spec.Replicas)
		}
		running, _, _ := k.status()
		return tl.add(b, desired, running, len(rows))
	}
	until := func(limit time.Duration, what string, ok func(sample) bool) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for !ok(observe()) {
			if err := s.operator.Check(); err != nil {
				t.Fatal(err)
			}
			if time.Now().After(deadline) {
				tl.print(t)
				t.Fatalf("%s: not within %s; keda-operator log:\n%s", what, limit, tail(s.operator.Log(), 3000))
			}
			time.Sleep(time.Second)
		}
	}
	until(time.Minute, "KEDA scales the idle consumer to zero", func(s sample) bool { return s.desired == 0 && s.running == 0 })
	d, err := cs.AppsV1().Deployments(namespace).Get(ctx, target, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod, err := podFor(ctx, cs)("producer", d.Spec.Template.Spec.Containers[0])
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, s.env.Producer, "--count", strconv.Itoa(messages), "--quiet")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, pod.Env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("producer: %v: %s", err, out)
	}
	until(3*time.Minute, fmt.Sprintf("%d rows", messages), func(s sample) bool { return s.rows >= messages && s.backlog == 0 })
	until(time.Minute, "KEDA scales back to zero", func(s sample) bool { return s.desired == 0 && s.running == 0 })
	tl.print(t)

	rows, err := q.Rows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, r := range rows {
		ids[r.ID] = true
	}
	if len(rows) != messages || len(ids) != messages {
		t.Errorf("want %d rows with distinct ids, got %d rows, %d ids", messages, len(rows), len(ids))
	}
	peak := 0
	for _, x := range tl.samples {
		peak = max(peak, x.desired)
	}
	if peak < 1 {
		t.Error("KEDA never scaled the consumer up")
	}
	if _, _, restarts := k.status(); restarts != 0 {
		t.Errorf("%d consumer processes exited on their own", restarts)
	}
}

// podFor resolves a container the way the kubelet does for what edw renders:
// env from the Secrets named in envFrom, then the container's own env; each
// process gets a metrics port of its own.
func podFor(ctx context.Context, cs kubernetes.Interface) func(string, corev1.Container) (kubelet.Pod, error) {
	return func(name string, c corev1.Container) (kubelet.Pod, error) {
		env := map[string]string{}
		for _, from := range c.EnvFrom {
			if from.SecretRef == nil {
				return kubelet.Pod{}, fmt.Errorf("envFrom %v: the engine lab resolves Secrets only", from)
			}
			sec, err := cs.CoreV1().Secrets(namespace).Get(ctx, from.SecretRef.Name, metav1.GetOptions{})
			if err != nil {
				return kubelet.Pod{}, fmt.Errorf("envFrom secret: %w", err)
			}
			for k, v := range sec.Data {
				env[from.Prefix+k] = string(v)
			}
		}
		own, err := kubelet.EnvList(c)
		if err != nil {
			return kubelet.Pod{}, err
		}
		maps.Copy(env, own)
		args := c.Args
		if slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--metrics-addr=") }) {
			port, err := cluster.FreePort()
			if err != nil {
				return kubelet.Pod{}, err
			}
			args, _ = kubelet.ReplaceArg(args, "metrics-addr", "127.0.0.1:"+strconv.Itoa(port))
		}
		if len(c.Command) > 0 {
			return kubelet.Pod{}, fmt.Errorf("container command %v: the lab runs the image's entrypoint", c.Command)
		}
		return kubelet.Pod{Args: args, Env: kubelet.Environ(env)}, nil
	}
}

func waitReady(ctx context.Context, t *testing.T, s *site, so *unstructured.Unstructured) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		live := get(ctx, t, s, so)
		conds, _, _ := unstructured.NestedSlice(live.Object, "status", "conditions")
		for _, c := range conds {
			if m := c.(map[string]any); m["type"] == "Ready" && m["status"] == "True" {
				return
			}
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(live.Object["status"], "", "  ")
			t.Fatalf("ScaledObject not ready after 90s: %s\nkeda-operator log:\n%s", b, tail(s.operator.Log(), 3000))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

type sample struct {
	at                              time.Duration
	backlog, desired, running, rows int
}

type timeline struct {
	start   time.Time
	samples []sample
}

func (tl *timeline) add(backlog, desired, running, rows int) sample {
	s := sample{time.Since(tl.start).Round(time.Second), backlog, desired, running, rows}
	tl.samples = append(tl.samples, s)
	return s
}

func (tl *timeline) print(t *testing.T) {
	var b strings.Builder
	fmt.Fprintf(&b, "workload deployed by the engine, per second (shown when something changed)\n%6s %8s %8s %8s %6s\n",
		"t", "backlog", "desired", "running", "rows")
	var last sample
	for i, s := range tl.samples {
		if i > 0 && i != len(tl.samples)-1 && s.backlog == last.backlog && s.desired == last.desired &&
			s.running == last.running && s.rows == last.rows {
			continue
		}
		last = s
		fmt.Fprintf(&b, "%5ds %8d %8d %8d %6d\n", int(s.at.Seconds()), s.backlog, s.desired, s.running, s.rows)
	}
	t.Log(b.String())
}

// podLogs is where the consumer processes write: EDW_ENGINE_POD_LOGS when set
// (kept after the test), else a temporary directory.
func podLogs(t *testing.T) string {
	if d := os.Getenv("EDW_ENGINE_POD_LOGS"); d != "" {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

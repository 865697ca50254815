package kube_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/infra/kube"
	"github.com/edw-dev/edw/internal/pulumitest"
)

const (
	deploymentType   = "kubernetes:apps/v1:Deployment"
	serviceAcctType  = "kubernetes:core/v1:ServiceAccount"
	scaledObjectType = "kubernetes:keda.sh/v1alpha1:ScaledObject"
	triggerAuthType  = "kubernetes:keda.sh/v1alpha1:TriggerAuthentication"
	releaseType      = "kubernetes:helm.sh/v3:Release"
	jobType          = "kubernetes:batch/v1:Job"
	nodeGroupType    = "test:index:NodeGroup"

	consumerImage = "registry.example/edw/consumer@sha256:1111111111111111111111111111111111111111111111111111111111111111"
	producerImage = "registry.example/edw/producer@sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

type nodeGroup struct{ pulumi.CustomResourceState }

func settings() kube.ConsumerSettings {
	return kube.ConsumerSettings{
		CPU: "250m", Memory: "96Mi", MemoryLimit: "320Mi", MaxReceiveCount: 5, VisibilityTimeout: 90 * time.Second,
		Scaling: kube.Scaling{MinReplicas: 0, MaxReplicas: 12, MessagesPerPod: 40, ActivationQueueLength: 3,
			PollingInterval: 15 * time.Second, Cooldown: 120 * time.Second},
	}
}

// awsTarget and azureTarget are shaped like the targets the cloud stacks build.
func awsTarget(provider *kubernetes.Provider, ready pulumi.Resource) kube.Target {
	role := func(n string) kube.Identity {
		return kube.Identity{Annotations: pulumi.StringMap{"eks.amazonaws.com/role-arn": pulumi.String("arn:aws:iam::000000000000:role/" + n)}}
	}
	return kube.Target{
		Provider: provider,
		Cloud:    "aws",
		Trigger: kube.Trigger{
			Type:        "aws-sqs-queue",
			Metadata:    pulumi.StringMap{"queueURL": pulumi.String("https://sqs.us-west-2.amazonaws.com/000000000000/edw-work"), "awsRegion": pulumi.String("us-west-2")},
			PodIdentity: "aws",
		},
		Env: map[string]pulumi.StringInput{
			"EDW_QUEUE_URL":  pulumi.String("https://sqs.us-west-2.amazonaws.com/000000000000/edw-work"),
			"EDW_DLQ_URL":    pulumi.String("https://sqs.us-west-2.amazonaws.com/000000000000/edw-dlq"),
			"EDW_TABLE_NAME": pulumi.String("edw-results"),
			"AWS_REGION":     pulumi.String("us-west-2"),
		},
		Consumer: role("consumer"), Producer: role("producer"), Keda: role("keda"),
		Images: kube.Images{Consumer: pulumi.String(consumerImage), Producer: pulumi.String(producerImage)},
		System: kube.Placement{NodeSelector: map[string]string{"edw.dev/pool": "system"}},
		Ready:  []pulumi.Resource{ready},
	}
}

func azureTarget(provider *kubernetes.Provider, ready pulumi.Resource) kube.Target {
	wid := func(id string) kube.Identity {
		return kube.Identity{
			Annotations: pulumi.StringMap{"azure.workload.identity/client-id": pulumi.String(id)},
			PodLabels:   map[string]string{"azure.workload.identity/use": "true"},
		}
	}
	return kube.Target{
		Provider: provider,
		Cloud:    "azure",
		Trigger: kube.Trigger{
			Type:        "azure-queue",
			Metadata:    pulumi.StringMap{"queueName": pulumi.String("edw-work"), "accountName": pulumi.String("edwstore")},
			PodIdentity: "azure-workload",
			IdentityID:  pulumi.String("keda-client-id"),
		},
		Env: map[string]pulumi.StringInput{
			"EDW_STORAGE_ACCOUNT": pulumi.String("edwstore"),
			"EDW_QUEUE_NAME":      pulumi.String("edw-work"),
			"EDW_TABLE_NAME":      pulumi.String("results"),
		},
		Consumer: wid("consumer-client-id"), Producer: wid("producer-client-id"), Keda: wid("keda-client-id"),
		Images: kube.Images{Consumer: pulumi.String(consumerImage), Producer: pulumi.String(producerImage)},
		System: kube.Placement{
			NodeSelector: map[string]string{"kubernetes.azure.com/mode": "system"},
			Tolerations:  []kube.Toleration{{Key: "CriticalAddonsOnly", Operator: "Exists", Effect: "NoSchedule"}},
		},
		Workload: kube.Placement{Tolerations: []kube.Toleration{
			{Key: "kubernetes.azure.com/scalesetpriority", Operator: "Equal", Value: "spot", Effect: "NoSchedule"},
		}},
		Ready: []pulumi.Resource{ready},
	}
}

type shape func(*kubernetes.Provider, pulumi.Resource) kube.Target

func deploy(shapeOf shape, producer bool) pulumi.RunFunc {
	return deployMonitored(shapeOf, producer, nil)
}

// deployMonitored is deploy with PodMonitors; monitors gets the system node
// group to stand in for the add-on that installs the kind.
func deployMonitored(shapeOf shape, producer bool, monitors func(addon pulumi.Resource) []kube.PodMonitor) pulumi.RunFunc {
	return deployWith(shapeOf, func(a *kube.WorkloadArgs, system pulumi.Resource) {
		a.Producer = kube.ProducerSettings{Enabled: producer, MessageCount: 500, Rate: 25}
		if monitors != nil {
			a.PodMonitors = monitors(system)
		}
	}, nil)
}

// deployWith installs the workload for shapeOf's target with KEDA and the
// consumer settings, after change edits the args; change also gets the system
// node group the target waits for. NewWorkload's result goes to *got when got
// is not nil.
func deployWith(shapeOf shape, change func(a *kube.WorkloadArgs, system pulumi.Resource), got **kube.Workload) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		provider, err := kubernetes.NewProvider(ctx, "k8s", &kubernetes.ProviderArgs{Kubeconfig: pulumi.String("{}")})
		if err != nil {
			return err
		}
		ng := &nodeGroup{}
		if err := ctx.RegisterResource(nodeGroupType, "system", pulumi.Map{}, ng); err != nil {
			return err
		}
		args := kube.WorkloadArgs{Target: shapeOf(provider, ng), InstallKeda: true, KedaChartVersion: "2.21.0", Consumer: settings()}
		change(&args, ng)
		w, err := kube.NewWorkload(ctx, "workload", args)
		if got != nil {
			*got = w
		}
		return err
	}
}

var shapes = map[string]shape{"aws": awsTarget, "azure": azureTarget}

func forEachShape(t *testing.T, producer bool, test func(t *testing.T, cloud string, g *pulumitest.Graph)) {
	for cloud, s := range shapes {
		t.Run(cloud, func(t *testing.T) {
			test(t, cloud, pulumitest.Run(t, deploy(s, producer)))
		})
	}
}

func TestDeploymentLeavesReplicasToKeda(t *testing.T) {
	forEachShape(t, true, func(t *testing.T, _ string, g *pulumitest.Graph) {
		deps := g.ByType(deploymentType)
		require.NotEmpty(t, deps)
		for _, d := range deps {
			_, set := d.Input("spec.replicas")
			assert.False(t, set, "%s sets spec.replicas; KEDA owns it", d)
		}
	})
}

func TestScaledObjectTargetsTheConsumerAndTheTargetQueue(t *testing.T) {
	forEachShape(t, false, func(t *testing.T, cloud string, g *pulumitest.Graph) {
		so := g.OnlyOfType(t, scaledObjectType)
		dep := g.OnlyOfType(t, deploymentType)
		auth := g.OnlyOfType(t, triggerAuthType)
		assert.Equal(t, dep.Str(t, "metadata.name"), so.Str(t, "spec.scaleTargetRef.name"))
		assert.Equal(t, "Deployment", so.Str(t, "spec.scaleTargetRef.kind"))
		assert.Equal(t, dep.Str(t, "metadata.namespace"), so.Str(t, "metadata.namespace"))
		assert.Equal(t, auth.Str(t, "metadata.name"), so.Str(t, "spec.triggers.0.authenticationRef.name"))

		min, _ := so.Plain("spec.minReplicaCount")
		max, _ := so.Plain("spec.maxReplicaCount")
		poll, _ := so.Plain("spec.pollingInterval")
		cool, _ := so.Plain("spec.cooldownPeriod")
		assert.Equal(t, []any{0.0, 12.0, 15.0, 120.0}, []any{min, max, poll, cool})
		assert.Equal(t, "40", so.Str(t, "spec.triggers.0.metadata.queueLength"))
		assert.Equal(t, "3", so.Str(t, "spec.triggers.0.metadata.activationQueueLength"))
		switch cloud {
		case "aws":
			assert.Equal(t, "aws-sqs-queue", so.Str(t, "spec.triggers.0.type"))
			assert.Equal(t, "https://sqs.us-west-2.amazonaws.com/000000000000/edw-work", so.Str(t, "spec.triggers.0.metadata.queueURL"))
			assert.Equal(t, "us-west-2", so.Str(t, "spec.triggers.0.metadata.awsRegion"))
			assert.Equal(t, "aws", auth.Str(t, "spec.podIdentity.provider"))
			_, hasID := auth.Input("spec.podIdentity.identityId")
			assert.False(t, hasID)
		case "azure":
			assert.Equal(t, "azure-queue", so.Str(t, "spec.triggers.0.type"))
			assert.Equal(t, "edw-work", so.Str(t, "spec.triggers.0.metadata.queueName"))
			assert.Equal(t, "edwstore", so.Str(t, "spec.triggers.0.metadata.accountName"))
			assert.Equal(t, "azure-workload", auth.Str(t, "spec.podIdentity.provider"))
			assert.Equal(t, "keda-client-id", auth.Str(t, "spec.podIdentity.identityId"))
		}
	})
}

func TestKedaObjectsAreDeletedBeforeKedaAndKedaBeforeNodes(t *testing.T) {
	forEachShape(t, true, func(t *testing.T, _ string, g *pulumitest.Graph) {
		release := g.OnlyOfType(t, releaseType)
		nodes := g.OnlyOfType(t, nodeGroupType)
		assert.True(t, g.DependsOn(release, nodes), "KEDA release must depend on the system node group")
		for _, typ := range []string{scaledObjectType, triggerAuthType} {
			for _, r := range g.ByType(typ) {
				assert.True(t, g.DependsOn(r, release), "%s must depend on the KEDA release", r)
			}
		}
		ns := g.OnlyOfType(t, "kubernetes:core/v1:Namespace")
		assert.True(t, g.DependsOn(ns, nodes), "workloads go before the nodes they run on")
		assert.False(t, g.DependsOn(release, g.OnlyOfType(t, scaledObjectType)), "no cycle")
	})
}

func TestPodsRunAsTheServiceAccountWithTheIdentity(t *testing.T) {
	forEachShape(t, true, func(t *testing.T, cloud string, g *pulumitest.Graph) {
		accounts := map[string]*pulumitest.Resource{}
		for _, sa := range g.ByType(serviceAcctType) {
			accounts[sa.Str(t, "metadata.name")] = sa
		}
		require.Len(t, accounts, 2)
		pods := map[string]string{
			kube.ConsumerServiceAccount.Name: "spec.template",
			kube.ProducerServiceAccount.Name: "spec.template",
		}
		workloads := map[string]*pulumitest.Resource{
			kube.ConsumerServiceAccount.Name: g.OnlyOfType(t, deploymentType),
			kube.ProducerServiceAccount.Name: g.OnlyOfType(t, jobType),
		}
		for name, w := range workloads {
			sa := accounts[name]
			require.NotNil(t, sa, "service account %s", name)
			assert.Equal(t, name, w.Str(t, pods[name]+".spec.serviceAccountName"))
			assert.Equal(t, kube.ConsumerServiceAccount.Namespace, sa.Str(t, "metadata.namespace"))
			// Exactly this account's identity from the target: a consumer ↔
			// producer swap fails here.
			switch cloud {
			case "aws":
				want := map[string]string{
					kube.ConsumerServiceAccount.Name: "arn:aws:iam::000000000000:role/consumer",
					kube.ProducerServiceAccount.Name: "arn:aws:iam::000000000000:role/producer",
				}
				assert.Equal(t, want[name], sa.Str(t, "metadata.annotations.eks\\.amazonaws\\.com/role-arn"), name)
			case "azure":
				want := map[string]string{
					kube.ConsumerServiceAccount.Name: "consumer-client-id",
					kube.ProducerServiceAccount.Name: "producer-client-id",
				}
				assert.Equal(t, want[name], sa.Str(t, "metadata.annotations.azure\\.workload\\.identity/client-id"), name)
				assert.Equal(t, "true", w.Str(t, pods[name]+".metadata.labels.azure\\.workload\\.identity/use"))
			}
		}
	})
}

func TestWorkloadPodsAreLockedDown(t *testing.T) {
	forEachShape(t, true, func(t *testing.T, cloud string, g *pulumitest.Graph) {
		for _, w := range append(g.ByType(deploymentType), g.ByType(jobType)...) {
			pod := "spec.template.spec"
			c := pod + ".containers.0"
			nonRoot, _ := w.Plain(pod + ".securityContext.runAsNonRoot")
			assert.Equal(t, true, nonRoot, w.String())
			assert.Equal(t, "RuntimeDefault", w.Str(t, pod+".securityContext.seccompProfile.type"))
			for path, want := range map[string]any{
				c + ".securityContext.readOnlyRootFilesystem":   true,
				c + ".securityContext.allowPrivilegeEscalation": false,
				c + ".securityContext.capabilities.drop":        []any{"ALL"},
			} {
				got, _ := w.Plain(path)
				assert.Equal(t, want, got, "%s %s", w, path)
			}
			image := w.Str(t, c+".image")
			assert.Regexp(t, `@sha256:[0-9a-f]{64}$`, image, "images are pinned by digest")
			if cloud == "azure" {
				assert.Equal(t, "kubernetes.azure.com/scalesetpriority", w.Str(t, pod+".tolerations.0.key"), "spot nodes are usable")
			}
			env, _ := w.Plain(c + ".env")
			assert.Contains(t, env, map[string]any{"name": "EDW_CLOUD", "value": cloud})
		}
	})
}

func TestConsumerPodShape(t *testing.T) {
	forEachShape(t, false, func(t *testing.T, cloud string, g *pulumitest.Graph) {
		d := g.OnlyOfType(t, deploymentType)
		spec := "spec.template.spec"
		c := spec + ".containers.0"
		grace, _ := d.Plain(spec + ".terminationGracePeriodSeconds")
		assert.Greater(t, grace, 90.0, "grace period outlasts the visibility timeout")
		assert.Equal(t, consumerImage, d.Str(t, c+".image"))
		assert.Equal(t, "/healthz", d.Str(t, c+".livenessProbe.httpGet.path"))
		assert.Equal(t, "/readyz", d.Str(t, c+".readinessProbe.httpGet.path"))
		assert.Equal(t, "metrics", d.Str(t, c+".readinessProbe.httpGet.port"))
		assert.Equal(t, "true", d.Str(t, "spec.template.metadata.annotations.prometheus\\.io/scrape"))
		assert.Equal(t, "250m", d.Str(t, c+".resources.requests.cpu"))
		assert.Equal(t, "96Mi", d.Str(t, c+".resources.requests.memory"))
		assert.Equal(t, "320Mi", d.Str(t, c+".resources.limits.memory"), "the limit is its own setting, above the request")
		assert.Equal(t, "topology.kubernetes.io/zone", d.Str(t, spec+".topologySpreadConstraints.0.topologyKey"))
		args, _ := d.Plain(c + ".args")
		assert.Contains(t, args, "--max-receive-count=5")
		assert.Contains(t, args, "--visibility-timeout=90s", "Azure receives hide messages for the queue's configured timeout")
		assert.Contains(t, args, "--drain-timeout=110s", "the drain ends before the kubelet's SIGKILL")
		env, _ := d.Plain(c + ".env")
		names := []string{}
		for _, e := range env.([]any) {
			names = append(names, e.(map[string]any)["name"].(string))
		}
		assert.IsIncreasing(t, names, "env is sorted so previews are stable")
		_, hasReplicas := d.Input("spec.replicas")
		assert.False(t, hasReplicas)
	})
}

func TestProducerJobOnlyWhenEnabled(t *testing.T) {
	off := pulumitest.Run(t, deploy(awsTarget, false))
	assert.Empty(t, off.ByType(jobType))
	assert.Len(t, off.ByType(serviceAcctType), 1, "no producer service account without the producer")

	on := pulumitest.Run(t, deploy(awsTarget, true))
	job := on.OnlyOfType(t, jobType)
	args, _ := job.Plain("spec.template.spec.containers.0.args")
	assert.Equal(t, []any{"--count=500", "--rate=25"}, args)
	assert.Equal(t, producerImage, job.Str(t, "spec.template.spec.containers.0.image"))
	assert.Equal(t, "Never", job.Str(t, "spec.template.spec.restartPolicy"))
}

func TestKedaReleaseCarriesTheOperatorIdentityAndRunsOnSystemNodes(t *testing.T) {
	forEachShape(t, false, func(t *testing.T, cloud string, g *pulumitest.Graph) {
		r := g.OnlyOfType(t, releaseType)
		assert.Equal(t, "keda", r.Str(t, "chart"))
		assert.Equal(t, "2.21.0", r.Str(t, "version"))
		assert.Equal(t, kube.KedaChartRepo, r.Str(t, "repositoryOpts.repo"))
		assert.Equal(t, kube.KedaServiceAccount.Namespace, r.Str(t, "namespace"))
		assert.Equal(t, kube.KedaServiceAccount.Name, r.Str(t, "values.serviceAccount.operator.name"))
		assert.NotEmpty(t, r.Str(t, "values.resources.operator.requests.cpu"))
		switch cloud {
		case "aws":
			assert.Equal(t, "arn:aws:iam::000000000000:role/keda", r.Str(t, "values.serviceAccount.operator.annotations.eks\\.amazonaws\\.com/role-arn"))
			assert.Equal(t, "system", r.Str(t, "values.nodeSelector.edw\\.dev/pool"))
		case "azure":
			assert.Equal(t, "keda-client-id", r.Str(t, "values.serviceAccount.operator.annotations.azure\\.workload\\.identity/client-id"))
			assert.Equal(t, "true", r.Str(t, "values.podLabels.keda.azure\\.workload\\.identity/use"))
			assert.Equal(t, "CriticalAddonsOnly", r.Str(t, "values.tolerations.0.key"))
		}
	})
}

func TestEveryKubernetesObjectUsesTheTargetProvider(t *testing.T) {
	forEachShape(t, true, func(t *testing.T, _ string, g *pulumitest.Graph) {
		for _, r := range g.Resources {
			if r.Custom && strings.HasPrefix(r.Type, "kubernetes:") {
				assert.Contains(t, r.Provider, "::pulumi:providers:kubernetes::k8s::", "%s uses the default provider", r)
			}
		}
	})
}

// TestRenderObjects hands every object to the strict validator the test command
// runs (tools/kubevalidate), so a misspelt or misplaced field fails there.
func TestRenderObjects(t *testing.T) {
	for cloud, s := range shapes {
		g := pulumitest.Run(t, deployMonitored(s, true, func(pulumi.Resource) []kube.PodMonitor {
			return []kube.PodMonitor{{APIVersion: "monitoring.coreos.com/v1"}, {APIVersion: "azmonitoring.coreos.com/v1"}}
		}))
		objs := g.KubernetesObjects()
		kinds := map[string]bool{}
		for _, o := range objs {
			kinds[o["apiVersion"].(string)+"/"+o["kind"].(string)] = true
		}
		for _, want := range []string{"v1/Namespace", "v1/ServiceAccount", "apps/v1/Deployment", "batch/v1/Job",
			"keda.sh/v1alpha1/ScaledObject", "keda.sh/v1alpha1/TriggerAuthentication", "policy/v1/PodDisruptionBudget",
			"monitoring.coreos.com/v1/PodMonitor", "azmonitoring.coreos.com/v1/PodMonitor"} {
			assert.True(t, kinds[want], "%s: %s not rendered (got %v)", cloud, want, kinds)
		}
		g.WriteKubernetesObjects(t, "kube-"+cloud)
	}
}

const podMonitorType = "kubernetes:monitoring.coreos.com/v1:PodMonitor"
const azurePodMonitorType = "kubernetes:azmonitoring.coreos.com/v1:PodMonitor"

// TestPodMonitorsScrapeTheConsumersMetricsPort: each PodMonitor selects exactly
// the consumer Deployment's pods, in its namespace, on the port and path its
// container serves metrics on; one that needs an add-on waits for it.
func TestPodMonitorsScrapeTheConsumersMetricsPort(t *testing.T) {
	none := pulumitest.Run(t, deploy(awsTarget, false))
	assert.Empty(t, none.ByType(podMonitorType), "no PodMonitor unless asked: the kind may not exist")

	g := pulumitest.Run(t, deployMonitored(azureTarget, false, func(addon pulumi.Resource) []kube.PodMonitor {
		return []kube.PodMonitor{{APIVersion: "monitoring.coreos.com/v1"}, {APIVersion: "azmonitoring.coreos.com/v1", After: []pulumi.Resource{addon}}}
	}))
	d := g.OnlyOfType(t, deploymentType)
	podLabels, _ := d.Plain("spec.template.metadata.labels")
	ports, _ := d.Plain("spec.template.spec.containers.0.ports")
	byName := map[string]float64{}
	for _, p := range ports.([]any) {
		byName[p.(map[string]any)["name"].(string)] = p.(map[string]any)["containerPort"].(float64)
	}
	for _, typ := range []string{podMonitorType, azurePodMonitorType} {
		m := podMonitorIn(t, g, typ, d.Str(t, "metadata.namespace"))
		selector, _ := m.Plain("spec.selector.matchLabels")
		require.NotEmpty(t, selector)
		for k, v := range selector.(map[string]any) {
			assert.Equal(t, v, podLabels.(map[string]any)[k], "%s selects the consumer pods by %s", typ, k)
		}
		port := m.Str(t, "spec.podMetricsEndpoints.0.port")
		require.Contains(t, byName, port, "%s scrapes a port the container names", typ)
		assert.Equal(t, d.Str(t, "spec.template.metadata.annotations.prometheus\\.io/port"), strconv.Itoa(int(byName[port])),
			"the annotations and the PodMonitor name the same port")
		assert.Equal(t, d.Str(t, "spec.template.metadata.annotations.prometheus\\.io/path"), m.Str(t, "spec.podMetricsEndpoints.0.path"))
		assert.Equal(t, g.ByURN(d.Parent), g.ByURN(m.Parent), "the consumer component owns it")
	}
	addon := g.OnlyOfType(t, nodeGroupType)
	ns := d.Str(t, "metadata.namespace")
	assert.True(t, g.DependsOnDirectly(podMonitorIn(t, g, azurePodMonitorType, ns), addon), "created after, deleted before, the add-on that serves its kind")
	assert.False(t, g.DependsOnDirectly(podMonitorIn(t, g, podMonitorType, ns), addon), "the Prometheus Operator is the user's: nothing to wait for")
}

// podMonitorIn is the one PodMonitor of typ in namespace.
func podMonitorIn(t *testing.T, g *pulumitest.Graph, typ, namespace string) *pulumitest.Resource {
	t.Helper()
	var in []*pulumitest.Resource
	for _, m := range g.ByType(typ) {
		if m.Str(t, "metadata.namespace") == namespace {
			in = append(in, m)
		}
	}
	require.Len(t, in, 1, "one %s in %s", typ, namespace)
	return in[0]
}

// TestKedaMetricsAreScrapedWithTheConsumers: whoever scrapes the consumer
// also scrapes KEDA's operator, whose keda_scaler_metrics_value is each
// ScaledObject's queue length (the dashboards' backlog per route): the release
// turns the metrics on, and a PodMonitor per Prometheus selects the operator's
// pods in KEDA's namespace on the metrics port, after the release (and after
// the add-on that serves its kind). Without PodMonitors the release is as it
// was and nothing scrapes KEDA.
func TestKedaMetricsAreScrapedWithTheConsumers(t *testing.T) {
	none := pulumitest.Run(t, deploy(azureTarget, false))
	_, on := none.OnlyOfType(t, releaseType).Input("values.prometheus")
	assert.False(t, on, "no metrics nobody reads")

	g := pulumitest.Run(t, deployMonitored(azureTarget, false, func(addon pulumi.Resource) []kube.PodMonitor {
		return []kube.PodMonitor{{APIVersion: "monitoring.coreos.com/v1"}, {APIVersion: "azmonitoring.coreos.com/v1", After: []pulumi.Resource{addon}}}
	}))
	release := g.OnlyOfType(t, releaseType)
	enabled, _ := release.Plain("values.prometheus.operator.enabled")
	assert.Equal(t, true, enabled, "the chart's switch for --enable-prometheus-metrics")
	addon := g.OnlyOfType(t, nodeGroupType)
	for _, typ := range []string{podMonitorType, azurePodMonitorType} {
		m := podMonitorIn(t, g, typ, kube.KedaServiceAccount.Namespace)
		assert.Equal(t, map[string]any{"app.kubernetes.io/name": "keda-operator"}, mustPlain(t, m, "spec.selector.matchLabels"), "the chart's operator pods")
		assert.Equal(t, "http", m.Str(t, "spec.podMetricsEndpoints.0.port"), "the chart's name for the metrics port (8080)")
		assert.True(t, g.DependsOnDirectly(m, release), "%s: after the release that makes the pods it selects", typ)
		assert.Equal(t, typ == azurePodMonitorType, g.DependsOnDirectly(m, addon), "%s waits for the add-on only when the add-on serves its kind", typ)
	}
}

func mustPlain(t *testing.T, r *pulumitest.Resource, path string) any {
	t.Helper()
	v, ok := r.Plain(path)
	require.True(t, ok, "%s has %s", r, path)
	return v
}

func TestPodMonitorAPIIsChecked(t *testing.T) {
	for _, monitors := range [][]kube.PodMonitor{
		{{APIVersion: "monitoring.coreos.com/v1alpha1"}},
		{{APIVersion: "monitoring.coreos.com/v1"}, {APIVersion: "monitoring.coreos.com/v1"}},
	} {
		g, err := pulumitest.RunErr(deployMonitored(awsTarget, false, func(pulumi.Resource) []kube.PodMonitor { return monitors }))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "workload workload: pod monitor API")
		assert.Empty(t, g.ByType("edw:kube:Workload"), "nothing registered")
	}
}

package kube

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Consumer is the consumer Deployment and the KEDA objects that scale it.
type Consumer struct {
	pulumi.ResourceState
	Deployment     pulumi.StringOutput `pulumi:"deployment"`
	ServiceAccount pulumi.StringOutput `pulumi:"serviceAccount"`
	ScaledObject   pulumi.StringOutput `pulumi:"scaledObject"`
}

// ConsumerArgs is what the consumer needs from the target and config.
type ConsumerArgs struct {
	Namespace pulumi.StringInput
	Target    Target
	Settings  ConsumerSettings
	// Keda is the release that reconciles ScaledObjects, when edw installs it;
	// the custom resources depend on it so destroy removes them before KEDA.
	Keda []pulumi.Resource
	// Monitors are the PodMonitors that have Prometheus scrape the consumer.
	Monitors []PodMonitor
}

// The PodMonitor API versions edw creates: the Prometheus Operator's, and AKS
// managed Prometheus's copy of it.
const (
	PodMonitorAPI      = "monitoring.coreos.com/v1"
	AzurePodMonitorAPI = "azmonitoring.coreos.com/v1"
)

// NewConsumer creates the consumer's ServiceAccount, Deployment, TriggerAuthentication
// and ScaledObject.
func NewConsumer(ctx *pulumi.Context, name string, args ConsumerArgs, opts ...pulumi.ResourceOption) (*Consumer, error) {
	c := &Consumer{}
	if err := ctx.RegisterComponentResource("edw:kube:Consumer", name, c, opts...); err != nil {
		return nil, err
	}
	t, s := args.Target, args.Settings
	sa := ConsumerServiceAccount
	account, err := newServiceAccount(ctx, name, sa, args.Namespace, t.Consumer, c)
	if err != nil {
		return nil, err
	}

	deployment, scaled, err := newScaledConsumer(ctx, name, scaledConsumer{
		object: sa.Name, namespace: args.Namespace, target: t, settings: s, account: account,
		env: t.Env, metadata: t.Trigger.Metadata, keda: args.Keda, monitors: args.Monitors,
	}, c)
	if err != nil {
		return nil, err
	}
	for _, r := range t.Routes {
		if _, _, err := newScaledConsumer(ctx, name+"-"+r.Name, routeConsumer(r, args, account), c); err != nil {
			return nil, err
		}
	}

	c.Deployment = deployment.Metadata.Name().Elem()
	c.ServiceAccount = account.Metadata.Name().Elem()
	c.ScaledObject = scaled.Metadata.Name().Elem()
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{
		"deployment": c.Deployment, "serviceAccount": c.ServiceAccount, "scaledObject": c.ScaledObject,
	})
}

// scaledConsumer is one consumer Deployment and the KEDA objects that scale it
// on one queue: the stack's own, or a route's.
type scaledConsumer struct {
	// object names the Deployment, TriggerAuthentication and ScaledObject, and
	// is the pods' app label.
	object    string
	route     string
	namespace pulumi.StringInput
	target    Target
	settings  ConsumerSettings
	account   *corev1.ServiceAccount
	env       map[string]pulumi.StringInput
	metadata  pulumi.StringMap
	keda      []pulumi.Resource
	monitors  []PodMonitor
}

// extraEnv is what every consumer pod gets besides the queue: the cloud, and
// the route whose results it writes.
func (sc scaledConsumer) extraEnv() map[string]string {
	env := map[string]string{"EDW_CLOUD": sc.target.Cloud}
	if sc.route != "" {
		env["EDW_ROUTE"] = sc.route
	}
	return env
}

// routeConsumer is a route's consumer: the stack's consumer with the route's
// queue in its environment and trigger, and its own scaling numbers.
func routeConsumer(r Route, args ConsumerArgs, account *corev1.ServiceAccount) scaledConsumer {
	env := map[string]pulumi.StringInput{}
	for k, v := range args.Target.Env {
		env[k] = v
	}
	for k, v := range r.Env {
		env[k] = v
	}
	metadata := pulumi.StringMap{}
	for k, v := range args.Target.Trigger.Metadata {
		metadata[k] = v
	}
	for k, v := range r.Metadata {
		metadata[k] = v
	}
	s := args.Settings
	for _, o := range []struct {
		from *int
		to   *int
	}{{r.MessagesPerPod, &s.Scaling.MessagesPerPod}, {r.MinReplicas, &s.Scaling.MinReplicas},
		{r.MaxReplicas, &s.Scaling.MaxReplicas}, {r.MaxReceiveCount, &s.MaxReceiveCount}} {
		if o.from != nil {
			*o.to = *o.from
		}
	}
	return scaledConsumer{
		object: RouteConsumerName(r.Name), route: r.Name, namespace: args.Namespace, target: args.Target,
		settings: s, account: account, env: env, metadata: metadata, keda: args.Keda, monitors: args.Monitors,
	}
}

// The consumer's long-poll wait and stall limit, passed as flags so the
// liveness probe below is tuned to the values the pod runs with.
const (
	// consumerWait is SQS's longest long poll: the fewest empty receives.
	consumerWait = 20 * time.Second
	// consumerStallAfter is the consumer's own default for that wait
	// (workload/internal/worker.StallLimit: the wait plus three 30s attempt
	// timeouts): /healthz fails once one receive loop iteration has run longer.
	consumerStallAfter = consumerWait + 90*time.Second
	// The kubelet restarts the container after livenessFailures failed probes
	// livenessPeriod apart: at most 30s after /healthz starts failing, well
	// within another stall limit, and never before, since /healthz alone
	// decides what a stall is.
	livenessPeriod   = 10
	livenessFailures = 3
)

// newScaledConsumer creates the Deployment, its TriggerAuthentication and its
// ScaledObject, and the PodMonitors that scrape it.
func newScaledConsumer(ctx *pulumi.Context, name string, sc scaledConsumer, parent pulumi.Resource) (*appsv1.Deployment, *apiextensions.CustomResource, error) {
	t, s := sc.target, sc.settings
	app := map[string]string{"app.kubernetes.io/name": sc.object, "app.kubernetes.io/part-of": "edw"}
	// The pod must outlive one visibility timeout after SIGTERM so in-flight
	// messages finish instead of reappearing for another consumer.
	grace := int(s.VisibilityTimeout.Seconds()) + 30
	probe := func(path string, initial int) *corev1.ProbeArgs {
		return &corev1.ProbeArgs{
			HttpGet:             &corev1.HTTPGetActionArgs{Path: pulumi.String(path), Port: pulumi.String("metrics")},
			InitialDelaySeconds: pulumi.Int(initial),
			PeriodSeconds:       pulumi.Int(livenessPeriod),
			// The handlers answer from memory: a probe slower than this is a
			// process that cannot serve at all.
			TimeoutSeconds:   pulumi.Int(5),
			FailureThreshold: pulumi.Int(livenessFailures),
		}
	}
	deployment, err := appsv1.NewDeployment(ctx, name, &appsv1.DeploymentArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:      pulumi.String(sc.object),
			Namespace: sc.namespace,
			Labels:    stringMap(app),
		},
		// No Replicas: KEDA owns the count, and setting it would fight the HPA on every update.
		Spec: &appsv1.DeploymentSpecArgs{
			Selector: &metav1.LabelSelectorArgs{MatchLabels: stringMap(podSelector(sc.object))},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{
					Labels: labels(app, t.Consumer),
					Annotations: pulumi.StringMap{
						"prometheus.io/scrape": pulumi.String("true"),
						"prometheus.io/port":   pulumi.String(strconv.Itoa(metricsPort)),
						"prometheus.io/path":   pulumi.String("/metrics"),
					},
				},
				Spec: &corev1.PodSpecArgs{
					ServiceAccountName:            sc.account.Metadata.Name().Elem(),
					TerminationGracePeriodSeconds: pulumi.Int(grace),
					SecurityContext:               podSecurity(),
					Tolerations:                   tolerations(t.Workload.Tolerations),
					NodeSelector:                  stringMap(t.Workload.NodeSelector),
					TopologySpreadConstraints: corev1.TopologySpreadConstraintArray{
						&corev1.TopologySpreadConstraintArgs{
							MaxSkew:           pulumi.Int(1),
							TopologyKey:       pulumi.String("topology.kubernetes.io/zone"),
							WhenUnsatisfiable: pulumi.String("ScheduleAnyway"),
							LabelSelector:     &metav1.LabelSelectorArgs{MatchLabels: stringMap(podSelector(sc.object))},
						},
					},
					Containers: corev1.ContainerArray{
						&corev1.ContainerArgs{
							Name:  pulumi.String("consumer"),
							Image: t.Images.Consumer,
							Args: pulumi.StringArray{
								pulumi.String("--max-receive-count=" + strconv.Itoa(s.MaxReceiveCount)),
								pulumi.String(fmt.Sprintf("--visibility-timeout=%ds", int(s.VisibilityTimeout.Seconds()))),
								// SIGTERM lets in-flight work finish well inside the grace period.
								pulumi.String(fmt.Sprintf("--drain-timeout=%ds", grace-10)),
								pulumi.String(fmt.Sprintf("--metrics-addr=:%d", metricsPort)),
								pulumi.String(fmt.Sprintf("--wait=%ds", int(consumerWait.Seconds()))),
								pulumi.String(fmt.Sprintf("--stall-after=%ds", int(consumerStallAfter.Seconds()))),
							},
							Env:     envVars(sc.env, sc.extraEnv()),
							EnvFrom: secretEnv(t.CredentialsSecret),
							Ports: corev1.ContainerPortArray{
								&corev1.ContainerPortArgs{Name: pulumi.String("metrics"), ContainerPort: pulumi.Int(metricsPort)},
							},
							Resources: &corev1.ResourceRequirementsArgs{
								Requests: pulumi.StringMap{"cpu": pulumi.String(s.CPU), "memory": pulumi.String(s.Memory)},
								// No CPU limit: throttling only slows the drain. Memory is capped
								// above the request, at what the most in flight needs (docs/cost.md).
								Limits: pulumi.StringMap{"memory": pulumi.String(s.MemoryLimit)},
							},
							LivenessProbe:   probe("/healthz", 5),
							ReadinessProbe:  probe("/readyz", 2),
							SecurityContext: containerSecurity(),
						},
					},
				},
			},
		},
	}, pulumi.Parent(parent), pulumi.Timeouts(WorkloadTimeouts(0)))
	if err != nil {
		return nil, nil, fmt.Errorf("consumer deployment %s: %w", name, err)
	}

	auth, err := apiextensions.NewCustomResource(ctx, name, &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("keda.sh/v1alpha1"),
		Kind:       pulumi.String("TriggerAuthentication"),
		Metadata: &metav1.ObjectMetaArgs{
			Name:      pulumi.String(sc.object),
			Namespace: sc.namespace,
		},
		OtherFields: kubernetes.UntypedArgs{"spec": authSpec(t)},
	}, pulumi.Parent(parent), pulumi.DependsOn(sc.keda))
	if err != nil {
		return nil, nil, fmt.Errorf("consumer trigger authentication %s: %w", name, err)
	}

	metadata := pulumi.StringMap{}
	for k, v := range sc.metadata {
		metadata[k] = v
	}
	metadata["queueLength"] = pulumi.String(strconv.Itoa(s.Scaling.MessagesPerPod))
	metadata["activationQueueLength"] = pulumi.String(strconv.Itoa(s.Scaling.ActivationQueueLength))
	scaled, err := apiextensions.NewCustomResource(ctx, name, &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("keda.sh/v1alpha1"),
		Kind:       pulumi.String("ScaledObject"),
		Metadata: &metav1.ObjectMetaArgs{
			Name:      pulumi.String(sc.object),
			Namespace: sc.namespace,
		},
		OtherFields: kubernetes.UntypedArgs{"spec": pulumi.Map{
			"scaleTargetRef": pulumi.Map{
				"apiVersion": pulumi.String("apps/v1"),
				"kind":       pulumi.String("Deployment"),
				"name":       deployment.Metadata.Name().Elem(),
			},
			"minReplicaCount": pulumi.Int(s.Scaling.MinReplicas),
			"maxReplicaCount": pulumi.Int(s.Scaling.MaxReplicas),
			"pollingInterval": pulumi.Int(int(s.Scaling.PollingInterval.Seconds())),
			"cooldownPeriod":  pulumi.Int(int(s.Scaling.Cooldown.Seconds())),
			"triggers": pulumi.Array{pulumi.Map{
				"type":              pulumi.String(t.Trigger.Type),
				"metadata":          metadata,
				"authenticationRef": pulumi.Map{"name": auth.Metadata.Name().Elem()},
			}},
		}},
	}, pulumi.Parent(parent), pulumi.DependsOn(sc.keda))
	if err != nil {
		return nil, nil, fmt.Errorf("consumer scaled object %s: %w", name, err)
	}

	if err := newDisruptionBudget(ctx, name, sc.object, sc.namespace, parent); err != nil {
		return nil, nil, err
	}
	for _, m := range sc.monitors {
		if err := newPodMonitor(ctx, name, m, scrape{app: sc.object, namespace: sc.namespace, port: "metrics"}, pulumi.Parent(parent)); err != nil {
			return nil, nil, err
		}
	}

	return deployment, scaled, nil
}

// newDisruptionBudget bounds how many of one consumer Deployment's pods a
// voluntary disruption (Karpenter or NAP consolidating or expiring a node, a
// node upgrade) evicts at once: one. maxUnavailable rather than minAvailable
// because KEDA scales the Deployment between 0 and N: minAvailable 1 would
// forbid evicting the only replica, so a node holding it could never drain,
// while maxUnavailable 1 always lets one go (at 0 replicas there is nothing to
// protect, and a lone replica is rescheduled as it would be without a budget).
// One rather than a percentage: an evicted consumer drains for up to its
// grace period and its replacement may wait for a node, so one at a time
// keeps throughput at N-1 whatever N is. Pods that are not Ready (the queue
// unreachable) may always be evicted, or an outage would also block every
// drain.
func newDisruptionBudget(ctx *pulumi.Context, name, app string, namespace pulumi.StringInput, parent pulumi.Resource) error {
	_, err := policyv1.NewPodDisruptionBudget(ctx, name, &policyv1.PodDisruptionBudgetArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:      pulumi.String(app),
			Namespace: namespace,
			Labels:    stringMap(map[string]string{"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "edw"}),
		},
		Spec: &policyv1.PodDisruptionBudgetSpecArgs{
			MaxUnavailable:             pulumi.Int(1),
			Selector:                   &metav1.LabelSelectorArgs{MatchLabels: stringMap(podSelector(app))},
			UnhealthyPodEvictionPolicy: pulumi.String("AlwaysAllow"),
		},
	}, pulumi.Parent(parent))
	if err != nil {
		return fmt.Errorf("consumer disruption budget %s: %w", name, err)
	}
	return nil
}

// podSelector selects one consumer Deployment's pods and no other's: each
// consumer, the stack's own and each route's, has its own app name.
func podSelector(app string) map[string]string {
	return map[string]string{"app.kubernetes.io/name": app}
}

// authSpec is how KEDA authenticates to the queue: the target's credentials
// Secret when it has one, else pod identity.
func authSpec(t Target) pulumi.Map {
	if t.CredentialsSecret != "" {
		keys := make([]string, 0, len(t.Trigger.SecretParams))
		for param := range t.Trigger.SecretParams {
			keys = append(keys, param)
		}
		sort.Strings(keys)
		refs := pulumi.Array{}
		for _, param := range keys {
			refs = append(refs, pulumi.Map{
				"parameter": pulumi.String(param), "name": pulumi.String(t.CredentialsSecret), "key": pulumi.String(t.Trigger.SecretParams[param]),
			})
		}
		return pulumi.Map{"secretTargetRef": refs}
	}
	return pulumi.Map{"podIdentity": podIdentity(t.Trigger)}
}

func podIdentity(t Trigger) pulumi.Map {
	m := pulumi.Map{"provider": pulumi.String(t.PodIdentity)}
	if t.IdentityID != nil {
		m["identityId"] = t.IdentityID
	}
	return m
}

// scrape is what a PodMonitor has Prometheus scrape: the pods labelled
// app.kubernetes.io/name=app in namespace, on their container port named port.
type scrape struct {
	app       string
	namespace pulumi.StringInput
	port      string
}

// newPodMonitor has Prometheus scrape s: for the consumer, its metrics port,
// the one the pod template's prometheus.io annotations name for
// annotation-based scrapers.
func newPodMonitor(ctx *pulumi.Context, name string, m PodMonitor, s scrape, opts ...pulumi.ResourceOption) error {
	group, _, _ := strings.Cut(m.APIVersion, ".")
	_, err := apiextensions.NewCustomResource(ctx, name+"-"+group, &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String(m.APIVersion),
		Kind:       pulumi.String("PodMonitor"),
		Metadata: &metav1.ObjectMetaArgs{
			Name:      pulumi.String(s.app),
			Namespace: s.namespace,
			Labels:    stringMap(map[string]string{"app.kubernetes.io/name": s.app, "app.kubernetes.io/part-of": "edw"}),
		},
		OtherFields: kubernetes.UntypedArgs{"spec": pulumi.Map{
			"selector": pulumi.Map{"matchLabels": stringMap(map[string]string{"app.kubernetes.io/name": s.app})},
			"podMetricsEndpoints": pulumi.Array{pulumi.Map{
				"port":     pulumi.String(s.port),
				"path":     pulumi.String("/metrics"),
				"interval": pulumi.String("30s"),
			}},
		}},
	}, append(opts, pulumi.DependsOn(m.After))...)
	if err != nil {
		return fmt.Errorf("pod monitor %s (%s): %w", name, m.APIVersion, err)
	}
	return nil
}

package kube

import (
	"fmt"

	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// KedaChartRepo is where the official KEDA chart is published.
const KedaChartRepo = "https://kedacore.github.io/charts"

// CriticalPriorityClass is the built-in priority class of add-ons a cluster
// cannot run without. KEDA gets it (the chart's default is none): without
// KEDA nothing scales the consumers, so on a full node the scheduler must
// preempt workload pods for it, never the reverse, and the kubelet evicts it
// last under node pressure. Built-in classes exist in every cluster and may
// be used in any namespace since Kubernetes 1.17.
const CriticalPriorityClass = "system-cluster-critical"

// Keda is the KEDA operator, installed from its official chart.
type Keda struct {
	pulumi.ResourceState
	// Release is the Helm release; KEDA custom resources depend on it so that
	// `pulumi destroy` deletes them while the operator can still clear their finalizers.
	Release   *helmv3.Release
	Namespace pulumi.StringOutput `pulumi:"namespace"`
	Status    pulumi.StringOutput `pulumi:"status"`
}

// KedaArgs configures the KEDA install.
type KedaArgs struct {
	// ChartVersion is the exact chart version.
	ChartVersion string
	// Identity is the operator service account's federated identity; KEDA reads the
	// queue length with it.
	Identity Identity
	// System places the operator on the system nodes.
	System Placement
	// Ready are resources the release waits for (the system node group).
	Ready []pulumi.Resource
	// Monitors, when there are any, turn on the operator's Prometheus metrics
	// and scrape them, one PodMonitor per Prometheus, as the consumer's are:
	// keda_scaler_metrics_value is the queue length each ScaledObject's
	// trigger reads, the backlog per route the dashboards chart.
	Monitors []PodMonitor
}

// The operator's Prometheus metrics, as KEDA's chart serves them with
// prometheus.operator.enabled: its pods carry app.kubernetes.io/name set to
// the operator's name, and --metrics-bind-address is the container port the
// chart names "http" (8080, the chart's default prometheus.operator.port).
const (
	kedaOperatorApp         = "keda-operator"
	kedaOperatorMetricsPort = "http"
)

// NewKeda installs KEDA into the namespace "keda".
func NewKeda(ctx *pulumi.Context, name string, args KedaArgs, opts ...pulumi.ResourceOption) (*Keda, error) {
	k := &Keda{}
	if err := ctx.RegisterComponentResource("edw:kube:Keda", name, k, opts...); err != nil {
		return nil, err
	}
	podLabels := pulumi.StringMap{}
	for key, v := range args.Identity.PodLabels {
		podLabels[key] = pulumi.String(v)
	}
	component := func(cpu, mem string) pulumi.Map {
		return pulumi.Map{
			"requests": pulumi.Map{"cpu": pulumi.String(cpu), "memory": pulumi.String(mem)},
			"limits":   pulumi.Map{"memory": pulumi.String("512Mi")},
		}
	}
	values := pulumi.Map{
		"serviceAccount": pulumi.Map{
			"operator": pulumi.Map{
				"create":      pulumi.Bool(true),
				"name":        pulumi.String(KedaServiceAccount.Name),
				"annotations": args.Identity.Annotations,
			},
		},
		"podLabels": pulumi.Map{"keda": podLabels},
		"resources": pulumi.Map{
			"operator":     component("100m", "128Mi"),
			"metricServer": component("100m", "128Mi"),
			"webhooks":     component("10m", "64Mi"),
		},
		"nodeSelector": stringMap(args.System.NodeSelector),
		"tolerations":  tolerationValues(args.System.Tolerations),
		// One value for the operator, the metrics server and the webhooks.
		"priorityClassName": pulumi.String(CriticalPriorityClass),
		"logging": pulumi.Map{
			"operator": pulumi.Map{"format": pulumi.String("json")},
		},
	}
	if len(args.Monitors) > 0 {
		values["prometheus"] = pulumi.Map{"operator": pulumi.Map{"enabled": pulumi.Bool(true)}}
	}
	release, err := helmv3.NewRelease(ctx, name, &helmv3.ReleaseArgs{
		Name:            pulumi.String("keda"),
		Chart:           pulumi.String("keda"),
		Version:         pulumi.String(args.ChartVersion),
		RepositoryOpts:  &helmv3.RepositoryOptsArgs{Repo: pulumi.String(KedaChartRepo)},
		Namespace:       pulumi.String(KedaServiceAccount.Namespace),
		CreateNamespace: pulumi.Bool(true),
		Atomic:          pulumi.Bool(true),
		CleanupOnFail:   pulumi.Bool(true),
		Timeout:         pulumi.Int(600),
		Values:          values,
	}, pulumi.Parent(k), pulumi.DependsOn(args.Ready))
	if err != nil {
		return nil, fmt.Errorf("keda release %s: %w", name, err)
	}
	k.Release = release
	k.Namespace = release.Status.Namespace().Elem()
	for _, m := range args.Monitors {
		// After the release, which creates the namespace and the pods it selects.
		if err := newPodMonitor(ctx, name, m, scrape{app: kedaOperatorApp, namespace: pulumi.String(KedaServiceAccount.Namespace), port: kedaOperatorMetricsPort},
			pulumi.Parent(k), pulumi.DependsOn([]pulumi.Resource{release})); err != nil {
			return nil, err
		}
	}
	k.Status = release.Status.Status()
	return k, ctx.RegisterResourceOutputs(k, pulumi.Map{"namespace": k.Namespace, "status": k.Status})
}

func stringMap(m map[string]string) pulumi.StringMap {
	out := pulumi.StringMap{}
	for k, v := range m {
		out[k] = pulumi.String(v)
	}
	return out
}

// tolerationValues renders tolerations as Helm values.
func tolerationValues(ts []Toleration) pulumi.Array {
	out := pulumi.Array{}
	for _, t := range ts {
		m := pulumi.Map{"key": pulumi.String(t.Key), "operator": pulumi.String(t.Operator), "effect": pulumi.String(t.Effect)}
		if t.Value != "" {
			m["value"] = pulumi.String(t.Value)
		}
		out = append(out, m)
	}
	return out
}

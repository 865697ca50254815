package kube

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Scaling is how KEDA scales the consumer.
type Scaling struct {
	MinReplicas           int
	MaxReplicas           int
	MessagesPerPod        int
	ActivationQueueLength int
	PollingInterval       time.Duration
	Cooldown              time.Duration
}

// ConsumerSettings size and tune the consumer Deployment.
type ConsumerSettings struct {
	CPU               string
	Memory            string
	MemoryLimit       string
	MaxReceiveCount   int
	VisibilityTimeout time.Duration
	Scaling           Scaling
}

// ProducerSettings configure the optional in-cluster producer Job.
type ProducerSettings struct {
	Enabled      bool
	MessageCount int
	Rate         int
}

// WorkloadArgs is everything the Kubernetes layer installs.
type WorkloadArgs struct {
	Target Target
	// InstallKeda installs KEDA with Helm at KedaChartVersion; clusters that
	// already run KEDA (and the lab) leave it false.
	InstallKeda      bool
	KedaChartVersion string
	// ExistingNamespace uses the namespace edw as it is instead of creating
	// it (it holds the credentials Secret before edw runs).
	ExistingNamespace bool
	Consumer          ConsumerSettings
	Producer          ProducerSettings
	// PodMonitors ask Prometheus to scrape the consumer's metrics, one per
	// Prometheus that reads them.
	PodMonitors []PodMonitor
}

// PodMonitor is a Prometheus Operator PodMonitor for the consumer's pods.
type PodMonitor struct {
	// APIVersion is monitoring.coreos.com/v1 (the Prometheus Operator), or
	// azmonitoring.coreos.com/v1 (AKS's managed Prometheus reads the same kind
	// under its own group, so both can run in one cluster without scraping twice).
	APIVersion string
	// After is what installs the kind (the managed Prometheus add-on): the
	// PodMonitor is created after it and deleted before it.
	After []pulumi.Resource
}

// Workload is KEDA, the consumer and, when enabled, the producer Job.
type Workload struct {
	pulumi.ResourceState
	Namespace pulumi.StringOutput `pulumi:"namespace"`
}

// NewWorkload installs KEDA, then the consumer and, when enabled, the producer Job
// into the namespace "edw", all through the target's Kubernetes provider.
func NewWorkload(ctx *pulumi.Context, name string, args WorkloadArgs, opts ...pulumi.ResourceOption) (*Workload, error) {
	if err := args.validate(); err != nil {
		return nil, fmt.Errorf("workload %s: %w", name, err)
	}
	w := &Workload{}
	if err := ctx.RegisterComponentResource("edw:kube:Workload", name, w, opts...); err != nil {
		return nil, err
	}
	t := args.Target
	child := []pulumi.ResourceOption{pulumi.Parent(w), pulumi.Provider(t.Provider)}

	var kedaRelease []pulumi.Resource
	if args.InstallKeda {
		keda, err := NewKeda(ctx, name+"-keda", KedaArgs{
			ChartVersion: args.KedaChartVersion,
			Identity:     t.Keda,
			System:       t.System,
			Ready:        t.Ready,
			Monitors:     args.PodMonitors,
		}, child...)
		if err != nil {
			return nil, err
		}
		kedaRelease = []pulumi.Resource{keda.Release}
	}

	namespace := pulumi.String(ConsumerServiceAccount.Namespace).ToStringOutput()
	if !args.ExistingNamespace {
		ns, err := corev1.NewNamespace(ctx, name, &corev1.NamespaceArgs{
			Metadata: &metav1.ObjectMetaArgs{
				Name: pulumi.String(ConsumerServiceAccount.Namespace),
				Labels: pulumi.StringMap{
					"app.kubernetes.io/part-of":          pulumi.String("edw"),
					"pod-security.kubernetes.io/enforce": pulumi.String("restricted"),
				},
			},
		}, append(child, pulumi.DependsOn(t.Ready))...)
		if err != nil {
			return nil, fmt.Errorf("workload namespace %s: %w", name, err)
		}
		namespace = ns.Metadata.Name().Elem()
	}

	if _, err := NewConsumer(ctx, name+"-consumer", ConsumerArgs{
		Namespace: namespace,
		Target:    t,
		Settings:  args.Consumer,
		Keda:      kedaRelease,
		Monitors:  args.PodMonitors,
	}, child...); err != nil {
		return nil, err
	}
	if args.Producer.Enabled {
		if _, err := NewProducer(ctx, name+"-producer", ProducerArgs{
			Namespace: namespace,
			Target:    t,
			Settings:  args.Producer,
		}, child...); err != nil {
			return nil, err
		}
	}
	if !t.Readers.Empty() {
		readers := t.Readers
		readers.Kinds = slices.Clone(readers.Kinds)
		for _, m := range args.PodMonitors {
			group, _, _ := strings.Cut(m.APIVersion, "/")
			readers.Kinds = append(readers.Kinds, Kind{Group: group, Resource: "podmonitors"})
		}
		// The release namespaces exist once KEDA's release does.
		namespaces := t.Readers.ReleaseNamespaces
		if args.InstallKeda {
			namespaces = append([]string{KedaServiceAccount.Namespace}, namespaces...)
		}
		if _, err := newReaderAccess(ctx, name+"-readers", readers, namespaces,
			append(child, pulumi.DependsOn(kedaRelease))...); err != nil {
			return nil, err
		}
	}
	w.Namespace = namespace
	return w, ctx.RegisterResourceOutputs(w, pulumi.Map{"namespace": w.Namespace})
}

// validate catches a half-built Target at preview, before anything is registered.
func (t Target) validate() error {
	switch {
	case t.Provider == nil:
		return errors.New("target has no Kubernetes provider")
	case t.Cloud != "aws" && t.Cloud != "azure":
		return fmt.Errorf("target cloud %q: want aws or azure", t.Cloud)
	case t.Trigger.Type == "":
		return errors.New("target trigger needs a type")
	case t.CredentialsSecret == "" && t.Trigger.PodIdentity == "":
		return errors.New("target trigger needs a pod identity provider, or the target a credentials Secret")
	case t.CredentialsSecret != "" && len(t.Trigger.SecretParams) == 0:
		return errors.New("target credentials Secret needs the trigger's secret parameters")
	case t.Images.Consumer == nil || t.Images.Producer == nil:
		return errors.New("target needs consumer and producer images")
	}
	seen := map[string]bool{}
	for _, r := range t.Routes {
		switch {
		case !routeNameRE.MatchString(r.Name):
			return fmt.Errorf("route %q: want a DNS label of at most 50 characters (the route's objects are %s)", r.Name, RouteConsumerName("<route>"))
		case seen[r.Name]:
			return fmt.Errorf("route %q given twice", r.Name)
		case len(r.Metadata) == 0 || len(r.Env) == 0:
			return fmt.Errorf("route %q needs its queue's trigger metadata and environment", r.Name)
		}
		seen[r.Name] = true
	}
	return nil
}

// routeNameRE keeps edw-consumer-<route> a valid label value (63 characters).
var routeNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,48}[a-z0-9])?$`)

func (args WorkloadArgs) validate() error {
	if err := args.Target.validate(); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, m := range args.PodMonitors {
		if m.APIVersion != PodMonitorAPI && m.APIVersion != AzurePodMonitorAPI {
			return fmt.Errorf("pod monitor API %q: want %s or %s", m.APIVersion, PodMonitorAPI, AzurePodMonitorAPI)
		}
		if seen[m.APIVersion] {
			return fmt.Errorf("pod monitor API %q given twice", m.APIVersion)
		}
		seen[m.APIVersion] = true
	}
	return nil
}

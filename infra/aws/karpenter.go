package aws

import (
	"fmt"
	"slices"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sqs"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/edw-dev/edw/infra/karpenter"
)

// KarpenterChart is where the Karpenter chart is published.
const KarpenterChart = "oci://public.ecr.aws/karpenter/karpenter"

// KarpenterCRDChart publishes the same version's CRDs on their own: Helm installs
// a chart's bundled CRDs once and never upgrades them, so a release of this
// chart is what keeps the CRDs in step with the controller on a version bump.
const KarpenterCRDChart = "oci://public.ecr.aws/karpenter/karpenter-crd"

// KarpenterNamespace holds the controller and its Helm release.
const KarpenterNamespace = "kube-system"

// KarpenterPriorityClass is the built-in class for cluster-critical add-ons,
// the Karpenter chart's default (values.yaml, priorityClassName).
const KarpenterPriorityClass = "system-cluster-critical"

// KarpenterServiceAccount is the controller's service account, which its IRSA role trusts.
const KarpenterServiceAccount = "system:serviceaccount:" + KarpenterNamespace + ":karpenter"

// KarpenterNodeRole is the role of the nodes Karpenter launches.
type KarpenterNodeRole struct {
	pulumi.ResourceState
	*GrantedRole
}

// NewKarpenterNodeRole creates it; the cluster maps it in aws-auth, so it exists
// before the cluster.
func NewKarpenterNodeRole(ctx *pulumi.Context, name string, acct Account, tags pulumi.StringMap, opts ...pulumi.ResourceOption) (*KarpenterNodeRole, error) {
	r := &KarpenterNodeRole{}
	if err := ctx.RegisterComponentResource("edw:aws:KarpenterNodeRole", name, r, opts...); err != nil {
		return nil, err
	}
	role, err := NodeRole(ctx, name, acct, tags, r)
	if err != nil {
		return nil, err
	}
	r.GrantedRole = role
	return r, ctx.RegisterResourceOutputs(r, pulumi.Map{"name": r.Name, "arn": r.ARN})
}

// Karpenter is the controller (IRSA role, interruption queue and rules, Helm
// release) and the EC2NodeClass and NodePool it reconciles.
type Karpenter struct {
	pulumi.ResourceState
	Release *helmv3.Release
	// NodePool is the workload's pool; the workload goes before it on destroy so
	// Karpenter does not drain nodes under running consumers.
	NodePool *apiextensions.CustomResource
	Queue    pulumi.StringOutput `pulumi:"interruptionQueue"`
}

// KarpenterArgs configure Karpenter.
type KarpenterArgs struct {
	Account         Account
	ClusterName     string
	ClusterReady    pulumi.StringInput // the cluster name, resolved once it exists
	OIDCProviderARN pulumi.StringInput
	OIDCIssuer      pulumi.StringInput
	NodeRole        *KarpenterNodeRole
	// NodeGroup is the system node group; the release waits for it and the
	// controller runs there, never on nodes it manages.
	NodeGroup     pulumi.Resource
	Provider      *kubernetes.Provider
	ChartVersion  string
	CapacityTypes []string
	Architectures []string
	CPULimit      int
	Tags          pulumi.StringMap
}

// NewKarpenter installs Karpenter v1.
func NewKarpenter(ctx *pulumi.Context, name string, args KarpenterArgs, opts ...pulumi.ResourceOption) (*Karpenter, error) {
	k := &Karpenter{}
	if err := ctx.RegisterComponentResource("edw:aws:Karpenter", name, k, opts...); err != nil {
		return nil, err
	}
	queue, err := sqs.NewQueue(ctx, name+"-interruption", &sqs.QueueArgs{
		Name:                    pulumi.String(args.ClusterName + "-karpenter"),
		SqsManagedSseEnabled:    pulumi.Bool(true),
		MessageRetentionSeconds: pulumi.Int(300),
		Tags:                    args.Tags,
	}, pulumi.Parent(k))
	if err != nil {
		return nil, fmt.Errorf("interruption queue: %w", err)
	}
	var ruleARNs []pulumi.StringInput
	for _, rule := range InterruptionRules() {
		r, err := cloudwatch.NewEventRule(ctx, name+"-"+rule.Name, &cloudwatch.EventRuleArgs{
			Description: pulumi.String(rule.Description), EventPattern: pulumi.String(rule.Pattern()), Tags: args.Tags,
		}, pulumi.Parent(k))
		if err != nil {
			return nil, fmt.Errorf("event rule %s: %w", rule.Name, err)
		}
		if _, err := cloudwatch.NewEventTarget(ctx, name+"-"+rule.Name, &cloudwatch.EventTargetArgs{
			Rule: r.Name, Arn: queue.Arn,
		}, pulumi.Parent(k)); err != nil {
			return nil, fmt.Errorf("event target %s: %w", rule.Name, err)
		}
		ruleARNs = append(ruleARNs, r.Arn)
	}
	// Only EventBridge publishes here, and only for these rules (the
	// confused-deputy guard). Upstream's template also names sqs.amazonaws.com,
	// which publishes nothing to this queue.
	if _, err := sqs.NewQueuePolicy(ctx, name+"-interruption", &sqs.QueuePolicyArgs{
		QueueUrl: queue.Url,
		Policy: DocumentOf(append([]pulumi.StringInput{queue.Arn}, ruleARNs...), func(v []string) []Statement {
			return []Statement{{
				Sid: "EC2InterruptionEvents", Principal: map[string]any{"Service": args.Account.ServicePrincipal("events")},
				Action: []string{"sqs:SendMessage"}, Resource: []string{v[0]}, Condition: sourceConditions(args.Account, v[1:]),
			}, {
				Sid: "DenyHTTP", Effect: "Deny", Principal: map[string]any{"AWS": "*"}, Action: []string{"sqs:*"}, Resource: []string{v[0]},
				Condition: map[string]any{"Bool": map[string]string{"aws:SecureTransport": "false"}},
			}}
		}),
	}, pulumi.Parent(k)); err != nil {
		return nil, fmt.Errorf("interruption queue policy: %w", err)
	}

	controller, err := NewServiceAccountRole(ctx, name+"-controller", ServiceAccountRoleArgs{
		Subject: KarpenterServiceAccount, OIDCProviderARN: args.OIDCProviderARN, OIDCIssuer: args.OIDCIssuer,
		Policy: ControllerPolicy(args.Account, args.ClusterName, queue.Arn, args.NodeRole.ARN),
		Tags:   args.Tags,
	}, pulumi.Parent(k))
	if err != nil {
		return nil, err
	}

	withK8s := []pulumi.ResourceOption{pulumi.Parent(k), pulumi.Provider(args.Provider)}
	crds, err := helmv3.NewRelease(ctx, name+"-crd", &helmv3.ReleaseArgs{
		Name:      pulumi.String("karpenter-crd"),
		Chart:     pulumi.String(KarpenterCRDChart),
		Version:   pulumi.String(args.ChartVersion),
		Namespace: pulumi.String(KarpenterNamespace),
		Atomic:    pulumi.Bool(true),
		Timeout:   pulumi.Int(300),
	}, slices.Concat(withK8s, []pulumi.ResourceOption{pulumi.DependsOn([]pulumi.Resource{args.NodeGroup})})...)
	if err != nil {
		return nil, fmt.Errorf("karpenter crd release: %w", err)
	}
	release, err := helmv3.NewRelease(ctx, name, &helmv3.ReleaseArgs{
		Name:      pulumi.String("karpenter"),
		Chart:     pulumi.String(KarpenterChart),
		Version:   pulumi.String(args.ChartVersion),
		Namespace: pulumi.String(KarpenterNamespace),
		// The CRDs come from the karpenter-crd release, which upgrades them.
		SkipCrds: pulumi.Bool(true),
		Atomic:   pulumi.Bool(true),
		Timeout:  pulumi.Int(600),
		Values: pulumi.Map{
			"settings": pulumi.Map{"clusterName": args.ClusterReady, "interruptionQueue": queue.Name},
			"serviceAccount": pulumi.Map{"annotations": pulumi.StringMap{
				"eks.amazonaws.com/role-arn": controller.ARN,
			}},
			"controller": pulumi.Map{"resources": pulumi.Map{
				"requests": pulumi.Map{"cpu": pulumi.String("250m"), "memory": pulumi.String("512Mi")},
				"limits":   pulumi.Map{"memory": pulumi.String("1Gi")},
			}},
			"nodeSelector": pulumi.StringMap{SystemPoolLabel: pulumi.String("system")},
			// The chart's default already; stated so a chart change cannot drop
			// it: workload pods must never preempt the controller that buys
			// their nodes.
			"priorityClassName": pulumi.String(KarpenterPriorityClass),
			// The chart's default tolerations include CriticalAddonsOnly, the
			// system nodes' taint; stated here so a chart change cannot drop it.
			"tolerations": pulumi.Array{pulumi.Map{"key": pulumi.String(SystemTaintKey), "operator": pulumi.String("Exists")}},
		},
	}, slices.Concat(withK8s, []pulumi.ResourceOption{pulumi.DependsOn(append([]pulumi.Resource{args.NodeGroup, crds}, controller.Grants...))})...)
	if err != nil {
		return nil, fmt.Errorf("karpenter release: %w", err)
	}
	k.Release = release
	afterRelease := slices.Concat(withK8s, []pulumi.ResourceOption{pulumi.DependsOn([]pulumi.Resource{release})})
	// Nodes launched from the class run as the node role: the class goes before
	// the role's grants on destroy, and Karpenter's finalizer terminates them first.
	classDeps := slices.Concat(withK8s, []pulumi.ResourceOption{args.NodeRole.DependsOnGrants(), pulumi.DependsOn([]pulumi.Resource{release})})

	nodeClass, err := apiextensions.NewCustomResource(ctx, name+"-default", &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("karpenter.k8s.aws/v1"),
		Kind:       pulumi.String("EC2NodeClass"),
		Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String("default")},
		OtherFields: kubernetes.UntypedArgs{"spec": pulumi.Map{
			"role":             args.NodeRole.Name,
			"amiSelectorTerms": pulumi.Array{pulumi.Map{"alias": pulumi.String("al2023@latest")}},
			"subnetSelectorTerms": pulumi.Array{pulumi.Map{"tags": pulumi.StringMap{
				DiscoveryTag: pulumi.String(args.ClusterName),
			}}},
			// EKS tags its cluster security group with the cluster name; nodes
			// on it reach the control plane and the system nodes.
			"securityGroupSelectorTerms": pulumi.Array{pulumi.Map{"tags": pulumi.StringMap{
				"aws:eks:cluster-name": pulumi.String(args.ClusterName),
			}}},
			"metadataOptions": pulumi.Map{"httpTokens": pulumi.String("required"), "httpPutResponseHopLimit": pulumi.Int(1)},
			"tags":            args.Tags,
		}},
	}, classDeps...)
	if err != nil {
		return nil, fmt.Errorf("ec2 node class: %w", err)
	}
	if k.NodePool, err = apiextensions.NewCustomResource(ctx, name+"-workload", &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("karpenter.sh/v1"),
		Kind:       pulumi.String("NodePool"),
		Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String(karpenter.WorkloadPool)},
		OtherFields: kubernetes.UntypedArgs{"spec": karpenter.NodePoolSpec{
			NodeClassGroup: "karpenter.k8s.aws", NodeClassKind: "EC2NodeClass", NodeClassName: nodeClass.Metadata.Name().Elem(),
			CapacityTypes: args.CapacityTypes, Architectures: args.Architectures, CPULimit: args.CPULimit,
			Extra: []karpenter.Requirement{
				{Key: "karpenter.k8s.aws/instance-category", Operator: "In", Values: []string{"c", "m", "r"}},
				{Key: "karpenter.k8s.aws/instance-generation", Operator: "Gt", Values: []string{"2"}},
			},
		}.Spec()},
	}, afterRelease...); err != nil {
		return nil, fmt.Errorf("node pool: %w", err)
	}
	k.Queue = queue.Name
	return k, ctx.RegisterResourceOutputs(k, pulumi.Map{"interruptionQueue": k.Queue})
}

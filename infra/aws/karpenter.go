package aws

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
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

// KarpenterServiceAccount is the controller's service account, which its IRSA role trusts.
const KarpenterServiceAccount = "system:serviceaccount:kube-system:karpenter"

// KarpenterNodeRole is the role of the nodes Karpenter launches.
type KarpenterNodeRole struct {
	pulumi.ResourceState
	Role *iam.Role
	Name pulumi.StringOutput `pulumi:"name"`
}

// NewKarpenterNodeRole creates it; the cluster maps it in aws-auth, so it exists
// before the cluster.
func NewKarpenterNodeRole(ctx *pulumi.Context, name, partition string, tags pulumi.StringMap, opts ...pulumi.ResourceOption) (*KarpenterNodeRole, error) {
	r := &KarpenterNodeRole{}
	if err := ctx.RegisterComponentResource("edw:aws:KarpenterNodeRole", name, r, opts...); err != nil {
		return nil, err
	}
	role, err := NodeRole(ctx, name, partition, tags, r)
	if err != nil {
		return nil, err
	}
	r.Role, r.Name = role, role.Name
	return r, ctx.RegisterResourceOutputs(r, pulumi.Map{"name": r.Name})
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

// Account is where the stack runs, from aws.getCallerIdentity / getPartition /
// getRegion: nothing in a policy is hard-coded.
type Account struct {
	ID, Partition, Region string
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
	if _, err := sqs.NewQueuePolicy(ctx, name+"-interruption", &sqs.QueuePolicyArgs{
		QueueUrl: queue.Url,
		Policy: DocumentOf([]pulumi.StringInput{queue.Arn}, func(v []string) []Statement {
			return []Statement{{
				Sid: "EC2InterruptionEvents", Principal: map[string]any{"Service": []string{"events.amazonaws.com", "sqs.amazonaws.com"}},
				Action: []string{"sqs:SendMessage"}, Resource: []string{v[0]},
			}, {
				Sid: "DenyHTTP", Effect: "Deny", Principal: map[string]any{"AWS": "*"}, Action: []string{"sqs:*"}, Resource: []string{v[0]},
				Condition: map[string]any{"Bool": map[string]string{"aws:SecureTransport": "false"}},
			}}
		}),
	}, pulumi.Parent(k)); err != nil {
		return nil, fmt.Errorf("interruption queue policy: %w", err)
	}
	rules := map[string]string{
		"health":      `{"source":["aws.health"],"detail-type":["AWS Health Event"]}`,
		"spot":        `{"source":["aws.ec2"],"detail-type":["EC2 Spot Instance Interruption Warning"]}`,
		"rebalance":   `{"source":["aws.ec2"],"detail-type":["EC2 Instance Rebalance Recommendation"]}`,
		"statechange": `{"source":["aws.ec2"],"detail-type":["EC2 Instance State-change Notification"]}`,
	}
	for _, rule := range []string{"health", "spot", "rebalance", "statechange"} {
		r, err := cloudwatch.NewEventRule(ctx, name+"-"+rule, &cloudwatch.EventRuleArgs{
			EventPattern: pulumi.String(rules[rule]), Tags: args.Tags,
		}, pulumi.Parent(k))
		if err != nil {
			return nil, fmt.Errorf("event rule %s: %w", rule, err)
		}
		if _, err := cloudwatch.NewEventTarget(ctx, name+"-"+rule, &cloudwatch.EventTargetArgs{
			Rule: r.Name, Arn: queue.Arn,
		}, pulumi.Parent(k)); err != nil {
			return nil, fmt.Errorf("event target %s: %w", rule, err)
		}
	}

	controller, err := NewServiceAccountRole(ctx, name+"-controller", ServiceAccountRoleArgs{
		Subject: KarpenterServiceAccount, OIDCProviderARN: args.OIDCProviderARN, OIDCIssuer: args.OIDCIssuer,
		Policy: ControllerPolicy(args.Account, args.ClusterName, queue.Arn, args.NodeRole.Role.Arn),
		Tags:   args.Tags,
	}, pulumi.Parent(k))
	if err != nil {
		return nil, err
	}

	withK8s := []pulumi.ResourceOption{pulumi.Parent(k), pulumi.Provider(args.Provider)}
	release, err := helmv3.NewRelease(ctx, name, &helmv3.ReleaseArgs{
		Name:      pulumi.String("karpenter"),
		Chart:     pulumi.String(KarpenterChart),
		Version:   pulumi.String(args.ChartVersion),
		Namespace: pulumi.String("kube-system"),
		Atomic:    pulumi.Bool(true),
		Timeout:   pulumi.Int(600),
		Values: pulumi.Map{
			"settings": pulumi.Map{"clusterName": args.ClusterReady, "interruptionQueue": queue.Name},
			"serviceAccount": pulumi.Map{"annotations": pulumi.StringMap{
				"eks.amazonaws.com/role-arn": controller.ARN,
			}},
			"controller": pulumi.Map{"resources": pulumi.Map{
				"requests": pulumi.Map{"cpu": pulumi.String("250m"), "memory": pulumi.String("512Mi")},
				"limits":   pulumi.Map{"memory": pulumi.String("1Gi")},
			}},
			"nodeSelector": pulumi.StringMap{"edw.dev/pool": pulumi.String("system")},
		},
	}, append(withK8s, pulumi.DependsOn([]pulumi.Resource{args.NodeGroup}))...)
	if err != nil {
		return nil, fmt.Errorf("karpenter release: %w", err)
	}
	k.Release = release
	afterRelease := append(withK8s, pulumi.DependsOn([]pulumi.Resource{release}))

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
	}, afterRelease...)
	if err != nil {
		return nil, fmt.Errorf("ec2 node class: %w", err)
	}
	if k.NodePool, err = apiextensions.NewCustomResource(ctx, name+"-workload", &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("karpenter.sh/v1"),
		Kind:       pulumi.String("NodePool"),
		Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String("edw-workload")},
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

// ControllerPolicy is Karpenter v1's controller policy, scoped to this cluster by
// ARNs and tags wherever the API allows; Describe and pricing calls support no
// resource scoping and are limited to the region instead.
func ControllerPolicy(acct Account, cluster string, queueARN, nodeRoleARN pulumi.StringInput) pulumi.StringOutput {
	return DocumentOf([]pulumi.StringInput{queueARN, nodeRoleARN}, func(v []string) []Statement {
		p, r, a := acct.Partition, acct.Region, acct.ID
		ec2 := func(kinds ...string) []string {
			out := make([]string, 0, len(kinds))
			for _, kind := range kinds {
				out = append(out, fmt.Sprintf("arn:%s:ec2:%s:*:%s/*", p, r, kind))
			}
			return out
		}
		owned := "aws:ResourceTag/kubernetes.io/cluster/" + cluster
		requestOwned := "aws:RequestTag/kubernetes.io/cluster/" + cluster
		region := map[string]any{"StringEquals": map[string]string{"aws:RequestedRegion": r}}
		instanceProfiles := fmt.Sprintf("arn:%s:iam::%s:instance-profile/*", p, a)
		return []Statement{
			{Sid: "AllowScopedEC2InstanceAccessActions", Action: []string{"ec2:RunInstances", "ec2:CreateFleet"},
				Resource: []string{fmt.Sprintf("arn:%s:ec2:%s::image/*", p, r), fmt.Sprintf("arn:%s:ec2:%s::snapshot/*", p, r),
					fmt.Sprintf("arn:%s:ec2:%s:*:security-group/*", p, r), fmt.Sprintf("arn:%s:ec2:%s:*:subnet/*", p, r),
					fmt.Sprintf("arn:%s:ec2:%s:*:capacity-reservation/*", p, r)}},
			{Sid: "AllowScopedEC2LaunchTemplateAccessActions", Action: []string{"ec2:RunInstances", "ec2:CreateFleet"},
				Resource: ec2("launch-template"),
				Condition: map[string]any{"StringEquals": map[string]string{owned: "owned"},
					"StringLike": map[string]string{"aws:ResourceTag/karpenter.sh/nodepool": "*"}}},
			{Sid: "AllowScopedEC2InstanceActionsWithTags", Action: []string{"ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"},
				Resource: ec2("fleet", "instance", "volume", "network-interface", "launch-template", "spot-instances-request"),
				Condition: map[string]any{"StringEquals": map[string]string{requestOwned: "owned", "aws:RequestTag/eks:eks-cluster-name": cluster},
					"StringLike": map[string]string{"aws:RequestTag/karpenter.sh/nodepool": "*"}}},
			{Sid: "AllowScopedResourceCreationTagging", Action: []string{"ec2:CreateTags"},
				Resource: ec2("fleet", "instance", "volume", "network-interface", "launch-template", "spot-instances-request"),
				Condition: map[string]any{"StringEquals": map[string]any{requestOwned: "owned", "aws:RequestTag/eks:eks-cluster-name": cluster,
					"ec2:CreateAction": []string{"RunInstances", "CreateFleet", "CreateLaunchTemplate"}},
					"StringLike": map[string]string{"aws:RequestTag/karpenter.sh/nodepool": "*"}}},
			{Sid: "AllowScopedResourceTagging", Action: []string{"ec2:CreateTags"}, Resource: ec2("instance"),
				Condition: map[string]any{"StringEquals": map[string]string{owned: "owned"},
					"StringLike":                map[string]string{"aws:ResourceTag/karpenter.sh/nodepool": "*"},
					"ForAllValues:StringEquals": map[string][]string{"aws:TagKeys": {"eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"}}}},
			{Sid: "AllowScopedDeletion", Action: []string{"ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"},
				Resource: ec2("instance", "launch-template"),
				Condition: map[string]any{"StringEquals": map[string]string{owned: "owned"},
					"StringLike": map[string]string{"aws:ResourceTag/karpenter.sh/nodepool": "*"}}},
			{Sid: "AllowRegionalReadActions", Resource: []string{"*"}, Condition: region, Action: []string{
				"ec2:DescribeCapacityReservations", "ec2:DescribeImages", "ec2:DescribeInstances", "ec2:DescribeInstanceTypeOfferings",
				"ec2:DescribeInstanceTypes", "ec2:DescribeLaunchTemplates", "ec2:DescribeSecurityGroups", "ec2:DescribeSpotPriceHistory",
				"ec2:DescribeSubnets"}},
			{Sid: "AllowSSMReadActions", Action: []string{"ssm:GetParameter"},
				Resource: []string{fmt.Sprintf("arn:%s:ssm:%s::parameter/aws/service/*", p, r)}},
			{Sid: "AllowPricingReadActions", Action: []string{"pricing:GetProducts"}, Resource: []string{"*"}},
			{Sid: "AllowInterruptionQueueActions", Action: []string{"sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"},
				Resource: []string{v[0]}},
			{Sid: "AllowPassingInstanceRole", Action: []string{"iam:PassRole"}, Resource: []string{v[1]},
				Condition: map[string]any{"StringEquals": map[string]any{"iam:PassedToService": []string{"ec2.amazonaws.com"}}}},
			{Sid: "AllowScopedInstanceProfileCreationActions", Action: []string{"iam:CreateInstanceProfile"}, Resource: []string{instanceProfiles},
				Condition: map[string]any{"StringEquals": map[string]string{requestOwned: "owned", "aws:RequestTag/eks:eks-cluster-name": cluster,
					"aws:RequestTag/topology.kubernetes.io/region": r},
					"StringLike": map[string]string{"aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"}}},
			{Sid: "AllowScopedInstanceProfileTagActions", Action: []string{"iam:TagInstanceProfile"}, Resource: []string{instanceProfiles},
				Condition: map[string]any{"StringEquals": map[string]string{owned: "owned", "aws:ResourceTag/topology.kubernetes.io/region": r,
					requestOwned: "owned", "aws:RequestTag/eks:eks-cluster-name": cluster, "aws:RequestTag/topology.kubernetes.io/region": r},
					"StringLike": map[string]string{"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*", "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"}}},
			{Sid: "AllowScopedInstanceProfileActions", Action: []string{"iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"},
				Resource: []string{instanceProfiles},
				Condition: map[string]any{"StringEquals": map[string]string{owned: "owned", "aws:ResourceTag/topology.kubernetes.io/region": r},
					"StringLike": map[string]string{"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*"}}},
			{Sid: "AllowInstanceProfileReadActions", Action: []string{"iam:GetInstanceProfile"}, Resource: []string{instanceProfiles}},
			{Sid: "AllowAPIServerEndpointDiscovery", Action: []string{"eks:DescribeCluster"},
				Resource: []string{fmt.Sprintf("arn:%s:eks:%s:%s:cluster/%s", p, r, a, cluster)}},
		}
	})
}

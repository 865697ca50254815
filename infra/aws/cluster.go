package aws

import (
	"fmt"

	awseks "github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi-eks/sdk/v2/go/eks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Cluster wraps pulumi-eks v2 and exposes plain outputs only: pulumi-eks is a
// remote component whose resource-reference outputs are awkward downstream.
type Cluster struct {
	pulumi.ResourceState
	// NodeGroup is the managed node group for system pods; everything installed
	// in the cluster depends on it so destroy removes workloads first.
	NodeGroup *awseks.NodeGroup

	Name            pulumi.StringOutput `pulumi:"name"`
	OIDCProviderARN pulumi.StringOutput `pulumi:"oidcProviderArn"`
	OIDCIssuer      pulumi.StringOutput `pulumi:"oidcIssuer"`
	Kubeconfig      pulumi.StringOutput `pulumi:"kubeconfig"`
	NodeRoleARN     pulumi.StringOutput `pulumi:"systemNodeRoleArn"`
}

// ClusterArgs configure the cluster.
type ClusterArgs struct {
	Name              string
	KubernetesVersion string
	VPCID             pulumi.StringInput
	PrivateSubnetIDs  pulumi.StringArrayInput
	PublicSubnetIDs   pulumi.StringArrayInput
	SystemNodeSize    string
	SystemNodeCount   int
	// KarpenterNodeRole joins the aws-auth mapping so Karpenter's nodes can join.
	KarpenterNodeRole *iam.Role
	Partition         string
	// Provider is the aws provider pulumi-eks must use instead of its own.
	Provider pulumi.ProviderResource
	Tags     pulumi.StringMap
}

// NodeRole creates a role EC2 nodes assume, with the worker node policies.
func NodeRole(ctx *pulumi.Context, name, partition string, tags pulumi.StringMap, parent pulumi.Resource) (*iam.Role, error) {
	trust, err := Document(Statement{
		Principal: map[string]any{"Service": "ec2.amazonaws.com"}, Action: []string{"sts:AssumeRole"},
	})
	if err != nil {
		return nil, err
	}
	role, err := iam.NewRole(ctx, name, &iam.RoleArgs{AssumeRolePolicy: pulumi.String(trust), Tags: tags}, pulumi.Parent(parent))
	if err != nil {
		return nil, fmt.Errorf("node role %s: %w", name, err)
	}
	for _, p := range []string{"AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly", "AmazonSSMManagedInstanceCore"} {
		if _, err := iam.NewRolePolicyAttachment(ctx, name+"-"+p, &iam.RolePolicyAttachmentArgs{
			Role: role.Name, PolicyArn: pulumi.Sprintf("arn:%s:iam::aws:policy/%s", partition, p),
		}, pulumi.Parent(parent)); err != nil {
			return nil, fmt.Errorf("attach %s to %s: %w", p, name, err)
		}
	}
	return role, nil
}

// NewCluster creates the EKS cluster (CONFIG_MAP auth, no default node group,
// control-plane logs, KMS secrets encryption), the cluster's IAM OIDC provider
// and an AL2023 managed node group for system pods.
func NewCluster(ctx *pulumi.Context, name string, args ClusterArgs, opts ...pulumi.ResourceOption) (*Cluster, error) {
	c := &Cluster{}
	if err := ctx.RegisterComponentResource("edw:aws:Cluster", name, c, opts...); err != nil {
		return nil, err
	}
	key, err := kms.NewKey(ctx, name, &kms.KeyArgs{
		Description:          pulumi.Sprintf("EKS secrets encryption for %s", args.Name),
		EnableKeyRotation:    pulumi.Bool(true),
		DeletionWindowInDays: pulumi.Int(7),
		Tags:                 args.Tags,
	}, pulumi.Parent(c))
	if err != nil {
		return nil, fmt.Errorf("kms key %s: %w", name, err)
	}
	systemRole, err := NodeRole(ctx, name+"-system-node", args.Partition, args.Tags, c)
	if err != nil {
		return nil, err
	}
	skip, noPublicIP := true, false
	cluster, err := eks.NewCluster(ctx, name, &eks.ClusterArgs{
		Name:             pulumi.String(args.Name),
		Version:          pulumi.String(args.KubernetesVersion),
		VpcId:            args.VPCID,
		PrivateSubnetIds: args.PrivateSubnetIDs,
		PublicSubnetIds:  args.PublicSubnetIDs,
		// pulumi-eks v2's default node group uses launch configurations, which new
		// accounts cannot create; system nodes come from the managed group below.
		SkipDefaultNodeGroup:         &skip,
		NodeAssociatePublicIpAddress: &noPublicIP,
		// CONFIG_MAP mode (the default): access entries are broken in v2.8.
		InstanceRoles:          iam.RoleArray{systemRole, args.KarpenterNodeRole},
		CreateOidcProvider:     pulumi.Bool(false),
		EnabledClusterLogTypes: pulumi.ToStringArray([]string{"api", "audit", "authenticator", "controllerManager", "scheduler"}),
		EncryptionConfigKeyArn: key.Arn,
		Tags:                   args.Tags,
	}, pulumi.Parent(c), pulumi.Providers(args.Provider))
	if err != nil {
		return nil, fmt.Errorf("eks cluster %s: %w", name, err)
	}
	// The name as an output that resolves only once the cluster exists, so the
	// lookups and the node group wait for it.
	ready := cluster.KubeconfigJson.ApplyT(func(string) string { return args.Name }).(pulumi.StringOutput)
	issuer := awseks.LookupClusterOutput(ctx, awseks.LookupClusterOutputArgs{Name: ready}, pulumi.Parent(c)).
		Identities().Index(pulumi.Int(0)).Oidcs().Index(pulumi.Int(0)).Issuer()
	oidc, err := iam.NewOpenIdConnectProvider(ctx, name, &iam.OpenIdConnectProviderArgs{
		Url:           issuer,
		ClientIdLists: pulumi.StringArray{pulumi.String(STSAudience)},
		Tags:          args.Tags,
	}, pulumi.Parent(c))
	if err != nil {
		return nil, fmt.Errorf("oidc provider %s: %w", name, err)
	}
	ng, err := awseks.NewNodeGroup(ctx, name+"-system", &awseks.NodeGroupArgs{
		ClusterName:   ready,
		NodeRoleArn:   systemRole.Arn,
		SubnetIds:     args.PrivateSubnetIDs,
		AmiType:       pulumi.String("AL2023_x86_64_STANDARD"),
		InstanceTypes: pulumi.StringArray{pulumi.String(args.SystemNodeSize)},
		ScalingConfig: &awseks.NodeGroupScalingConfigArgs{
			DesiredSize: pulumi.Int(args.SystemNodeCount), MinSize: pulumi.Int(args.SystemNodeCount), MaxSize: pulumi.Int(args.SystemNodeCount + 1),
		},
		Labels: pulumi.StringMap{"edw.dev/pool": pulumi.String("system")},
		Tags:   args.Tags,
	}, pulumi.Parent(c), pulumi.DependsOn([]pulumi.Resource{cluster}))
	if err != nil {
		return nil, fmt.Errorf("system node group %s: %w", name, err)
	}
	c.NodeGroup = ng
	c.Name = ready
	c.OIDCProviderARN = oidc.Arn
	c.OIDCIssuer = issuer
	c.Kubeconfig = pulumi.ToSecret(cluster.KubeconfigJson).(pulumi.StringOutput)
	c.NodeRoleARN = systemRole.Arn
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{
		"name": c.Name, "oidcProviderArn": c.OIDCProviderARN, "oidcIssuer": c.OIDCIssuer,
		"kubeconfig": c.Kubeconfig, "systemNodeRoleArn": c.NodeRoleARN,
	})
}

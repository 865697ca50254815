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
	KarpenterNodeRole *GrantedRole
	Account           Account
	// Readers are IAM role ARNs mapped to ReaderGroup in aws-auth: the identities
	// (CI previews) that may read, but not change, what edw put in the cluster.
	Readers     []string
	ReaderGroup string
	// Admins are IAM role ARNs mapped to system:masters in aws-auth: the
	// identities, besides the one that created the cluster, that may run
	// `pulumi up` (teammates, a deploy pipeline).
	Admins []string
	// LogRetentionDays keeps the control-plane logs this long (one of
	// LogRetentionDays); RetainLogs keeps the log group when the stack is destroyed.
	LogRetentionDays int
	RetainLogs       bool
	// Provider is the aws provider pulumi-eks must use instead of its own.
	Provider pulumi.ProviderResource
	Tags     pulumi.StringMap
}

// AdminGroup is the Kubernetes group edw:clusterAdmins are mapped to: full
// control, as the cluster's creator has.
const AdminGroup = "system:masters"

// The system node group's label and taint.
const (
	SystemPoolLabel = "edw.dev/pool"
	SystemTaintKey  = "CriticalAddonsOnly"
)

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
	systemRole, err := NodeRole(ctx, name+"-system-node", args.Account, args.Tags, c)
	if err != nil {
		return nil, err
	}
	logs, err := controlPlaneLogs(ctx, name, args.Name, args.LogRetentionDays, args.RetainLogs, args.Tags, pulumi.Parent(c))
	if err != nil {
		return nil, err
	}
	skip, noPublicIP, defaultCNI := true, false, true
	var readers eks.RoleMappingArray
	for _, arn := range args.Admins {
		readers = append(readers, eks.RoleMappingArgs{
			RoleArn: pulumi.String(arn), Username: pulumi.String("edw-admin:{{SessionName}}"),
			Groups: pulumi.StringArray{pulumi.String(AdminGroup)},
		})
	}
	for _, arn := range args.Readers {
		readers = append(readers, eks.RoleMappingArgs{
			RoleArn: pulumi.String(arn), Username: pulumi.String("edw-reader:{{SessionName}}"),
			Groups: pulumi.StringArray{pulumi.String(args.ReaderGroup)},
		})
	}
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
		// pulumi-eks v2 would otherwise apply its bundled VPC CNI manifest
		// (v1.16, pulled from a commercial-partition registry) over the one EKS
		// installs; the vpc-cni EKS add-on below manages it instead.
		UseDefaultVpcCni: &defaultCNI,
		// CONFIG_MAP mode (the default): access entries are broken in v2.8.
		InstanceRoles:          iam.RoleArray{systemRole.Role, args.KarpenterNodeRole.Role},
		RoleMappings:           readers,
		CreateOidcProvider:     pulumi.Bool(false),
		EnabledClusterLogTypes: pulumi.ToStringArray([]string{"api", "audit", "authenticator", "controllerManager", "scheduler"}),
		EncryptionConfigKeyArn: key.Arn,
		Tags:                   args.Tags,
	}, pulumi.Parent(c), pulumi.Providers(args.Provider), systemRole.DependsOnGrants(), args.KarpenterNodeRole.DependsOnGrants(),
		// EKS must find the log group ours, not create its own.
		pulumi.DependsOn([]pulumi.Resource{logs}))
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
		ClusterName: ready,
		NodeRoleArn: systemRole.ARN,
		SubnetIds:   args.PrivateSubnetIDs,
		AmiType:     pulumi.String("AL2023_x86_64_STANDARD"),
		// Stated, so a edw:kubernetesVersion bump upgrades the nodes too, after
		// the control plane (the group depends on the cluster).
		Version:       pulumi.String(args.KubernetesVersion),
		InstanceTypes: pulumi.StringArray{pulumi.String(args.SystemNodeSize)},
		ScalingConfig: &awseks.NodeGroupScalingConfigArgs{
			DesiredSize: pulumi.Int(args.SystemNodeCount), MinSize: pulumi.Int(args.SystemNodeCount), MaxSize: pulumi.Int(args.SystemNodeCount + 1),
		},
		Labels: pulumi.StringMap{SystemPoolLabel: pulumi.String("system")},
		// Only add-ons tolerate it (CoreDNS, Karpenter and KEDA do), so the
		// workload runs on the nodes Karpenter manages.
		Taints: awseks.NodeGroupTaintArray{awseks.NodeGroupTaintArgs{
			Key: pulumi.String(SystemTaintKey), Value: pulumi.String("true"), Effect: pulumi.String("NO_SCHEDULE"),
		}},
		Tags: args.Tags,
	}, pulumi.Parent(c), pulumi.DependsOn([]pulumi.Resource{cluster}), systemRole.DependsOnGrants())
	if err != nil {
		return nil, fmt.Errorf("system node group %s: %w", name, err)
	}
	if _, err := addons(ctx, name, args.KubernetesVersion, ready, ng, args.Tags, c); err != nil {
		return nil, err
	}
	c.NodeGroup = ng
	c.Name = ready
	c.OIDCProviderARN = oidc.Arn
	c.OIDCIssuer = issuer
	c.Kubeconfig = pulumi.ToSecret(cluster.KubeconfigJson).(pulumi.StringOutput)
	c.NodeRoleARN = systemRole.ARN
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{
		"name": c.Name, "oidcProviderArn": c.OIDCProviderARN, "oidcIssuer": c.OIDCIssuer,
		"kubeconfig": c.Kubeconfig, "systemNodeRoleArn": c.NodeRoleARN,
	})
}

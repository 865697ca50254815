// Package azure holds edw's Azure components: the AKS cluster and its node
// scaling, storage (queue, poison queue, table), Workload ID identities with their
// role assignments, and the container registry.
package azure

import (
	"encoding/base64"
	"fmt"

	csga "github.com/pulumi/pulumi-azure-native-sdk/containerservice/v2"
	cs "github.com/pulumi/pulumi-azure-native-sdk/containerservice/v2/v20240902preview"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Provisioning modes, as stack config names them.
const (
	ProvisioningAuto              = "auto"
	ProvisioningClusterAutoscaler = "cluster-autoscaler"
)

// The AKS API edw's cluster and pools are registered with. AKS retires each
// preview API about a year after its release, and a retired version stops
// working (2024-09-02-preview, which the containerservice SDK module served
// here is newest at, was retired on July 1, 2026). Node Auto Provisioning
// reached a GA API only in 2025-05-01, which azure-native v2, the provider edw
// is built against, does not carry; its newest API with nodeProvisioningProfile
// is 2024-10-02-preview. So the resources are registered by that version's type
// token, as the monitor resources are, with the served package's Go types (the
// properties edw sets have the same shape in both). The stacks tests hold these
// tokens against AKS's published deprecation table.
const (
	ClusterType   = "azure-native:containerservice/v20241002preview:ManagedCluster"
	AgentPoolType = "azure-native:containerservice/v20241002preview:AgentPool"
	// previousAPI is the version existing stacks were created with: an alias
	// from its token keeps their cluster and pools, instead of replacing them.
	previousAPI = "azure-native:containerservice/v20240902preview:"
)

// Spot nodes carry this label and taint; AKS adds both, and declaring them keeps
// previews free of phantom diffs.
const (
	SpotLabel = "kubernetes.azure.com/scalesetpriority"
	SpotValue = "spot"
)

// Cluster is the AKS cluster with OIDC issuer and Workload ID enabled.
type Cluster struct {
	pulumi.ResourceState
	Resource *cs.ManagedCluster
	// UserPools are the autoscaling pools of cluster-autoscaler mode.
	UserPools []*cs.AgentPool

	Name            pulumi.StringOutput `pulumi:"name"`
	OIDCIssuerURL   pulumi.StringOutput `pulumi:"oidcIssuerUrl"`
	KubeletObjectID pulumi.StringOutput `pulumi:"kubeletObjectId"`
	// Kubeconfig signs in through Entra ID (kubelogin with the Azure CLI's
	// login); what it may do is what Azure RBAC grants the signed-in identity.
	Kubeconfig pulumi.StringOutput `pulumi:"kubeconfig"`
}

// ClusterArgs are the cluster's settings from config.
type ClusterArgs struct {
	ResourceGroupName pulumi.StringInput
	Name              string
	KubernetesVersion string
	SystemNodeSize    string
	SystemNodeCount   int
	// Provisioning is ProvisioningAuto (Node Auto Provisioning) or
	// ProvisioningClusterAutoscaler.
	Provisioning  string
	CapacityTypes []string
	Architectures []string
	NodeCPULimit  int
	// ManagedPrometheus turns on the managed Prometheus add-on (its collection
	// is NewClusterTelemetry's).
	ManagedPrometheus bool
	// LogWorkspaceID, when set, turns on the Container Insights add-on with
	// managed identity authentication, writing to that workspace.
	LogWorkspaceID pulumi.StringInput
	Tags           pulumi.StringMap
}

// workloadVMSize is the user pool VM size per architecture in cluster-autoscaler mode.
var workloadVMSize = map[string]string{"amd64": "Standard_D2s_v5", "arm64": "Standard_D2ps_v5"}

// NewCluster creates the AKS cluster and, in cluster-autoscaler mode, its user pools.
func NewCluster(ctx *pulumi.Context, name string, args ClusterArgs, opts ...pulumi.ResourceOption) (*Cluster, error) {
	c := &Cluster{}
	if err := ctx.RegisterComponentResource("edw:azure:Cluster", name, c, opts...); err != nil {
		return nil, err
	}
	network := &cs.ContainerServiceNetworkProfileArgs{
		NetworkPlugin: pulumi.String("azure"),
		// Overlay keeps pod IPs out of the VNet; NAP requires it with Cilium.
		NetworkPluginMode: pulumi.String("overlay"),
		NetworkDataplane:  pulumi.String("cilium"),
		NetworkPolicy:     pulumi.String("cilium"),
		LoadBalancerSku:   pulumi.String("standard"),
		// The SDK's constructor used to fill these defaults in; registered by
		// token, edw states them, so existing clusters' inputs do not change.
		DnsServiceIP: pulumi.String("10.0.0.10"),
		OutboundType: pulumi.String("loadBalancer"),
		PodCidr:      pulumi.String("10.244.0.0/16"),
		ServiceCidr:  pulumi.String("10.0.0.0/16"),
	}
	clusterArgs := &cs.ManagedClusterArgs{
		ResourceGroupName: args.ResourceGroupName,
		ResourceName:      pulumi.String(args.Name),
		DnsPrefix:         pulumi.String(args.Name),
		KubernetesVersion: pulumi.String(args.KubernetesVersion),
		Identity:          &cs.ManagedClusterIdentityArgs{Type: cs.ResourceIdentityTypeSystemAssigned},
		Sku:               &cs.ManagedClusterSKUArgs{Name: pulumi.String("Base"), Tier: pulumi.String("Free")},
		EnableRBAC:        pulumi.Bool(true),
		// Entra ID with Azure RBAC for everyone, Pulumi included: no local
		// accounts, so no admin credential exists that a preview could need.
		AadProfile:           &cs.ManagedClusterAADProfileArgs{Managed: pulumi.Bool(true), EnableAzureRBAC: pulumi.Bool(true)},
		DisableLocalAccounts: pulumi.Bool(true),
		OidcIssuerProfile:    &cs.ManagedClusterOIDCIssuerProfileArgs{Enabled: pulumi.Bool(true)},
		SecurityProfile: &cs.ManagedClusterSecurityProfileArgs{
			WorkloadIdentity: &cs.ManagedClusterSecurityProfileWorkloadIdentityArgs{Enabled: pulumi.Bool(true)},
		},
		NetworkProfile: network,
		AgentPoolProfiles: cs.ManagedClusterAgentPoolProfileArray{
			&cs.ManagedClusterAgentPoolProfileArgs{
				Name:                pulumi.String("system"),
				Mode:                pulumi.String("System"),
				OrchestratorVersion: pulumi.String(args.KubernetesVersion),
				VmSize:              pulumi.String(args.SystemNodeSize),
				Count:               pulumi.Int(args.SystemNodeCount),
				OsType:              pulumi.String("Linux"),
				OsSKU:               pulumi.String("AzureLinux"),
				// Only add-ons tolerate this, so the workload lands on provisioned nodes.
				NodeTaints:        pulumi.StringArray{pulumi.String("CriticalAddonsOnly=true:NoSchedule")},
				EnableAutoScaling: pulumi.Bool(false),
				Type:              pulumi.String("VirtualMachineScaleSets"),
			},
		},
		Tags: args.Tags,
	}
	if args.ManagedPrometheus {
		clusterArgs.AzureMonitorProfile = &cs.ManagedClusterAzureMonitorProfileArgs{
			Metrics: &cs.ManagedClusterAzureMonitorProfileMetricsArgs{Enabled: pulumi.Bool(true)},
		}
	}
	if args.LogWorkspaceID != nil {
		clusterArgs.AddonProfiles = cs.ManagedClusterAddonProfileMap{
			"omsagent": &cs.ManagedClusterAddonProfileArgs{
				Enabled: pulumi.Bool(true),
				Config: pulumi.StringMap{
					"logAnalyticsWorkspaceResourceID": args.LogWorkspaceID,
					"useAADAuth":                      pulumi.String("true"),
				},
			},
		}
	}
	if args.Provisioning == ProvisioningAuto {
		clusterArgs.NodeProvisioningProfile = &cs.ManagedClusterNodeProvisioningProfileArgs{Mode: pulumi.String("Auto")}
	}
	cluster := &cs.ManagedCluster{}
	if err := ctx.RegisterResource(ClusterType, name, clusterArgs, cluster, pulumi.Parent(c), fromPreviousAPI("ManagedCluster")); err != nil {
		return nil, fmt.Errorf("aks cluster %s: %w", name, err)
	}
	c.Resource = cluster

	if args.Provisioning == ProvisioningClusterAutoscaler {
		if err := c.addUserPools(ctx, name, args); err != nil {
			return nil, err
		}
	}

	c.Name = cluster.Name
	c.OIDCIssuerURL = cluster.OidcIssuerProfile.IssuerURL().Elem()
	c.KubeletObjectID = cluster.IdentityProfile.MapIndex(pulumi.String("kubeletidentity")).ObjectId().Elem()
	// User credentials need only Azure Kubernetes Service Cluster User Role,
	// which CI previews have; admin credentials would need far more.
	// The GA API (2023-04-01 in azure-native v2) lists credentials: no
	// preview API, so nothing here retires with one.
	creds := csga.ListManagedClusterUserCredentialsOutput(ctx, csga.ListManagedClusterUserCredentialsOutputArgs{
		ResourceGroupName: args.ResourceGroupName,
		ResourceName:      cluster.Name,
		Format:            pulumi.String("exec"),
	}, pulumi.Parent(c))
	c.Kubeconfig = pulumi.ToSecret(creds.Kubeconfigs().Index(pulumi.Int(0)).Value().ApplyT(func(v string) (string, error) {
		raw, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return "", fmt.Errorf("decode kubeconfig of %s: %w", name, err)
		}
		return AzureCLILogin(string(raw))
	})).(pulumi.StringOutput)
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{
		"name": c.Name, "oidcIssuerUrl": c.OIDCIssuerURL, "kubeletObjectId": c.KubeletObjectID, "kubeconfig": c.Kubeconfig,
	})
}

// addUserPools adds one autoscaling pool per architecture and capacity type,
// splitting the CPU limit between them.
func (c *Cluster) addUserPools(ctx *pulumi.Context, name string, args ClusterArgs) error {
	pools := len(args.Architectures) * len(args.CapacityTypes)
	maxNodes := max(1, args.NodeCPULimit/2/pools) // 2 vCPU per node
	for _, arch := range args.Architectures {
		for _, capacity := range args.CapacityTypes {
			poolName := "od" + arch[:3] // AKS pool names: lower-case, at most 12 characters
			pool := &cs.AgentPoolArgs{
				ResourceGroupName: args.ResourceGroupName,
				ResourceName:      c.Resource.Name,
				Mode:              pulumi.String("User"),
				// Upgraded after the control plane: the pool depends on the cluster.
				OrchestratorVersion: pulumi.String(args.KubernetesVersion),
				VmSize:              pulumi.String(workloadVMSize[arch]),
				OsType:              pulumi.String("Linux"),
				OsSKU:               pulumi.String("AzureLinux"),
				EnableAutoScaling:   pulumi.Bool(true),
				MinCount:            pulumi.Int(0),
				MaxCount:            pulumi.Int(maxNodes),
				Count:               pulumi.Int(0),
				NodeLabels:          pulumi.StringMap{"edw.dev/capacity": pulumi.String(capacity)},
				Type:                pulumi.String("VirtualMachineScaleSets"),
				Tags:                args.Tags,
			}
			if capacity == "spot" {
				poolName = "spot" + arch[:3]
				pool.ScaleSetPriority = pulumi.String("Spot")
				pool.ScaleSetEvictionPolicy = pulumi.String("Delete")
				pool.SpotMaxPrice = pulumi.Float64(-1)
				pool.NodeLabels = pulumi.StringMap{"edw.dev/capacity": pulumi.String(capacity), SpotLabel: pulumi.String(SpotValue)}
				pool.NodeTaints = pulumi.StringArray{pulumi.String(SpotLabel + "=" + SpotValue + ":NoSchedule")}
			}
			pool.AgentPoolName = pulumi.String(poolName)
			ap := &cs.AgentPool{}
			if err := ctx.RegisterResource(AgentPoolType, name+"-"+poolName, pool, ap, pulumi.Parent(c), fromPreviousAPI("AgentPool"),
				// The autoscaler owns the count once the pool exists.
				pulumi.IgnoreChanges([]string{"count"})); err != nil {
				return fmt.Errorf("aks pool %s: %w", poolName, err)
			}
			c.UserPools = append(c.UserPools, ap)
		}
	}
	return nil
}

// fromPreviousAPI aliases a resource to its token in the API version edw used
// before, so moving to a newer API updates it in place.
func fromPreviousAPI(kind string) pulumi.ResourceOption {
	return pulumi.Aliases([]pulumi.Alias{{Type: pulumi.String(previousAPI + kind)}})
}

// Ready are the resources workloads must be created after and deleted before.
func (c *Cluster) Ready() []pulumi.Resource {
	out := []pulumi.Resource{c.Resource}
	for _, p := range c.UserPools {
		out = append(out, p)
	}
	return out
}

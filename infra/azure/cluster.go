// Package azure holds edw's Azure components: the AKS cluster and its node
// scaling, storage (queue, poison queue, table), Workload ID identities with their
// role assignments, and the container registry.
package azure

import (
	"encoding/base64"
	"fmt"

	cs "github.com/pulumi/pulumi-azure-native-sdk/containerservice/v2/v20240902preview"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Provisioning modes, as stack config names them.
const (
	ProvisioningAuto              = "auto"
	ProvisioningClusterAutoscaler = "cluster-autoscaler"
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
	cluster, err := cs.NewManagedCluster(ctx, name, clusterArgs, pulumi.Parent(c))
	if err != nil {
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
	creds := cs.ListManagedClusterUserCredentialsOutput(ctx, cs.ListManagedClusterUserCredentialsOutputArgs{
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
			ap, err := cs.NewAgentPool(ctx, name+"-"+poolName, pool, pulumi.Parent(c),
				// The autoscaler owns the count once the pool exists.
				pulumi.IgnoreChanges([]string{"count"}))
			if err != nil {
				return fmt.Errorf("aks pool %s: %w", poolName, err)
			}
			c.UserPools = append(c.UserPools, ap)
		}
	}
	return nil
}

// Ready are the resources workloads must be created after and deleted before.
func (c *Cluster) Ready() []pulumi.Resource {
	out := []pulumi.Resource{c.Resource}
	for _, p := range c.UserPools {
		out = append(out, p)
	}
	return out
}

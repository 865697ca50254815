package azure

import (
	"fmt"

	"github.com/pulumi/pulumi-azure-native-sdk/authorization/v2"
	cs "github.com/pulumi/pulumi-azure-native-sdk/containerservice/v2/v20240902preview"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// ClusterAccess are the Azure RBAC grants that let people and pipelines reach
// the cluster, which has no local accounts.
type ClusterAccess struct {
	pulumi.ResourceState
	// Admins are the grants of the identities that deploy; the Kubernetes
	// provider depends on them.
	Admins []pulumi.Resource
}

// ClusterAccessArgs name who may do what.
type ClusterAccessArgs struct {
	Cluster        *cs.ManagedCluster
	SubscriptionID pulumi.StringInput
	// Admins are Entra object ids that may change anything in the cluster. When
	// empty, the identity running the first `pulumi up` (Deployer) is the admin.
	Admins   []string
	Deployer pulumi.StringInput
	// Readers are Entra object ids that may fetch a kubeconfig (Cluster User
	// Role); what they may read inside is Kubernetes RBAC's (kube.Readers).
	Readers []string
}

// NewClusterAccess assigns Azure Kubernetes Service RBAC Cluster Admin to the
// admins and Cluster User Role to the readers, on the cluster only.
func NewClusterAccess(ctx *pulumi.Context, name string, args ClusterAccessArgs, opts ...pulumi.ResourceOption) (*ClusterAccess, error) {
	a := &ClusterAccess{}
	if err := ctx.RegisterComponentResource("edw:azure:ClusterAccess", name, a, opts...); err != nil {
		return nil, err
	}
	scope := args.Cluster.ID().ToStringOutput()
	assign := func(logical, role string, principal pulumi.StringInput, extra ...pulumi.ResourceOption) (pulumi.Resource, error) {
		ra, err := authorization.NewRoleAssignment(ctx, logical, &authorization.RoleAssignmentArgs{
			PrincipalId: principal, RoleDefinitionId: RoleDefinitionID(args.SubscriptionID, role), Scope: scope,
		}, append([]pulumi.ResourceOption{pulumi.Parent(a)}, extra...)...)
		if err != nil {
			return nil, fmt.Errorf("cluster access %s: %w", logical, err)
		}
		return ra, nil
	}
	if len(args.Admins) == 0 {
		// Whoever previews later (CI) is another identity: ignoring the
		// principal keeps their previews free of a phantom change.
		ra, err := assign(name+"-deployer", RoleAKSRBACClusterAdmin, args.Deployer, pulumi.IgnoreChanges([]string{"principalId"}))
		if err != nil {
			return nil, err
		}
		a.Admins = append(a.Admins, ra)
	}
	for i, id := range args.Admins {
		ra, err := assign(fmt.Sprintf("%s-admin-%d", name, i), RoleAKSRBACClusterAdmin, pulumi.String(id))
		if err != nil {
			return nil, err
		}
		a.Admins = append(a.Admins, ra)
	}
	for i, id := range args.Readers {
		if _, err := assign(fmt.Sprintf("%s-reader-%d", name, i), RoleAKSClusterUser, pulumi.String(id)); err != nil {
			return nil, err
		}
	}
	return a, ctx.RegisterResourceOutputs(a, pulumi.Map{})
}

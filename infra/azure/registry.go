package azure

import (
	"fmt"

	"github.com/pulumi/pulumi-azure-native-sdk/authorization/v2"
	"github.com/pulumi/pulumi-azure-native-sdk/containerregistry/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Registry is the container registry the images are pushed to; the cluster's
// kubelet identity may pull from it, nothing else is granted.
type Registry struct {
	pulumi.ResourceState
	// Pull is the kubelet's AcrPull grant: workloads that pull images from the
	// registry depend on it, so destroy removes them first.
	Pull        pulumi.Resource
	Name        pulumi.StringOutput `pulumi:"name"`
	LoginServer pulumi.StringOutput `pulumi:"loginServer"`
	Producer    pulumi.StringOutput `pulumi:"producerRepository"`
	Consumer    pulumi.StringOutput `pulumi:"consumerRepository"`
}

// RegistryArgs configure the registry.
type RegistryArgs struct {
	ResourceGroupName pulumi.StringInput
	SubscriptionID    pulumi.StringInput
	// KubeletObjectID is the principal that pulls images for the nodes.
	KubeletObjectID pulumi.StringInput
	Tags            pulumi.StringMap
}

// NewRegistry creates an ACR with the admin user disabled and AcrPull for the kubelet.
func NewRegistry(ctx *pulumi.Context, name string, args RegistryArgs, opts ...pulumi.ResourceOption) (*Registry, error) {
	r := &Registry{}
	if err := ctx.RegisterComponentResource("edw:azure:Registry", name, r, opts...); err != nil {
		return nil, err
	}
	acr, err := containerregistry.NewRegistry(ctx, name, &containerregistry.RegistryArgs{
		ResourceGroupName: args.ResourceGroupName,
		Sku:               &containerregistry.SkuArgs{Name: pulumi.String("Basic")},
		AdminUserEnabled:  pulumi.Bool(false),
		Tags:              args.Tags,
	}, pulumi.Parent(r))
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", name, err)
	}
	pull, err := authorization.NewRoleAssignment(ctx, name+"-kubelet-pull", &authorization.RoleAssignmentArgs{
		PrincipalId:      args.KubeletObjectID,
		PrincipalType:    pulumi.String("ServicePrincipal"),
		RoleDefinitionId: RoleDefinitionID(args.SubscriptionID, RoleAcrPull),
		Scope:            acr.ID().ToStringOutput(),
	}, pulumi.Parent(r))
	if err != nil {
		return nil, fmt.Errorf("acr pull for kubelet: %w", err)
	}
	r.Pull = pull
	r.Name = acr.Name
	r.LoginServer = acr.LoginServer
	r.Producer = pulumi.Sprintf("%s/edw/producer", acr.LoginServer)
	r.Consumer = pulumi.Sprintf("%s/edw/consumer", acr.LoginServer)
	return r, ctx.RegisterResourceOutputs(r, pulumi.Map{
		"name": r.Name, "loginServer": r.LoginServer, "producerRepository": r.Producer, "consumerRepository": r.Consumer,
	})
}

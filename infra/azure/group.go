package azure

import (
	"fmt"

	"github.com/pulumi/pulumi-azure-native-sdk/resources/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Group is the stack's resource group. What is scoped to the group and to
// nothing narrower, the custom role definitions assignable only in it, are
// its children too (see Children), so every resource has an edw parent.
type Group struct {
	pulumi.ResourceState
	Resource *resources.ResourceGroup

	Name pulumi.StringOutput `pulumi:"name"`
	ID   pulumi.StringOutput `pulumi:"id"`
}

// GroupArgs name the group and say whether it outlives the stack.
type GroupArgs struct {
	Name string
	// Retain keeps the group on destroy and Protect has Pulumi refuse to
	// delete it: deleting a group deletes everything in it, so retained or
	// protected data needs a retained or protected group.
	Retain, Protect bool
	// Adopt, when set, imports the group a destroy with retained data left
	// behind, instead of failing to create a group that exists.
	Adopt *Adoption
	Tags  pulumi.StringMap
}

// movedFromRoot is the alias of a resource edw used to create at the stack's
// root: existing stacks keep it when it moves under a component.
var movedFromRoot = pulumi.Aliases([]pulumi.Alias{{NoParent: pulumi.Bool(true)}})

// NewGroup creates (or adopts) the resource group.
func NewGroup(ctx *pulumi.Context, name string, args GroupArgs, opts ...pulumi.ResourceOption) (*Group, error) {
	g := &Group{}
	if err := ctx.RegisterComponentResource("edw:azure:Group", name, g, opts...); err != nil {
		return nil, err
	}
	rgOpts := []pulumi.ResourceOption{pulumi.Parent(g), movedFromRoot, DataOptions(args.Retain, args.Protect)}
	if args.Adopt != nil {
		rgOpts = append(rgOpts, pulumi.Import(args.Adopt.GroupID()))
	}
	rg, err := resources.NewResourceGroup(ctx, name, &resources.ResourceGroupArgs{
		ResourceGroupName: pulumi.String(args.Name),
		Tags:              args.Tags,
	}, rgOpts...)
	if err != nil {
		return nil, fmt.Errorf("resource group %s: %w", args.Name, err)
	}
	g.Resource = rg
	g.Name = rg.Name
	g.ID = rg.ID().ToStringOutput()
	return g, ctx.RegisterResourceOutputs(g, pulumi.Map{"name": g.Name, "id": g.ID})
}

// Children are the options for a resource scoped to the group: parented to
// it, and aliased to where edw created such resources before, the root.
func (g *Group) Children() []pulumi.ResourceOption {
	return []pulumi.ResourceOption{pulumi.Parent(g), movedFromRoot}
}

package pulumitest_test

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/internal/pulumitest"
)

type thing struct {
	pulumi.CustomResourceState
	Value pulumi.StringOutput `pulumi:"value"`
	Size  pulumi.IntOutput    `pulumi:"size"`
}

type group struct{ pulumi.ResourceState }

// program registers a small graph with every relationship the kit records.
func program(ctx *pulumi.Context) error {
	value := config.New(ctx, "edw").Require("value")
	g := &group{}
	if err := ctx.RegisterComponentResource("edw:test:Group", "g", g); err != nil {
		return err
	}
	a := &thing{}
	if err := ctx.RegisterResource("test:index:Thing", "a", pulumi.Map{
		"value": pulumi.String(value),
		"spec":  pulumi.Map{"items": pulumi.Array{pulumi.String("x"), pulumi.String("y")}},
	}, a, pulumi.Parent(g), pulumi.IgnoreChanges([]string{"spec"}), pulumi.RetainOnDelete(true)); err != nil {
		return err
	}
	b := &thing{}
	if err := ctx.RegisterResource("test:index:Thing", "b", pulumi.Map{
		"value": a.Value,
	}, b, pulumi.DeleteBeforeReplace(true)); err != nil {
		return err
	}
	// The SDK expands a dependency on a component into the children it knows
	// of when the dependent registers, and learns of a child asynchronously;
	// waiting for a's URN makes the expansion include a on every run.
	registered := make(chan struct{})
	a.URN().ApplyT(func(pulumi.URN) error { close(registered); return nil })
	<-registered
	c := &thing{}
	if err := ctx.RegisterResource("test:index:Thing", "c", pulumi.Map{"value": pulumi.String("c")}, c,
		pulumi.DependsOn([]pulumi.Resource{g})); err != nil {
		return err
	}
	return ctx.RegisterResourceOutputs(g, pulumi.Map{})
}

func TestRecordsTheGraph(t *testing.T) {
	g := pulumitest.Run(t, program,
		pulumitest.Stack("dev"),
		pulumitest.Config(map[string]string{"edw:value": "hello"}),
		pulumitest.FakeResource("test:index:Thing", func(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
			out := args.Inputs.Copy()
			out["size"] = resource.NewNumberProperty(7)
			return "id-" + args.Name, out, nil
		}))

	require.Len(t, g.Resources, 4)
	grp := g.One(t, "edw:test:Group", "g")
	a := g.One(t, "test:index:Thing", "a")
	b := g.One(t, "test:index:Thing", "b")
	c := g.One(t, "test:index:Thing", "c")

	assert.Equal(t, "urn:pulumi:dev::edw::edw:test:Group$test:index:Thing::a", a.URN)
	assert.Equal(t, grp.URN, a.Parent)
	assert.Equal(t, []*pulumitest.Resource{a}, g.ChildrenOf(grp))
	assert.Same(t, grp, g.ParentOf(a))
	assert.Equal(t, "id-a", a.ID)
	assert.Empty(t, grp.ID, "components have no id")
	assert.False(t, grp.Custom)

	assert.Equal(t, "hello", a.Str(t, "value"), "config reaches the program")
	assert.Equal(t, "y", a.Str(t, "spec.items.1"))
	items, ok := a.Plain("spec.items")
	require.True(t, ok)
	assert.Equal(t, []any{"x", "y"}, items)
	_, ok = a.Input("spec.missing")
	assert.False(t, ok)
	assert.Equal(t, float64(7), a.State["size"].NumberValue(), "the faker's outputs are recorded as state")

	assert.Equal(t, []string{"spec"}, a.IgnoreChanges)
	assert.True(t, a.RetainOnDelete)
	assert.False(t, b.RetainOnDelete)
	assert.True(t, b.DeleteBeforeReplace)

	assert.True(t, g.DependsOnDirectly(b, a), "b's input comes from a's output")
	assert.True(t, g.DependsOn(b, a))
	assert.False(t, g.DependsOn(a, b))
	assert.True(t, g.DependsOn(c, grp), "c depends on the group")
	assert.True(t, g.DependsOn(c, a), "depending on a component orders after its children")
	assert.False(t, g.DependsOn(b, c))
}

func TestUnfakedInvokeFailsTheRun(t *testing.T) {
	_, err := pulumitest.RunErr(func(ctx *pulumi.Context) error {
		var out struct {
			Names []string `pulumi:"names"`
		}
		return ctx.Invoke("aws:index/getAvailabilityZones:getAvailabilityZones", nil, &out)
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no fake for invoke aws:index/getAvailabilityZones:getAvailabilityZones")
}

func TestFakedInvokeIsAnsweredAndRecorded(t *testing.T) {
	var got []string
	g := pulumitest.Run(t, func(ctx *pulumi.Context) error {
		var out struct {
			Names []string `pulumi:"names"`
		}
		err := ctx.Invoke("aws:index/getAvailabilityZones:getAvailabilityZones", map[string]any{"state": "available"}, &out)
		got = out.Names
		return err
	}, pulumitest.FakeInvoke("aws:index/getAvailabilityZones:getAvailabilityZones",
		func(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
			return resource.NewPropertyMapFromMap(map[string]any{"names": []any{"az-a", "az-b"}}), nil
		}))
	assert.Equal(t, []string{"az-a", "az-b"}, got)
	calls := g.Invoked("aws:index/getAvailabilityZones:getAvailabilityZones")
	require.Len(t, calls, 1)
	assert.Equal(t, "available", calls[0].Args["state"].StringValue())
}

type remote struct {
	pulumi.ResourceState
	Kubeconfig pulumi.StringOutput `pulumi:"kubeconfig"`
}

func TestRemoteComponentsAreMarkedAndFaked(t *testing.T) {
	var kubeconfig string
	g := pulumitest.Run(t, func(ctx *pulumi.Context) error {
		r := &remote{}
		if err := ctx.RegisterRemoteComponentResource("eks:index:Cluster", "c", pulumi.Map{}, r); err != nil {
			return err
		}
		r.Kubeconfig.ApplyT(func(s string) string { kubeconfig = s; return s })
		return nil
	}, pulumitest.FakeResource("eks:index:Cluster", func(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
		return "c", resource.PropertyMap{"kubeconfig": resource.NewStringProperty("{}")}, nil
	}))
	c := g.One(t, "eks:index:Cluster", "c")
	assert.True(t, c.Remote)
	assert.Equal(t, "{}", kubeconfig)
}

func TestInputPathsEscapeDots(t *testing.T) {
	g := pulumitest.Run(t, func(ctx *pulumi.Context) error {
		return ctx.RegisterResource("test:index:Thing", "a", pulumi.Map{
			"metadata": pulumi.Map{"annotations": pulumi.Map{"eks.amazonaws.com/role-arn": pulumi.String("arn")}},
		}, &thing{})
	})
	a := g.One(t, "test:index:Thing", "a")
	assert.Equal(t, "arn", a.Str(t, `metadata.annotations.eks\.amazonaws\.com/role-arn`))
	_, ok := a.Input("metadata.annotations.eks.amazonaws.com/role-arn")
	assert.False(t, ok, "unescaped dots split the key")
}

// TestAliasesResolveToTheURNsTheyName: a moved or renamed resource keeps its
// old URN through an alias, and the kit resolves each alias form to that URN
// as the engine does, so URN pins can accept a move made with an alias.
func TestAliasesResolveToTheURNsTheyName(t *testing.T) {
	g := pulumitest.Run(t, func(ctx *pulumi.Context) error {
		grp := &group{}
		if err := ctx.RegisterComponentResource("edw:test:Group", "g", grp); err != nil {
			return err
		}
		return ctx.RegisterResource("test:index:Thing", "new", pulumi.Map{}, &thing{}, pulumi.Parent(grp),
			pulumi.Aliases([]pulumi.Alias{
				{Name: pulumi.String("renamed")},
				{NoParent: pulumi.Bool(true)},
				{Name: pulumi.String("elsewhere"), ParentURN: pulumi.URN("urn:pulumi:dev::edw::edw:test:Other::o")},
				{URN: pulumi.URN("urn:pulumi:dev::edw::test:index:Thing::literal")},
			}))
	}, pulumitest.Stack("dev"))
	r := g.One(t, "test:index:Thing", "new")
	assert.Equal(t, "urn:pulumi:dev::edw::edw:test:Group$test:index:Thing::new", r.URN)
	assert.ElementsMatch(t, []string{
		"urn:pulumi:dev::edw::edw:test:Group$test:index:Thing::renamed",
		"urn:pulumi:dev::edw::test:index:Thing::new",
		"urn:pulumi:dev::edw::edw:test:Other$test:index:Thing::elsewhere",
		"urn:pulumi:dev::edw::test:index:Thing::literal",
	}, r.AliasURNs)
}

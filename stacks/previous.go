package stacks

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// lastUpdate reads the stack's own outputs as its last update left them: a
// stack reference to itself, the pattern a Pulumi maintainer gives in
// pulumi/pulumi#3722. A new stack has none. A preview reads them as well, so
// a change the cloud cannot make fails there, before anything is planned.
func lastUpdate(ctx *pulumi.Context) (*pulumi.StackReference, error) {
	self := fmt.Sprintf("%s/%s/%s", ctx.Organization(), ctx.Project(), ctx.Stack())
	history := &lastUpdateComponent{}
	if err := ctx.RegisterComponentResource("edw:stack:LastUpdate", "edw", history); err != nil {
		return nil, err
	}
	ref, err := pulumi.NewStackReference(ctx, "edw-last-update", &pulumi.StackReferenceArgs{Name: pulumi.String(self)},
		pulumi.Parent(history))
	if err != nil {
		return nil, fmt.Errorf("reading the last update of %s: %w", self, err)
	}
	if err := ctx.RegisterResourceOutputs(history, pulumi.Map{}); err != nil {
		return nil, err
	}
	return ref, nil
}

// lastUpdateComponent holds the stack's read of itself, as every resource
// edw registers sits under an edw component.
type lastUpdateComponent struct {
	pulumi.ResourceState
}

// previousString is the output name of the last update, "" when there was
// none (a new stack, or one from before edw exported it).
func previousString(ref *pulumi.StackReference, name string) (string, error) {
	d, err := ref.GetOutputDetails(name)
	if err != nil {
		return "", fmt.Errorf("output %s of the last update: %w", name, err)
	}
	if d == nil {
		return "", nil
	}
	v := d.Value
	if v == nil {
		v = d.SecretValue
	}
	s, _ := v.(string)
	return s, nil
}

// refuseProvisioningSwitch fails when edw:nodeProvisioning differs from the
// mode the stack's cluster runs with. AKS can switch an existing cluster,
// but not in one update: to auto, the autoscaling pools NAP forbids are
// deleted only after the cluster changes; to cluster-autoscaler, NAP's nodes
// still run when it does (docs/day-two.md).
func refuseProvisioningSwitch(cfg *Config, previous string) error {
	if previous == "" || previous == string(cfg.NodeProvisioning) {
		return nil
	}
	return &ConfigError{Key: "edw:nodeProvisioning", Value: string(cfg.NodeProvisioning),
		Allowed: fmt.Sprintf("the stack's cluster runs with %q and AKS cannot switch modes in one update; keep %q, or re-create the cluster as docs/day-two.md (Switching node provisioning) says",
			previous, previous)}
}

// refuseCloudSwitch fails when edw:cloud differs from the cloud the stack
// deployed to: the plan would delete every resource on one cloud and create
// the other's, data included. A stack deploys to one cloud for its life.
func refuseCloudSwitch(cfg *Config, previous string) error {
	if previous == "" || previous == string(cfg.Cloud) {
		return nil
	}
	return &ConfigError{Key: "edw:cloud", Value: string(cfg.Cloud),
		Allowed: fmt.Sprintf("the stack is deployed on %s; a stack keeps its cloud: create another stack (pulumi stack init) for %s", previous, cfg.Cloud)}
}

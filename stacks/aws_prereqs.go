package stacks

import (
	"fmt"
	"slices"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// SpotRoleCommand creates the EC2 Spot service-linked role, once per account.
const SpotRoleCommand = "aws iam create-service-linked-role --aws-service-name spot.amazonaws.com"

// spotRolePath is where IAM keeps the EC2 Spot service-linked role
// (AWSServiceRoleForEC2Spot).
const spotRolePath = "/aws-service-role/spot.amazonaws.com/"

// checkSpotRole fails the preview when spot capacity is allowed and the
// account has no EC2 Spot service-linked role. Without it Karpenter's spot
// launches fail with AuthFailure.ServiceLinkedRoleCreationNotPermitted (its
// node role may not create the role) and it silently launches on-demand only.
//
// Checked, not created: the role is one per account and shared by every
// stack in it; iam.ServiceLinkedRole fails when it exists, and a stack that
// created it when missing would delete it on destroy (or on the next `up`,
// once the lookup finds it) from under every other stack in the account.
func checkSpotRole(ctx *pulumi.Context, cfg *Config, opts ...pulumi.InvokeOption) error {
	if !slices.Contains(cfg.CapacityTypes, "spot") {
		return nil
	}
	roles, err := iam.GetRoles(ctx, &iam.GetRolesArgs{PathPrefix: pulumi.StringRef(spotRolePath)}, opts...)
	if err != nil {
		return fmt.Errorf("look up the EC2 Spot service-linked role: %w", err)
	}
	if len(roles.Names) == 0 {
		return fmt.Errorf("edw:capacityTypes allows spot, but the account has no EC2 Spot service-linked role, so Karpenter would launch on-demand only: run `%s` once in this account, or set edw:capacityTypes to [\"on-demand\"]", SpotRoleCommand)
	}
	return nil
}

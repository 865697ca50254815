package aws

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// GrantedRole is an IAM role handed on together with its grants (inline
// policies, managed-policy attachments). ARN and Name resolve only once every
// grant exists, so whatever is built from them is created after the grants and,
// on destroy, deleted before them: no user of the role ever runs without its
// permissions.
type GrantedRole struct {
	Role   *iam.Role
	Grants []pulumi.Resource
	ARN    pulumi.StringOutput
	Name   pulumi.StringOutput
}

// newGrantedRole waits for grants before exposing the role's ARN and name.
func newGrantedRole(role *iam.Role, grants []pulumi.Resource) *GrantedRole {
	after := func(v pulumi.StringOutput) pulumi.StringOutput {
		inputs := []any{v}
		for _, g := range grants {
			if cr, ok := g.(pulumi.CustomResource); ok {
				inputs = append(inputs, cr.ID())
			}
		}
		return pulumi.All(inputs...).ApplyT(func(all []any) string { return all[0].(string) }).(pulumi.StringOutput)
	}
	return &GrantedRole{Role: role, Grants: grants, ARN: after(role.Arn), Name: after(role.Name)}
}

// DependsOnGrants is the option a user of the role adds when it takes the role
// as a resource reference rather than through ARN or Name.
func (r *GrantedRole) DependsOnGrants() pulumi.ResourceOption {
	return pulumi.DependsOn(append([]pulumi.Resource{r.Role}, r.Grants...))
}

// NodeRole creates a role EC2 nodes assume, with the managed policies a node
// needs to join the cluster, run the VPC CNI and pull images.
func NodeRole(ctx *pulumi.Context, name string, acct Account, tags pulumi.StringMap, parent pulumi.Resource) (*GrantedRole, error) {
	trust, err := Document(Statement{
		Principal: map[string]any{"Service": acct.ServicePrincipal("ec2")}, Action: []string{"sts:AssumeRole"},
	})
	if err != nil {
		return nil, err
	}
	role, err := iam.NewRole(ctx, name, &iam.RoleArgs{AssumeRolePolicy: pulumi.String(trust), Tags: tags}, pulumi.Parent(parent))
	if err != nil {
		return nil, fmt.Errorf("node role %s: %w", name, err)
	}
	var grants []pulumi.Resource
	for _, p := range NodeManagedPolicies() {
		a, err := iam.NewRolePolicyAttachment(ctx, name+"-"+p, &iam.RolePolicyAttachmentArgs{
			Role: role.Name, PolicyArn: pulumi.Sprintf("arn:%s:iam::aws:policy/%s", acct.Partition, p),
		}, pulumi.Parent(parent))
		if err != nil {
			return nil, fmt.Errorf("attach %s to %s: %w", p, name, err)
		}
		grants = append(grants, a)
	}
	return newGrantedRole(role, grants), nil
}

// NodeManagedPolicies are what Karpenter v1.12's own setup attaches to node
// roles; ECR pull-only is narrower than the older read-only policy.
func NodeManagedPolicies() []string {
	return []string{"AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryPullOnly", "AmazonSSMManagedInstanceCore"}
}

package aws

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// STSAudience is the audience IRSA tokens carry.
const STSAudience = "sts.amazonaws.com"

// ServiceAccountRole is an IAM role that exactly one Kubernetes service account
// may assume through the cluster's OIDC provider, with one inline policy.
type ServiceAccountRole struct {
	pulumi.ResourceState
	*GrantedRole
}

// ServiceAccountRoleArgs name the account and what it may do.
type ServiceAccountRoleArgs struct {
	// Subject is system:serviceaccount:<namespace>:<name>.
	Subject         string
	OIDCProviderARN pulumi.StringInput
	// OIDCIssuer is the issuer URL (https://oidc.eks.<region>.amazonaws.com/id/…).
	OIDCIssuer pulumi.StringInput
	// Policy is the inline policy document.
	Policy pulumi.StringInput
	Tags   pulumi.StringMap
}

// TrustPolicy lets only subject, with audience sts.amazonaws.com, assume the role.
func TrustPolicy(providerARN, issuer pulumi.StringInput, subject string) pulumi.StringOutput {
	return DocumentOf([]pulumi.StringInput{providerARN, issuer}, func(v []string) []Statement {
		host := strings.TrimPrefix(v[1], "https://")
		return []Statement{{
			Principal: map[string]any{"Federated": v[0]},
			Action:    []string{"sts:AssumeRoleWithWebIdentity"},
			Condition: map[string]any{"StringEquals": map[string]string{host + ":sub": subject, host + ":aud": STSAudience}},
		}}
	})
}

// NewServiceAccountRole creates the role and its inline policy.
func NewServiceAccountRole(ctx *pulumi.Context, name string, args ServiceAccountRoleArgs, opts ...pulumi.ResourceOption) (*ServiceAccountRole, error) {
	r := &ServiceAccountRole{}
	if err := ctx.RegisterComponentResource("edw:aws:ServiceAccountRole", name, r, opts...); err != nil {
		return nil, err
	}
	role, err := iam.NewRole(ctx, name, &iam.RoleArgs{
		AssumeRolePolicy: TrustPolicy(args.OIDCProviderARN, args.OIDCIssuer, args.Subject),
		Description:      pulumi.String("IRSA role for " + args.Subject),
		Tags:             args.Tags,
	}, pulumi.Parent(r))
	if err != nil {
		return nil, fmt.Errorf("role for %s: %w", args.Subject, err)
	}
	policy, err := iam.NewRolePolicy(ctx, name, &iam.RolePolicyArgs{Role: role.Name, Policy: args.Policy}, pulumi.Parent(r))
	if err != nil {
		return nil, fmt.Errorf("policy for %s: %w", args.Subject, err)
	}
	// The annotation that hands the role to a pod is built from ARN, which
	// resolves only after the policy exists.
	r.GrantedRole = newGrantedRole(role, []pulumi.Resource{policy})
	return r, ctx.RegisterResourceOutputs(r, pulumi.Map{"arn": r.ARN})
}

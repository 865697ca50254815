package azure

import (
	"fmt"
	"strconv"

	"github.com/pulumi/pulumi-azure-native-sdk/authorization/v2"
	"github.com/pulumi/pulumi-azure-native-sdk/managedidentity/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Built-in role definition ids (the same in every tenant).
const (
	RoleQueueDataMessageSender = "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a"
	RoleAcrPull                = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
	RoleAKSClusterUser         = "4abbcc35-e782-43d8-92c5-2d3f1bd2253f"
	RoleAKSRBACClusterAdmin    = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"
)

// WorkloadIDAudience is the audience Entra expects in federated tokens.
const WorkloadIDAudience = "api://AzureADTokenExchange"

// Grant is one role on one scope: a built-in role by id, or a custom role
// where no built-in one is narrow enough.
type Grant struct {
	Role   string
	Custom *authorization.RoleDefinition
	Scope  pulumi.StringInput
	// Name, when set, ends the role assignment's logical name instead of its
	// index, so grants added or removed with a route rename no other grant.
	Name string
}

func (g Grant) definitionID(subscription pulumi.StringInput) pulumi.StringOutput {
	if g.Custom != nil {
		return g.Custom.ID().ToStringOutput()
	}
	return RoleDefinitionID(subscription, g.Role)
}

// Account is a Kubernetes service account that gets a federated identity.
type Account struct {
	// Name is short and stable ("consumer"); it names the Azure resources.
	Name string
	// Subject is system:serviceaccount:<namespace>:<name>.
	Subject string
	Grants  []Grant
}

// Identity is one user-assigned identity trusted for one service account.
type Identity struct {
	Resource *managedidentity.UserAssignedIdentity
	// Grants are its federated credential and role assignments.
	Grants []pulumi.Resource
	// ClientID resolves only once every grant exists: the pods and releases
	// that use the identity are built from it, so they are created after their
	// grants and deleted before them.
	ClientID    pulumi.StringOutput
	PrincipalID pulumi.StringOutput
}

// Identities are the workload identities, their federated credentials and roles.
type Identities struct {
	pulumi.ResourceState
	ByAccount map[string]*Identity
}

// IdentitiesArgs say which accounts to trust on which issuer.
type IdentitiesArgs struct {
	ResourceGroupName pulumi.StringInput
	Issuer            pulumi.StringInput
	SubscriptionID    pulumi.StringInput
	Accounts          []Account
	Tags              pulumi.StringMap
}

// RoleDefinitionID is the full id of a built-in role in the subscription.
func RoleDefinitionID(subscription pulumi.StringInput, role string) pulumi.StringOutput {
	return pulumi.Sprintf("/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/%s", subscription, role)
}

// NewIdentities creates one identity per account with exactly one federated
// credential for its subject, and its role assignments.
func NewIdentities(ctx *pulumi.Context, name string, args IdentitiesArgs, opts ...pulumi.ResourceOption) (*Identities, error) {
	ids := &Identities{ByAccount: map[string]*Identity{}}
	if err := ctx.RegisterComponentResource("edw:azure:Identities", name, ids, opts...); err != nil {
		return nil, err
	}
	// Azure answers 409 to concurrent federated credential writes, so each one
	// waits for the previous.
	var previous []pulumi.Resource
	for _, acct := range args.Accounts {
		logical := name + "-" + acct.Name
		uai, err := managedidentity.NewUserAssignedIdentity(ctx, logical, &managedidentity.UserAssignedIdentityArgs{
			ResourceGroupName: args.ResourceGroupName,
			Tags:              args.Tags,
		}, pulumi.Parent(ids))
		if err != nil {
			return nil, fmt.Errorf("identity %s: %w", acct.Name, err)
		}
		fic, err := managedidentity.NewFederatedIdentityCredential(ctx, logical, &managedidentity.FederatedIdentityCredentialArgs{
			ResourceGroupName: args.ResourceGroupName,
			ResourceName:      uai.Name,
			Issuer:            args.Issuer,
			Subject:           pulumi.String(acct.Subject),
			Audiences:         pulumi.StringArray{pulumi.String(WorkloadIDAudience)},
		}, pulumi.Parent(ids), pulumi.DependsOn(previous))
		if err != nil {
			return nil, fmt.Errorf("federated credential %s: %w", acct.Subject, err)
		}
		previous = []pulumi.Resource{fic}
		grants := []pulumi.Resource{fic}
		after := []any{uai.ClientId, fic.ID()}
		for i, g := range acct.Grants {
			suffix := strconv.Itoa(i)
			if g.Name != "" {
				suffix = g.Name
			}
			ra, err := authorization.NewRoleAssignment(ctx, logical+"-"+suffix, &authorization.RoleAssignmentArgs{
				PrincipalId:      uai.PrincipalId,
				PrincipalType:    pulumi.String("ServicePrincipal"),
				RoleDefinitionId: g.definitionID(args.SubscriptionID),
				Scope:            g.Scope,
			}, pulumi.Parent(ids))
			if err != nil {
				return nil, fmt.Errorf("role %s for %s: %w", g.Role, acct.Name, err)
			}
			grants = append(grants, ra)
			after = append(after, ra.ID())
		}
		clientID := pulumi.All(after...).ApplyT(func(v []any) string { return v[0].(string) }).(pulumi.StringOutput)
		ids.ByAccount[acct.Name] = &Identity{Resource: uai, Grants: grants, ClientID: clientID, PrincipalID: uai.PrincipalId}
	}
	out := pulumi.Map{}
	for n, id := range ids.ByAccount {
		out[n+"ClientId"] = id.ClientID
	}
	return ids, ctx.RegisterResourceOutputs(ids, out)
}

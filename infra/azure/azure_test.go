package azure

import (
	"encoding/base64"
	"errors"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/edw-dev/edw/internal/pulumitest"
)

const (
	ficType  = "azure-native:managedidentity:FederatedIdentityCredential"
	roleType = "azure-native:authorization:RoleAssignment"
)

func TestIdentitiesChainCredentialsAndScopeRoles(t *testing.T) {
	accounts := []Account{
		{Name: "a", Subject: "system:serviceaccount:ns:a", Grants: []Grant{{Role: RoleAcrPull, Scope: pulumi.String("/q")}}},
		{Name: "b", Subject: "system:serviceaccount:ns:b"},
		{Name: "c", Subject: "system:serviceaccount:ns:c", Grants: []Grant{
			{Role: RoleQueueDataMessageSender, Scope: pulumi.String("/p")}, {Role: RoleAKSClusterUser, Scope: pulumi.String("/t")},
		}},
	}
	g := pulumitest.Run(t, func(ctx *pulumi.Context) error {
		_, err := NewIdentities(ctx, "ids", IdentitiesArgs{
			ResourceGroupName: pulumi.String("rg"), Issuer: pulumi.String("https://issuer/"),
			SubscriptionID: pulumi.String("sub-x"), Accounts: accounts,
		})
		return err
	}, pulumitest.FakeResource("azure-native:managedidentity:UserAssignedIdentity", func(a pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
		out := a.Inputs.Copy()
		out["name"] = resource.NewStringProperty(a.Name)
		out["principalId"] = resource.NewStringProperty(a.Name + "-principal")
		return a.Name + "-id", out, nil
	}))
	comp := g.OnlyOfType(t, "edw:azure:Identities")
	for _, r := range g.DescendantsOf(comp) {
		assert.Equal(t, comp.URN, r.Parent, "%s is parented to the component", r)
	}
	fics := g.ByType(ficType)
	require.Len(t, fics, 3, "exactly one credential per account")
	for i, f := range fics {
		assert.Equal(t, accounts[i].Subject, f.Str(t, "subject"))
		assert.Equal(t, "https://issuer/", f.Str(t, "issuer"))
		aud, _ := f.Plain("audiences")
		assert.Equal(t, []any{WorkloadIDAudience}, aud)
		for _, other := range fics {
			if other != f {
				assert.Equal(t, other == fics[max(i-1, 0)] && i > 0, g.DependsOnDirectly(f, other), "%s directly after %s", f, other)
			}
		}
		if i > 0 {
			assert.True(t, g.DependsOnDirectly(f, fics[i-1]), "%s is chained after %s", f, fics[i-1])
		}
	}
	got := map[string]string{}
	for _, ra := range g.ByType(roleType) {
		assert.Equal(t, "ServicePrincipal", ra.Str(t, "principalType"))
		got[ra.Str(t, "principalId")+"@"+ra.Str(t, "scope")] = ra.Str(t, "roleDefinitionId")
	}
	def := func(role string) string {
		return "/subscriptions/sub-x/providers/Microsoft.Authorization/roleDefinitions/" + role
	}
	assert.Equal(t, map[string]string{
		"ids-a-principal@/q": def(RoleAcrPull),
		"ids-c-principal@/p": def(RoleQueueDataMessageSender),
		"ids-c-principal@/t": def(RoleAKSClusterUser),
	}, got, "each grant goes to its own account's identity, nothing else")
}

func TestStorageRetainsOnlyWhenAsked(t *testing.T) {
	for _, retain := range []bool{false, true} {
		g := pulumitest.Run(t, func(ctx *pulumi.Context) error {
			_, err := NewStorage(ctx, "st", StorageArgs{ResourceGroupName: pulumi.String("rg"), Retain: retain})
			return err
		})
		acct := g.OnlyOfType(t, "azure-native:storage:StorageAccount")
		shared, _ := acct.Plain("allowSharedKeyAccess")
		assert.Equal(t, false, shared)
		data := append(g.ByType("azure-native:storage:Queue"), g.ByType("azure-native:storage:Table")...)
		require.Len(t, data, 3)
		for _, r := range append(data, acct) {
			assert.Equal(t, retain, r.RetainOnDelete, "%s retain=%v", r, retain)
		}
	}
}

// userCredentials answers the cluster's user-credentials invoke as AKS does for
// an Entra ID cluster: an exec kubeconfig whose user logs in with kubelogin.
func userCredentials() pulumitest.Option {
	return pulumitest.FakeInvoke("azure-native:containerservice:listManagedClusterUserCredentials",
		func(a pulumi.MockCallArgs) (resource.PropertyMap, error) {
			if a.Args["format"].StringValue() != "exec" {
				return nil, errors.New("only the exec format signs in through Entra ID")
			}
			return resource.NewPropertyMapFromMap(map[string]any{"kubeconfigs": []any{
				map[string]any{"name": "clusterUser", "value": base64.StdEncoding.EncodeToString([]byte("apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    exec:\n      command: kubelogin\n      args: [get-token, --server-id, 6dae42f8-4368-4678-94ff-3960e28e3630, --login, devicecode]\n"))},
			}}), nil
		})
}

func TestClusterAutoscalerSpotPoolDeclaresLabelAndTaint(t *testing.T) {
	var c *Cluster
	g := pulumitest.Run(t, func(ctx *pulumi.Context) error {
		var err error
		c, err = NewCluster(ctx, "c", ClusterArgs{
			ResourceGroupName: pulumi.String("rg"), Name: "c", KubernetesVersion: "1.33", SystemNodeSize: "Standard_D2s_v5",
			SystemNodeCount: 1, Provisioning: ProvisioningClusterAutoscaler,
			CapacityTypes: []string{"on-demand", "spot"}, Architectures: []string{"arm64"}, NodeCPULimit: 8,
		})
		return err
	}, userCredentials())
	require.NotNil(t, c, "NewCluster returns the cluster once its pools are added")
	assert.NotNil(t, c.Resource)
	cluster := g.OnlyOfType(t, "azure-native:containerservice/v20241002preview:ManagedCluster")
	disabled, _ := cluster.Plain("disableLocalAccounts")
	assert.Equal(t, true, disabled, "no local admin account: every identity goes through Entra ID and Azure RBAC")
	_, nap := cluster.Input("nodeProvisioningProfile")
	assert.False(t, nap, "no NAP alongside autoscaling pools")
	pools := g.Named("azure-native:containerservice/v20241002preview:AgentPool", "c-spotarm")
	require.Len(t, pools, 1)
	spot := pools[0]
	assert.Equal(t, "Spot", spot.Str(t, "scaleSetPriority"))
	assert.Equal(t, SpotValue, spot.Str(t, `nodeLabels.kubernetes\.azure\.com/scalesetpriority`))
	taints, _ := spot.Plain("nodeTaints")
	assert.Equal(t, []any{SpotLabel + "=" + SpotValue + ":NoSchedule"}, taints)
	od := g.Named("azure-native:containerservice/v20241002preview:AgentPool", "c-odarm")
	require.Len(t, od, 1)
	_, taint := od[0].Input("nodeTaints")
	assert.False(t, taint, "the on-demand pool is untainted")
	assert.Equal(t, "Standard_D2ps_v5", od[0].Str(t, "vmSize"), "arm64 pools use Ampere sizes")
	assert.Equal(t, "spot", spot.Str(t, `nodeLabels.edw\.dev/capacity`))
	assert.Equal(t, "on-demand", od[0].Str(t, `nodeLabels.edw\.dev/capacity`))
	price, _ := spot.Plain("spotMaxPrice")
	assert.Equal(t, -1.0, price, "spot up to the on-demand price, never evicted for price")
	for _, p := range []*pulumitest.Resource{spot, od[0]} {
		n, _ := p.Plain("maxCount")
		assert.Equal(t, 2.0, n, "8 vCPU over two pools of 2-vCPU nodes: 2 nodes each")
	}
	_, monitored := cluster.Input("azureMonitorProfile")
	assert.False(t, monitored, "no managed Prometheus unless asked")
	_, addons := cluster.Input("addonProfiles")
	assert.False(t, addons, "no Container Insights unless asked")
}

// TestClusterRunsTheMonitoringAddOnsItIsGiven: managed Prometheus's metrics
// profile and Container Insights' agent, writing with its managed identity to
// the workspace given.
func TestClusterRunsTheMonitoringAddOnsItIsGiven(t *testing.T) {
	g := pulumitest.Run(t, func(ctx *pulumi.Context) error {
		_, err := NewCluster(ctx, "c", ClusterArgs{
			ResourceGroupName: pulumi.String("rg"), Name: "c", KubernetesVersion: "1.33", SystemNodeSize: "Standard_D2s_v5",
			SystemNodeCount: 1, Provisioning: ProvisioningAuto, CapacityTypes: []string{"spot"}, Architectures: []string{"amd64"},
			NodeCPULimit: 8, ManagedPrometheus: true, LogWorkspaceID: pulumi.String("/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/w"),
		})
		return err
	}, userCredentials())
	cluster := g.OnlyOfType(t, "azure-native:containerservice/v20241002preview:ManagedCluster")
	enabled, _ := cluster.Plain("azureMonitorProfile.metrics.enabled")
	assert.Equal(t, true, enabled)
	assert.Equal(t, "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/w",
		cluster.Str(t, "addonProfiles.omsagent.config.logAnalyticsWorkspaceResourceID"))
	assert.Equal(t, "true", cluster.Str(t, "addonProfiles.omsagent.config.useAADAuth"))
	assert.Empty(t, g.ByType("azure-native:containerservice/v20241002preview:AgentPool"), "NAP makes no pools of ours")
}

func TestAzureCLILoginRewritesOnlyTheKubeloginUser(t *testing.T) {
	in := `apiVersion: v1
kind: Config
clusters:
- cluster:
    server: https://edw-aks.hcp.westus3.azmk8s.io:443
  name: edw-aks
users:
- name: clusterUser_edw_edw-aks
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: kubelogin
      args: [get-token, --environment, AzurePublicCloud, --server-id, 6dae42f8-4368-4678-94ff-3960e28e3630, --client-id, 80faf920-1908-4b52-b5ef-a8e7bedfc67a, --tenant-id, tenant-1, --login, devicecode]
`
	out, err := AzureCLILogin(in)
	require.NoError(t, err)
	var doc struct {
		Clusters []map[string]any
		Users    []struct {
			User struct {
				Exec struct {
					Command string
					Args    []string
				}
			}
		}
	}
	require.NoError(t, yaml.Unmarshal([]byte(out), &doc))
	require.Len(t, doc.Users, 1)
	assert.Equal(t, "kubelogin", doc.Users[0].User.Exec.Command)
	assert.Equal(t, []string{"get-token", "--login", "azurecli", "--server-id", "6dae42f8-4368-4678-94ff-3960e28e3630"}, doc.Users[0].User.Exec.Args)
	assert.Len(t, doc.Clusters, 1, "the rest of the kubeconfig is kept")

	_, err = AzureCLILogin("apiVersion: v1\nusers:\n- name: admin\n  user:\n    token: abc\n")
	assert.ErrorContains(t, err, "no kubelogin exec user", "a kubeconfig without Entra ID login is refused, not passed on")

	user := func(args string) string {
		return "users:\n- name: u\n  user:\n    exec:\n      command: kubelogin\n      args: " + args + "\n"
	}
	out, err = AzureCLILogin(user("[--server-id, first, get-token]"))
	require.NoError(t, err, "the flag may come first")
	assert.Contains(t, out, "first")
	_, err = AzureCLILogin(user("[get-token, --server-id]"))
	assert.ErrorContains(t, err, "no --server-id", "a flag with no value is no server id")
}

package stacks

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi-azure-native-sdk/authorization/v2"
	"github.com/pulumi/pulumi-azure-native-sdk/containerregistry/v2"
	cs "github.com/pulumi/pulumi-azure-native-sdk/containerservice/v2/v20240902preview"
	"github.com/pulumi/pulumi-azure-native-sdk/insights/v2"
	"github.com/pulumi/pulumi-azure-native-sdk/managedidentity/v2"
	"github.com/pulumi/pulumi-azure-native-sdk/operationalinsights/v2"
	"github.com/pulumi/pulumi-azure-native-sdk/resources/v2"
	"github.com/pulumi/pulumi-azure-native-sdk/storage/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/infra/azure"
	"github.com/edw-dev/edw/infra/kube"
	"github.com/edw-dev/edw/internal/permissions"
	"github.com/edw-dev/edw/internal/pulumitest"
)

const (
	azCluster  = "azure-native:containerservice/v20241002preview:ManagedCluster"
	azPool     = "azure-native:containerservice/v20241002preview:AgentPool"
	azIdentity = "azure-native:managedidentity:UserAssignedIdentity"
	azFIC      = "azure-native:managedidentity:FederatedIdentityCredential"
	azRole     = "azure-native:authorization:RoleAssignment"
	azRoleDef  = "azure-native:authorization:RoleDefinition"

	azActionGroup = "azure-native:insights:ActionGroup"
	azMetricAlert = "azure-native:insights:MetricAlert"
	azWorkbook    = "azure-native:insights:Workbook"
	azDCE         = "azure-native:insights:DataCollectionEndpoint"
	azDCR         = "azure-native:insights:DataCollectionRule"
	azDCRA        = "azure-native:insights:DataCollectionRuleAssociation"
	azLogWS       = "azure-native:operationalinsights:Workspace"
	azMonitorWS   = "azure-native:monitor:AzureMonitorWorkspace"
	azPromRules   = "azure-native:alertsmanagement:PrometheusRuleGroup"
	azAccount     = "azure-native:storage:StorageAccount"
	azQueue       = "azure-native:storage:Queue"
	azTable       = "azure-native:storage:Table"
	azRegistry    = "azure-native:containerregistry:Registry"
	azRG          = "azure-native:resources:ResourceGroup"
	napPool       = "kubernetes:karpenter.sh/v1:NodePool"

	fakeSubscription = "sub-from-client-config"
	fakeIssuer       = "https://westus3.oic.prod-aks.azure.com/tenant/cluster/"
)

var prebuilt = map[string]string{
	"edw:producerImage": "ghcr.io/edw/producer@sha256:" + strings.Repeat("1", 64),
	"edw:consumerImage": "ghcr.io/edw/consumer@sha256:" + strings.Repeat("2", 64),
}

// azureFakes answer what the azure stack invokes and the outputs it reads.
func azureFakes() []pulumitest.Option {
	echoName := func(key string) pulumitest.ResourceFaker {
		return func(a pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
			out := a.Inputs.Copy()
			out["name"] = a.Inputs[resource.PropertyKey(key)]
			return a.Name + "-id", out, nil
		}
	}
	return []pulumitest.Option{
		pulumitest.FakeInvoke("azure-native:authorization:getClientConfig", func(pulumi.MockCallArgs) (resource.PropertyMap, error) {
			return resource.NewPropertyMapFromMap(map[string]any{
				"subscriptionId": fakeSubscription, "tenantId": "tenant-from-client-config",
				"clientId": "deployer", "objectId": "deployer-object",
			}), nil
		}),
		// Reader-level credentials: the admin credential API is never invoked,
		// so a preview identity without it works (a call to it fails the run).
		pulumitest.FakeInvoke("azure-native:containerservice:listManagedClusterUserCredentials",
			func(a pulumi.MockCallArgs) (resource.PropertyMap, error) {
				if a.Args["format"].StringValue() != "exec" {
					return nil, fmt.Errorf("format %v: only exec signs in through Entra ID", a.Args["format"])
				}
				kc := base64.StdEncoding.EncodeToString([]byte("apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    exec:\n      command: kubelogin\n      args: [get-token, --server-id, 6dae42f8-4368-4678-94ff-3960e28e3630, --login, devicecode]\n"))
				return resource.NewPropertyMapFromMap(map[string]any{
					"kubeconfigs": []any{map[string]any{"name": "clusterUser", "value": kc}},
				}), nil
			}),
		pulumitest.FakeResource(azCluster, func(a pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
			out := a.Inputs.Copy()
			out["name"] = a.Inputs["resourceName"]
			out["oidcIssuerProfile"] = resource.NewObjectProperty(resource.PropertyMap{"issuerURL": resource.NewStringProperty(fakeIssuer)})
			out["identityProfile"] = resource.NewObjectProperty(resource.PropertyMap{"kubeletidentity": resource.NewObjectProperty(
				resource.PropertyMap{"objectId": resource.NewStringProperty("kubelet-object-id")})})
			// The cluster's ARM id, distinct from the other resources named "edw".
			return "/subscriptions/" + fakeSubscription + "/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/" +
				a.Inputs["resourceName"].StringValue(), out, nil
		}),
		pulumitest.FakeResource(azIdentity, func(a pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
			out := a.Inputs.Copy()
			out["name"] = resource.NewStringProperty(a.Name)
			out["clientId"] = resource.NewStringProperty(a.Name + "-client")
			out["principalId"] = resource.NewStringProperty(a.Name + "-principal")
			return a.Name + "-id", out, nil
		}),
		pulumitest.FakeResource(azAccount, func(a pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
			out := a.Inputs.Copy()
			out["name"] = resource.NewStringProperty("edwstore1a2b3c")
			return a.Name + "-id", out, nil
		}),
		pulumitest.FakeResource(azRegistry, func(a pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
			out := a.Inputs.Copy()
			out["name"] = resource.NewStringProperty("edwacr1a2b")
			out["loginServer"] = resource.NewStringProperty("edwacr1a2b.azurecr.io")
			return a.Name + "-id", out, nil
		}),
		pulumitest.FakeResource(azQueue, echoName("queueName")),
		pulumitest.FakeResource(azTable, echoName("tableName")),
		pulumitest.FakeResource(azRG, echoName("resourceGroupName")),
	}
}

func runAzure(t *testing.T, extra map[string]string) (*pulumitest.Graph, map[string]any) {
	t.Helper()
	cfg := map[string]string{}
	for k, v := range prebuilt {
		cfg[k] = v
	}
	for k, v := range extra {
		cfg[k] = v
	}
	return runStack(t, "azure", cfg, azureFakes()...)
}

func TestAzureStackInventory(t *testing.T) {
	g, _ := runAzure(t, nil)
	count := map[string]int{}
	for _, r := range g.Resources {
		count[r.Type]++
	}
	want := map[string]int{
		azRG: 1, azCluster: 1, azPool: 0, azAccount: 1, azQueue: 2, azTable: 1,
		azIdentity: 3, azFIC: 3, azRole: 7, azRoleDef: 3, azRegistry: 1, napPool: 1,
		"kubernetes:helm.sh/v3:Release": 1, "kubernetes:apps/v1:Deployment": 1,
		"kubernetes:keda.sh/v1alpha1:ScaledObject": 1, "kubernetes:keda.sh/v1alpha1:TriggerAuthentication": 1,
		"command:local:Command": 0, "pulumi:providers:azure-native": 1, "pulumi:providers:kubernetes": 1,
	}
	for typ, n := range want {
		assert.Equal(t, n, count[typ], typ)
	}
	for _, r := range g.Resources {
		if strings.HasPrefix(r.Type, "azure-native:") && r.Custom {
			assert.Contains(t, r.Provider, "::pulumi:providers:azure-native::azure::", "%s uses the explicit provider", r)
		}
		if !r.Custom && r.Type != "pulumi:pulumi:Stack" {
			assert.True(t, strings.HasPrefix(r.Type, "edw:"), "component token %s", r.Type)
		}
	}
	g.WriteKubernetesObjects(t, "azure-auto")
}

func TestAKSClusterSettings(t *testing.T) {
	g, _ := runAzure(t, nil)
	c := g.OnlyOfType(t, azCluster)
	for path, want := range map[string]any{
		"oidcIssuerProfile.enabled":                true,
		"securityProfile.workloadIdentity.enabled": true,
		"aadProfile.enableAzureRBAC":               true,
		"aadProfile.managed":                       true,
		"identity.type":                            "SystemAssigned",
		"kubernetesVersion":                        DefaultKubernetesVersion,
		"resourceName":                             "edw-azure",
		"nodeProvisioningProfile.mode":             "Auto",
		"networkProfile.networkPlugin":             "azure",
		"networkProfile.networkPluginMode":         "overlay",
		"networkProfile.networkDataplane":          "cilium",
		"agentPoolProfiles.0.mode":                 "System",
		"agentPoolProfiles.0.vmSize":               DefaultSystemNodeSize(Azure),
		"agentPoolProfiles.0.count":                float64(DefaultSystemNodeCount),
		"agentPoolProfiles.0.enableAutoScaling":    false,
		"agentPoolProfiles.0.nodeTaints":           []any{"CriticalAddonsOnly=true:NoSchedule"},
	} {
		got, ok := c.Plain(path)
		assert.True(t, ok, "cluster input %s missing", path)
		assert.Equal(t, want, got, path)
	}
	np := g.OnlyOfType(t, napPool)
	assert.True(t, g.DependsOn(np, c), "the NAP NodePool goes before the cluster on destroy")
	caps, _ := np.Plain("spec.template.spec.requirements.0.values")
	assert.Equal(t, []any{"spot", "on-demand"}, caps)
	arch, _ := np.Plain("spec.template.spec.requirements.1.values")
	assert.Equal(t, []any{"amd64", "arm64"}, arch)
	assert.Equal(t, "64", np.Str(t, "spec.limits.cpu"))
	assert.Equal(t, "WhenEmptyOrUnderutilized", np.Str(t, "spec.disruption.consolidationPolicy"))
}

func TestClusterAutoscalerModeUsesSpotAndOnDemandPools(t *testing.T) {
	g, _ := runAzure(t, map[string]string{"edw:nodeProvisioning": "cluster-autoscaler", "edw:architectures": `["amd64"]`, "edw:nodeCpuLimit": "40"})
	c := g.OnlyOfType(t, azCluster)
	_, nap := c.Input("nodeProvisioningProfile")
	assert.False(t, nap, "no NAP in cluster-autoscaler mode")
	assert.Empty(t, g.ByType(napPool))
	pools := g.ByType(azPool)
	require.Len(t, pools, 2)
	byName := map[string]*pulumitest.Resource{}
	for _, p := range pools {
		byName[p.Str(t, "agentPoolName")] = p
		assert.Equal(t, []string{"count"}, p.IgnoreChanges, "the autoscaler owns the count")
		auto, _ := p.Plain("enableAutoScaling")
		assert.Equal(t, true, auto)
		maxCount, _ := p.Plain("maxCount")
		assert.Equal(t, 10.0, maxCount, "40 vCPU over 2 pools of 2-vCPU nodes")
	}
	spot := byName["spotamd"]
	require.NotNil(t, spot)
	assert.Equal(t, "Spot", spot.Str(t, "scaleSetPriority"))
	assert.Equal(t, azure.SpotValue, spot.Str(t, `nodeLabels.kubernetes\.azure\.com/scalesetpriority`))
	taints, _ := spot.Plain("nodeTaints")
	assert.Equal(t, []any{"kubernetes.azure.com/scalesetpriority=spot:NoSchedule"}, taints)
	od := byName["odamd"]
	require.NotNil(t, od)
	_, odSpot := od.Input("scaleSetPriority")
	assert.False(t, odSpot)
	release := g.OnlyOfType(t, "kubernetes:helm.sh/v3:Release")
	for _, p := range pools {
		assert.True(t, g.DependsOn(release, p), "KEDA goes before the pools it may run on")
	}
	g.WriteKubernetesObjects(t, "azure-cluster-autoscaler")
}

func TestStorageAllowsNoSharedKey(t *testing.T) {
	g, _ := runAzure(t, nil)
	acct := g.OnlyOfType(t, azAccount)
	for path, want := range map[string]any{
		"allowSharedKeyAccess": false, "enableHttpsTrafficOnly": true, "minimumTlsVersion": "TLS1_2",
		"allowBlobPublicAccess": false, "kind": "StorageV2",
	} {
		got, _ := acct.Plain(path)
		assert.Equal(t, want, got, path)
	}
	names := []string{}
	for _, q := range g.ByType(azQueue) {
		names = append(names, q.Str(t, "queueName"))
	}
	sort.Strings(names)
	assert.Equal(t, []string{"edw-work", "edw-work-poison"}, names)
	for _, c := range g.Calls {
		assert.NotContains(t, strings.ToLower(c.Token), "listkeys", "no storage key is ever read")
	}
	for _, r := range g.Resources {
		for _, key := range []string{"AccountKey=", "AZURE_STORAGE_CONNECTION_STRING", "SharedAccessSignature"} {
			assert.NotContains(t, flatten1(r), key, "%s carries a shared key", r)
		}
	}
}

// flatten1 renders all of a resource's inputs as one string for searching.
func flatten1(r *pulumitest.Resource) string {
	v, _ := r.Plain("")
	var b strings.Builder
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case map[string]any:
			for k, e := range x {
				b.WriteString(k + "=")
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		default:
			b.WriteString(strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(fmtAny(x), "\n", " "), "\t", " ")) + ";")
		}
	}
	walk(v)
	return b.String()
}

func fmtAny(x any) string {
	if s, ok := x.(string); ok {
		return s
	}
	return ""
}

func TestFederatedCredentialsTrustExactlyTheServiceAccountsCreated(t *testing.T) {
	g, _ := runAzure(t, map[string]string{"edw:producer": "true"})
	created := map[string]bool{}
	for _, sa := range g.ByType("kubernetes:core/v1:ServiceAccount") {
		created["system:serviceaccount:"+sa.Str(t, "metadata.namespace")+":"+sa.Str(t, "metadata.name")] = true
	}
	release := g.OnlyOfType(t, "kubernetes:helm.sh/v3:Release")
	created["system:serviceaccount:"+release.Str(t, "namespace")+":"+release.Str(t, "values.serviceAccount.operator.name")] = true
	require.Len(t, created, 3)

	fics := g.ByType(azFIC)
	require.Len(t, fics, 3)
	subjects := map[string]bool{}
	for i, f := range fics {
		subjects[f.Str(t, "subject")] = true
		assert.Equal(t, fakeIssuer, f.Str(t, "issuer"), "trusts this cluster's issuer")
		aud, _ := f.Plain("audiences")
		assert.Equal(t, []any{azure.WorkloadIDAudience}, aud)
		if i > 0 {
			assert.True(t, g.DependsOnDirectly(f, fics[i-1]), "%s waits for %s", f, fics[i-1])
		}
	}
	assert.Equal(t, created, subjects)

	// Each service account's annotation names the identity whose credential trusts it.
	clientOf := map[string]string{}
	for _, f := range fics {
		clientOf[f.Str(t, "subject")] = f.Str(t, "resourceName") + "-client"
	}
	for _, sa := range g.ByType("kubernetes:core/v1:ServiceAccount") {
		subject := "system:serviceaccount:" + sa.Str(t, "metadata.namespace") + ":" + sa.Str(t, "metadata.name")
		assert.Equal(t, clientOf[subject], sa.Str(t, `metadata.annotations.azure\.workload\.identity/client-id`))
	}
	assert.Equal(t, clientOf[kube.KedaServiceAccount.Subject()],
		release.Str(t, `values.serviceAccount.operator.annotations.azure\.workload\.identity/client-id`))
	auth := g.OnlyOfType(t, "kubernetes:keda.sh/v1alpha1:TriggerAuthentication")
	assert.Equal(t, clientOf[kube.KedaServiceAccount.Subject()], auth.Str(t, "spec.podIdentity.identityId"))
}

// TestRoleAssignmentsGrantExactlyThePermissionsTable: for each identity, the
// permissions its role assignments carry on each resource (a custom role's, or
// a built-in role's as Azure publishes it) are exactly what the permissions
// table says its calls need there, and nothing is granted anywhere else.
func TestRoleAssignmentsGrantExactlyThePermissionsTable(t *testing.T) {
	g, _ := runAzure(t, nil)
	perms, err := permissions.Load()
	require.NoError(t, err)
	published := publishedBuiltinRoles(t)
	scopeOf := map[string]string{
		g.One(t, azQueue, "edw-work").ID: "queue", g.One(t, azQueue, "edw-poison").ID: "poison", g.One(t, azTable, "edw-results").ID: "table",
	}
	customs := map[string]*pulumitest.Resource{}
	for _, def := range g.ByType(azRoleDef) {
		customs[def.ID] = def
	}
	prefix := "/subscriptions/" + fakeSubscription + "/providers/Microsoft.Authorization/roleDefinitions/"
	for _, identity := range []string{"consumer", "producer", "keda"} {
		principal := "edw-" + identity + "-principal"
		got := map[string][]string{}
		for _, ra := range g.ByType(azRole) {
			if ra.Str(t, "principalId") != principal {
				continue
			}
			on, ok := scopeOf[ra.Str(t, "scope")]
			require.True(t, ok, "%s: %s is granted on %s, which is not its queue, poison queue or table", identity, ra, ra.Str(t, "scope"))
			var granted []string
			def := ra.Str(t, "roleDefinitionId")
			if custom, ok := customs[def]; ok {
				actions, _ := custom.Plain("permissions.0.actions")
				data, _ := custom.Plain("permissions.0.dataActions")
				granted = append(strs(actions), strs(data)...)
				scopes, _ := custom.Plain("assignableScopes")
				assert.Equal(t, []any{g.OnlyOfType(t, azRG).ID}, scopes, "%s is assignable in the stack's resource group only", custom)
			} else {
				require.True(t, strings.HasPrefix(def, prefix), "role definition from the client config's subscription: %s", def)
				role, ok := published[strings.TrimPrefix(def, prefix)]
				require.True(t, ok, "%s: %s is not a published built-in role", identity, def)
				granted = append(role.Actions, role.DataActions...)
			}
			got[on] = append(got[on], granted...)
		}
		for on := range got {
			slices.Sort(got[on])
			got[on] = slices.Compact(got[on])
		}
		want := map[string][]string{}
		for _, on := range perms.Resources("azure", identity) {
			if routerResources[on] {
				continue // no routes, no router: TestAzureRouteGrantsFollowThePermissionsTable has them
			}
			want[on] = perms.Actions("azure", identity, on)
		}
		assert.Equal(t, want, got, identity)
	}
	// The consumer extends a slow message's visibility (Update Message), which
	// the built-in Message Processor role does not allow.
	assert.Contains(t, perms.Actions("azure", "consumer", "queue"), azure.QueueMessagesWrite)
}

// publishedRole is a built-in role as Azure publishes it.
type publishedRole struct {
	Name        string
	Actions     []string
	DataActions []string
}

// publishedBuiltinRoles are Azure's published built-in role definitions
// (testdata, with the page they came from): the ids and permissions the code
// uses are checked against them, not against the code's own constants.
func publishedBuiltinRoles(t *testing.T) map[string]publishedRole {
	t.Helper()
	raw, err := os.ReadFile("testdata/azure-builtin-roles.json")
	require.NoError(t, err)
	var doc struct{ Roles map[string]publishedRole }
	require.NoError(t, json.Unmarshal(raw, &doc))
	return doc.Roles
}

func TestBuiltinRolesMatchAzuresPublishedDefinitions(t *testing.T) {
	published := publishedBuiltinRoles(t)
	for id, p := range azure.BuiltinRoles() {
		role, ok := published[id]
		if assert.True(t, ok, "%s is not a published built-in role id", id) {
			assert.ElementsMatch(t, role.Actions, p.Actions, role.Name)
			assert.ElementsMatch(t, role.DataActions, p.DataActions, role.Name)
		}
	}
	for _, id := range []string{azure.RoleAKSClusterUser, azure.RoleAKSRBACClusterAdmin, azure.RoleAcrPull, azure.RoleQueueDataMessageSender} {
		assert.Contains(t, published, id)
	}
}

func TestNothingHardCodesASubscriptionOrTenant(t *testing.T) {
	g, _ := runAzure(t, nil)
	guid := regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	roles := map[string]bool{}
	for id := range publishedBuiltinRoles(t) {
		roles[id] = true
	}
	// The Entra application of AKS's API server, the same in every tenant: the
	// Entra ID kubeconfig names it as the token's audience.
	roles["6dae42f8-4368-4678-94ff-3960e28e3630"] = true
	// The workbook's name, which Azure wants to be a GUID, derived from the
	// stack's cluster name.
	roles[azure.WorkbookName(g.OnlyOfType(t, azCluster).Str(t, "resourceName"))] = true
	for _, r := range g.Resources {
		for _, m := range guid.FindAllString(flatten1(r), -1) {
			assert.True(t, roles[m], "%s carries a GUID that is not a built-in role id: %s", r, m)
		}
		assert.NotContains(t, flatten1(r), "/subscriptions/0", r.String())
	}
}

func TestAzureDataIsRetainedOnlyWhenAsked(t *testing.T) {
	kept := []string{azAccount, azQueue, azTable, azRG}
	g, _ := runAzure(t, nil)
	for _, r := range g.Resources {
		assert.False(t, r.RetainOnDelete, "%s retained by default", r)
	}
	g, _ = runAzure(t, map[string]string{"edw:retainData": "true"})
	for _, typ := range kept {
		for _, r := range g.ByType(typ) {
			assert.True(t, r.RetainOnDelete, "%s must be retained with edw:retainData", r)
		}
	}
	assert.False(t, g.OnlyOfType(t, azCluster).RetainOnDelete)
}

func TestAzureTargetAndOutputs(t *testing.T) {
	g, out := runAzure(t, nil)
	so := g.OnlyOfType(t, "kubernetes:keda.sh/v1alpha1:ScaledObject")
	assert.Equal(t, "azure-queue", so.Str(t, "spec.triggers.0.type"))
	assert.Equal(t, "edw-work", so.Str(t, "spec.triggers.0.metadata.queueName"), "the trigger names the queue we created")
	assert.Equal(t, "edwstore1a2b3c", so.Str(t, "spec.triggers.0.metadata.accountName"))
	dep := g.OnlyOfType(t, "kubernetes:apps/v1:Deployment")
	env, _ := dep.Plain("spec.template.spec.containers.0.env")
	for _, kv := range []map[string]any{
		{"name": "EDW_CLOUD", "value": "azure"}, {"name": "EDW_STORAGE_ACCOUNT", "value": "edwstore1a2b3c"},
		{"name": "EDW_QUEUE_NAME", "value": "edw-work"}, {"name": "EDW_POISON_QUEUE_NAME", "value": "edw-work-poison"},
		{"name": "EDW_TABLE_NAME", "value": "edwresults"},
	} {
		assert.Contains(t, env, kv)
	}
	assert.Equal(t, "edw-azure", out["clusterName"])
	assert.Equal(t, "edwstore1a2b3c", out["storageAccount"])
	assert.Equal(t, "edw-work", out["queueName"])
	assert.Equal(t, "edw-work-poison", out["poisonQueueName"])
	assert.Equal(t, "edwresults", out["tableName"])
	assert.Equal(t, prebuilt["edw:consumerImage"], out["consumerImage"])
	assert.Contains(t, out["kubeconfig"], "kind: Config")
	assert.Contains(t, out["producerCommand"], "EDW_STORAGE_ACCOUNT=edwstore1a2b3c EDW_QUEUE_NAME=edw-work go run ./cmd/producer")
}

func TestAzureTeardownOrder(t *testing.T) {
	for _, mode := range []string{"auto", "cluster-autoscaler"} {
		t.Run(mode, func(t *testing.T) {
			g, _ := runAzure(t, map[string]string{"edw:nodeProvisioning": mode})
			keda := []*pulumitest.Resource{releaseOfChart(t, g, "keda")}
			controllers := map[string][]*pulumitest.Resource{
				"kubernetes:keda.sh/v1alpha1:ScaledObject":          keda,
				"kubernetes:keda.sh/v1alpha1:TriggerAuthentication": keda,
			}
			if mode == "auto" {
				// NAP's Karpenter is part of the managed cluster.
				controllers[napPool] = g.ByType(azCluster)
			}
			pools := append(g.ByType(azCluster), g.ByType(azPool)...)
			if mode == "auto" {
				pools = append(pools, g.ByType(napPool)...)
			}
			teardownSafe(t, g, controllers, pools)
			for _, p := range pools {
				assert.True(t, g.DependsOn(g.OnlyOfType(t, "kubernetes:apps/v1:Deployment"), p), "the consumer goes before %s", p)
			}
		})
	}
}

func TestAzureBuildsImagesIntoTheRegistry(t *testing.T) {
	t.Chdir("..") // the program runs in the project directory, next to workload/
	g, _ := runStack(t, "azure", nil, append(azureFakes(), koPushes())...)
	for _, c := range g.ByType("command:local:Command") {
		assert.True(t, strings.HasPrefix(c.Str(t, "environment.KO_DOCKER_REPO"), "edwacr1a2b.azurecr.io/edw/"))
		assertACRLoginWithoutDocker(t, c.Str(t, "create"))
	}
	dep := g.OnlyOfType(t, "kubernetes:apps/v1:Deployment")
	assert.Equal(t, "edwacr1a2b.azurecr.io/edw/consumer@sha256:"+strings.Repeat("e", 64), dep.Str(t, "spec.template.spec.containers.0.image"))
}

// azureArgs maps each azure-native type the stacks use to its SDK Args type, so
// whether a resource takes tags is read from the SDK, not from the test's output.
func azureArgs() map[string]reflect.Type {
	of := func(v any) reflect.Type { return reflect.TypeOf(v) }
	return map[string]reflect.Type{
		azRG: of(resources.ResourceGroupArgs{}), azCluster: of(cs.ManagedClusterArgs{}), azPool: of(cs.AgentPoolArgs{}),
		azAccount: of(storage.StorageAccountArgs{}), azQueue: of(storage.QueueArgs{}), azTable: of(storage.TableArgs{}),
		azIdentity: of(managedidentity.UserAssignedIdentityArgs{}), azFIC: of(managedidentity.FederatedIdentityCredentialArgs{}),
		azRole: of(authorization.RoleAssignmentArgs{}), azRoleDef: of(authorization.RoleDefinitionArgs{}),
		azRegistry:    of(containerregistry.RegistryArgs{}),
		azActionGroup: of(insights.ActionGroupArgs{}), azMetricAlert: of(insights.MetricAlertArgs{}),
		azWorkbook: of(insights.WorkbookArgs{}), azDCE: of(insights.DataCollectionEndpointArgs{}),
		azDCR: of(insights.DataCollectionRuleArgs{}), azDCRA: of(insights.DataCollectionRuleAssociationArgs{}),
		azLogWS: of(operationalinsights.WorkspaceArgs{}),
		// The monitor module is not served here (infra/azure registers the
		// workspace by token); per Microsoft.Monitor/accounts it takes tags.
		azMonitorWS: of(struct{ Tags pulumi.StringMapInput }{}),
		// Likewise Microsoft.AlertsManagement/prometheusRuleGroups.
		azPromRules: of(struct{ Tags pulumi.StringMapInput }{}),
	}
}

func TestTagsReachEveryTaggableResource(t *testing.T) {
	args := azureArgs()
	for _, mode := range []string{"auto", "cluster-autoscaler"} {
		g, _ := runAzure(t, map[string]string{"edw:tags": `{"team":"platform"}`, "edw:nodeProvisioning": mode,
			"edw:managedPrometheus": "true", "edw:containerInsights": "true"})
		taggable := 0
		for _, r := range g.Resources {
			if !strings.HasPrefix(r.Type, "azure-native:") || !r.Custom {
				continue
			}
			typ, known := args[r.Type]
			if !assert.True(t, known, "%s: add its SDK Args type to azureArgs", r.Type) {
				continue
			}
			if _, hasTags := typ.FieldByName("Tags"); !hasTags {
				continue
			}
			taggable++
			assert.Equal(t, "platform", r.Str(t, "tags.team"), r.String())
			assert.Equal(t, "azure", r.Str(t, `tags.edw:stack`), r.String())
		}
		assert.Positive(t, taggable)
	}
	g, _ := runAWS(t, map[string]string{"edw:tags": `{"team":"platform"}`})
	p := g.OnlyOfType(t, "pulumi:providers:aws")
	assert.Equal(t, "platform", p.Str(t, "defaultTags.tags.team"), "the aws provider tags everything it creates")
}

// TestNAPPoolMatchesAzuresOwnCiliumPools: on a Cilium dataplane, NAP's own pools
// (karpenter-provider-azure's examples) carry the dataplane label, so NAP counts
// the Cilium DaemonSet, and the agent-not-ready startup taint.
func TestNAPPoolMatchesAzuresOwnCiliumPools(t *testing.T) {
	g, _ := runAzure(t, nil)
	pool := g.OnlyOfType(t, napPool)
	assert.Equal(t, "cilium", pool.Str(t, `spec.template.metadata.labels.kubernetes\.azure\.com/ebpf-dataplane`))
	taints, _ := pool.Plain("spec.template.spec.startupTaints")
	assert.Equal(t, []any{map[string]any{"key": "node.cilium.io/agent-not-ready", "value": "true", "effect": "NoExecute"}}, taints)
	assert.Equal(t, "cilium", g.OnlyOfType(t, azCluster).Str(t, "networkProfile.networkDataplane"))
	aws, _ := runAWS(t, nil)
	_, has := aws.OnlyOfType(t, karpNodePool).Input("spec.template.spec.startupTaints")
	assert.False(t, has, "EKS runs the VPC CNI: no Cilium taint")
}

// assertACRLoginWithoutDocker: the build logs ko in to the registry with the
// Azure CLI's token (az acr login --expose-token, never plain az acr login,
// which needs a Docker daemon) in a private DOCKER_CONFIG, before ko builds,
// and the whole command is valid shell.
func assertACRLoginWithoutDocker(t *testing.T, create string) {
	t.Helper()
	login := "az acr login --name edwacr1a2b --expose-token --output tsv --query accessToken | " +
		"go tool ko login edwacr1a2b.azurecr.io --username 00000000-0000-0000-0000-000000000000 --password-stdin"
	steps := strings.Split(create, " && ")
	require.Len(t, steps, 4, create)
	assert.Equal(t, `export DOCKER_CONFIG="$(mktemp -d)"`, steps[0])
	assert.Equal(t, `trap 'rm -rf "$DOCKER_CONFIG"' EXIT`, steps[1])
	assert.Equal(t, login, steps[2])
	assert.True(t, strings.HasPrefix(steps[3], "go tool ko build "), steps[3])
	out, err := exec.Command("sh", "-n", "-c", create).CombinedOutput()
	assert.NoError(t, err, "sh -n: %s", out)
	readme, err := os.ReadFile(filepath.Join(projectRoot, "README.md"))
	require.NoError(t, err)
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.Contains(line, "az acr login") {
			assert.Contains(t, line, "--expose-token", "the README's ACR login needs no Docker: %s", line)
		}
	}
}

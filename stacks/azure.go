package stacks

import (
	"context"
	"fmt"

	"github.com/pulumi/pulumi-azure-native-sdk/authorization/v2"
	azurenative "github.com/pulumi/pulumi-azure-native-sdk/v2"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/edw-dev/edw/infra/azure"
	"github.com/edw-dev/edw/infra/images"
	"github.com/edw-dev/edw/infra/karpenter"
	"github.com/edw-dev/edw/infra/kube"
	"github.com/edw-dev/edw/internal/permissions"
)

// deployAzure builds the azure stack: resource group, AKS, storage, Workload ID
// identities, ACR, images, then the Kubernetes layer.
func deployAzure(ctx *pulumi.Context, cfg *Config, last *pulumi.StackReference, waitForAccess func(context.Context, string) error) (pulumi.Map, error) {
	providerArgs, err := azureProviderArgs(ctx.GetConfig, cfg.Region)
	if err != nil {
		return nil, err
	}
	previousMode, err := previousString(last, "nodeProvisioning")
	if err != nil {
		return nil, err
	}
	if err := refuseProvisioningSwitch(cfg, previousMode); err != nil {
		return nil, err
	}
	provider, err := azurenative.NewProvider(ctx, "azure", providerArgs)
	if err != nil {
		return nil, fmt.Errorf("azure provider: %w", err)
	}
	withAzure := pulumi.Provider(provider)
	tags := stackTags(ctx, cfg)
	client := authorization.GetClientConfigOutput(ctx, pulumi.Provider(provider))
	subscription := client.SubscriptionId()

	rgName := cfg.ResourceGroup
	if rgName == "" {
		rgName = DefaultResourceGroup(ctx.Stack())
	}
	var adopt *azure.Adoption
	if cfg.AdoptStorage != "" {
		adopt = &azure.Adoption{SubscriptionID: subscription, ResourceGroup: rgName, Account: cfg.AdoptStorage}
	}
	group, err := azure.NewGroup(ctx, "edw", azure.GroupArgs{Name: rgName, Retain: cfg.RetainData, Protect: cfg.ProtectData, Adopt: adopt, Tags: tags}, withAzure)
	if err != nil {
		return nil, err
	}
	rg := group.Resource

	// Container Insights' workspace exists before the cluster: its add-on names it.
	var logWorkspace pulumi.StringInput
	if cfg.Monitoring.ContainerInsights {
		ws, err := azure.NewLogWorkspace(ctx, "edw", azure.LogWorkspaceArgs{ResourceGroupName: rg.Name, Name: cfg.ClusterName, Tags: tags}, withAzure)
		if err != nil {
			return nil, err
		}
		logWorkspace = ws.ID
	}

	cluster, err := azure.NewCluster(ctx, "edw", azure.ClusterArgs{
		ResourceGroupName: rg.Name,
		Name:              cfg.ClusterName,
		KubernetesVersion: cfg.KubernetesVersion,
		SystemNodeSize:    cfg.SystemNodeSize,
		SystemNodeCount:   cfg.SystemNodeCount,
		Provisioning:      string(cfg.NodeProvisioning),
		CapacityTypes:     cfg.CapacityTypes,
		Architectures:     cfg.Architectures,
		NodeCPULimit:      cfg.NodeCPULimit,
		ManagedPrometheus: cfg.Monitoring.ManagedPrometheus,
		LogWorkspaceID:    logWorkspace,
		Tags:              tags,
	}, withAzure)
	if err != nil {
		return nil, err
	}

	store, err := azure.NewStorage(ctx, "edw", azure.StorageArgs{
		ResourceGroupName: rg.Name, Retain: cfg.RetainData, Protect: cfg.ProtectData, Adopt: adopt, Tags: tags,
	}, withAzure)
	if err != nil {
		return nil, err
	}
	perms, err := permissions.Load()
	if err != nil {
		return nil, err
	}
	scopes := map[string][]grantScope{
		"queue": {{ID: store.Queue.ID().ToStringOutput()}}, "poison": {{ID: store.Poison.ID().ToStringOutput()}}, "table": {{ID: store.Table.ID().ToStringOutput()}},
	}
	routeScopes := map[string][]grantScope{}
	// A live stack's new route has nothing retained to import: the routes'
	// storage is adopted only into a stack its destroy left without outputs.
	var routeAdopt *azure.Adoption
	if adopt != nil {
		live, err := previousString(last, "storageAccount")
		if err != nil {
			return nil, err
		}
		if live == "" {
			routeAdopt = adopt
		}
	}
	router, err := azureRouter(ctx, cfg, rg, store, subscription, tags, routeAdopt, scopes, routeScopes, withAzure)
	if err != nil {
		return nil, err
	}
	var accounts []azure.Account
	for _, a := range []struct {
		name string
		sa   kube.ServiceAccount
	}{{"consumer", kube.ConsumerServiceAccount}, {"producer", kube.ProducerServiceAccount}, {"keda", kube.KedaServiceAccount}} {
		// Custom roles are defined in the group and assignable only there.
		grants, err := workloadGrants(ctx, perms, a.name, withRoutes(a.name, scopes, routeScopes), rg.ID().ToStringOutput(), group.Children()...)
		if err != nil {
			return nil, err
		}
		accounts = append(accounts, azure.Account{Name: a.name, Subject: a.sa.Subject(), Grants: grants})
	}
	ids, err := azure.NewIdentities(ctx, "edw", azure.IdentitiesArgs{
		ResourceGroupName: rg.Name,
		Issuer:            cluster.OIDCIssuerURL,
		SubscriptionID:    subscription,
		Tags:              tags,
		Accounts:          accounts,
	}, withAzure)
	if err != nil {
		return nil, err
	}

	registry, err := azure.NewRegistry(ctx, "edw", azure.RegistryArgs{
		ResourceGroupName: rg.Name, SubscriptionID: subscription, KubeletObjectID: cluster.KubeletObjectID, Tags: tags,
	}, withAzure)
	if err != nil {
		return nil, err
	}
	built, err := images.New(ctx, "images", images.Args{
		Repositories:  images.Repositories{Producer: registry.Producer, Consumer: registry.Consumer},
		Architectures: cfg.Architectures,
		Prebuilt:      images.Refs{Producer: cfg.Images.Producer, Consumer: cfg.Images.Consumer},
		// ko pushes with the Azure CLI's login, the one the rest of the stack uses.
		Login: pulumi.All(registry.Name, registry.LoginServer).ApplyT(func(v []any) string {
			return images.ACRLogin(v[0].(string), v[1].(string))
		}).(pulumi.StringOutput),
	})
	if err != nil {
		return nil, err
	}

	var telemetry *azure.ClusterTelemetry
	var promWorkspace pulumi.StringInput // set when managed Prometheus has the consumer's metrics
	if cfg.Monitoring.ManagedPrometheus || cfg.Monitoring.ContainerInsights {
		telemetry, err = azure.NewClusterTelemetry(ctx, "edw", azure.ClusterTelemetryArgs{
			ResourceGroupName: rg.Name, Location: cfg.Region, ClusterName: cfg.ClusterName,
			ClusterID: cluster.Resource.ID().ToStringOutput(), Prometheus: cfg.Monitoring.ManagedPrometheus,
			LogWorkspaceID: logWorkspace, Tags: tags,
		}, withAzure)
		if err != nil {
			return nil, err
		}
		if cfg.Monitoring.ManagedPrometheus {
			promWorkspace = telemetry.PrometheusWorkspaceID
		}
	}

	var monitoring *azure.Monitoring
	if cfg.Monitoring.Enabled {
		monitoring, err = azure.NewMonitoring(ctx, "edw", azure.MonitoringArgs{
			ResourceGroupName: rg.Name, AccountID: store.Account.ID().ToStringOutput(), Name: cfg.ClusterName,
			BacklogMessages: cfg.Monitoring.BacklogMessages, AlertEmails: cfg.Monitoring.AlertEmails, Tags: tags,
			PrometheusWorkspaceID: promWorkspace,
			Namespace:             kube.ConsumerServiceAccount.Namespace, Location: cfg.Region,
			Routes: workbookRoutes(router),
		}, withAzure)
		if err != nil {
			return nil, err
		}
	}
	if err := azureRouterAlerts(ctx, cfg, rg, router, monitoring, tags, withAzure); err != nil {
		return nil, err
	}

	access, err := azure.NewClusterAccess(ctx, "edw", azure.ClusterAccessArgs{
		Cluster: cluster.Resource, SubscriptionID: subscription, Admins: cfg.ClusterAdmins, Readers: cfg.ClusterReaders,
		Deployer: client.ObjectId(),
	}, withAzure)
	if err != nil {
		return nil, err
	}
	// Pulumi reaches the cluster as its deployer, through Azure RBAC: the
	// provider waits for that grant and, on destroy, outlives nothing it needs.
	// Created is not enough: the grant reaches the cluster minutes later, and
	// the provider gives up on the first 403, so its kubeconfig is handed on
	// only once the cluster says the deployer is allowed.
	k8s, err := kubernetes.NewProvider(ctx, "aks", &kubernetes.ProviderArgs{
		Kubeconfig: whenAllowed(ctx, cluster.Kubeconfig, access.Admins, waitForAccess),
	}, pulumi.DependsOn(access.Admins))
	if err != nil {
		return nil, fmt.Errorf("kubernetes provider: %w", err)
	}
	// Pods pull their images with the kubelet's AcrPull grant.
	ready := append(cluster.Ready(), registry.Pull)
	workload := kube.Placement{Tolerations: []kube.Toleration{
		{Key: azure.SpotLabel, Operator: "Equal", Value: azure.SpotValue, Effect: "NoSchedule"},
	}}
	if cfg.NodeProvisioning == NodeAutoProvisioning {
		pool, err := azure.NewNodePool(ctx, "edw-workload", azure.NodePoolArgs{
			Provider: k8s, Cluster: cluster.Resource, CapacityTypes: cfg.CapacityTypes,
			Architectures: cfg.Architectures, CPULimit: cfg.NodeCPULimit,
		})
		if err != nil {
			return nil, err
		}
		// The workload goes before the pool on destroy, so NAP does not drain
		// nodes under running consumers.
		ready = append(ready, pool)
		// Only edw's pool may launch nodes for the workload: NAP's own default
		// pool would otherwise take the overflow past edw:nodeCpuLimit.
		workload.NodeSelector = map[string]string{karpenter.PoolLabel: karpenter.WorkloadPool}
	}

	workloadID := func(id *azure.Identity) kube.Identity {
		return kube.Identity{
			Annotations: pulumi.StringMap{"azure.workload.identity/client-id": id.ClientID},
			PodLabels:   map[string]string{"azure.workload.identity/use": "true"},
		}
	}
	target := kube.Target{
		Provider: k8s,
		Cloud:    string(Azure),
		Trigger: kube.Trigger{
			Type:        "azure-queue",
			Metadata:    pulumi.StringMap{"queueName": store.QueueName, "accountName": store.AccountName},
			PodIdentity: "azure-workload",
			IdentityID:  ids.ByAccount["keda"].ClientID,
		},
		Env: map[string]pulumi.StringInput{
			"EDW_STORAGE_ACCOUNT":   store.AccountName,
			"EDW_QUEUE_NAME":        store.QueueName,
			"EDW_POISON_QUEUE_NAME": store.PoisonQueueName,
			"EDW_TABLE_NAME":        store.TableName,
		},
		Consumer: workloadID(ids.ByAccount["consumer"]),
		Producer: workloadID(ids.ByAccount["producer"]),
		Keda:     workloadID(ids.ByAccount["keda"]),
		Images:   kube.Images{Producer: built.Producer, Consumer: built.Consumer},
		System: kube.Placement{
			NodeSelector: map[string]string{"kubernetes.azure.com/mode": "system"},
			Tolerations:  []kube.Toleration{{Key: "CriticalAddonsOnly", Operator: "Exists", Effect: "NoSchedule"}},
		},
		Workload: workload,
		Readers:  azureReaders(cfg),
		Ready:    ready,
	}
	azureTargetRoutes(cfg, router, &target)
	wa := workloadArgs(cfg, target)
	if cfg.Monitoring.ManagedPrometheus {
		wa.PodMonitors = append(wa.PodMonitors, kube.PodMonitor{APIVersion: kube.AzurePodMonitorAPI, After: telemetry.Prometheus})
	}
	if _, err := kube.NewWorkload(ctx, "edw", wa); err != nil {
		return nil, err
	}

	out := pulumi.Map{
		"cloud":         pulumi.String(string(cfg.Cloud)),
		"region":        pulumi.String(cfg.Region),
		"resourceGroup": rg.Name,
		"clusterName":   cluster.Name,
		// Read back by the next update (refuseProvisioningSwitch).
		"nodeProvisioning": pulumi.String(string(cfg.NodeProvisioning)),
		"kubeconfig":       cluster.Kubeconfig,
		"storageAccount":   store.AccountName,
		"queueName":        store.QueueName,
		"poisonQueueName":  store.PoisonQueueName,
		"tableName":        store.TableName,
		"producerImage":    built.Producer,
		"consumerImage":    built.Consumer,
		// Your own Entra login needs Storage Queue Data Message Sender on the queue.
		"producerCommand": pulumi.Sprintf("cd workload && EDW_CLOUD=azure EDW_STORAGE_ACCOUNT=%s EDW_QUEUE_NAME=%s go run ./cmd/producer --count 1000 --rate 100",
			store.AccountName, store.QueueName),
	}
	if monitoring != nil {
		out["alertActionGroupId"] = monitoring.ActionGroup
		out["workbookId"] = monitoring.Workbook
	}
	if promWorkspace != nil {
		out["prometheusWorkspaceId"] = promWorkspace
	}
	azureRouterOutputs(out, router)
	return out, nil
}

// workloadGrants are identity's roles from the permissions table: per resource
// it touches, the built-in role whose permissions are exactly what it needs, or
// else a custom role with exactly those permissions, on each scope of that
// resource (the stack's own queue, and each route's). Named grants (a route's,
// the router's) follow the stack's own, so adding routes renames nothing.
func workloadGrants(ctx *pulumi.Context, perms permissions.Table, identity string, scopes map[string][]grantScope,
	resourceGroupID pulumi.StringInput, opts ...pulumi.ResourceOption) ([]azure.Grant, error) {
	var own, named []azure.Grant
	for _, on := range perms.Resources("azure", identity) {
		if len(scopes[on]) == 0 && routerResources[on] {
			continue
		}
		need := azure.Split(perms.Actions("azure", identity, on))
		grant := azure.Grant{}
		if id, ok := azure.BuiltinRoleFor(need); ok {
			grant.Role = id
		} else {
			def, err := azure.NewCustomRole(ctx, "edw-"+identity+"-"+on, azure.CustomRole{
				Name:        identity + "-" + on,
				Description: fmt.Sprintf("What edw's %s calls on the %s, and nothing else.", identity, on),
				Permissions: need,
			}, resourceGroupID, opts...)
			if err != nil {
				return nil, err
			}
			grant.Custom = def
		}
		for _, sc := range scopes[on] {
			g := grant
			g.Scope, g.Name = sc.ID, sc.Name
			if g.Name == "" {
				own = append(own, g)
			} else {
				named = append(named, g)
			}
		}
	}
	return append(own, named...), nil
}

// azureReaders binds edw:clusterReaders, Entra object ids, as both users and
// groups. AKS names a group and a service principal by object id, but a
// member user of the cluster's tenant by user principal name (AKS's "Use
// Kubernetes RBAC with Microsoft Entra integration": bind in-tenant users by
// UPN, users of other tenants by object id). So a member user's object id here
// gets the Azure role that fetches a kubeconfig and no Kubernetes binding:
// readers are groups (people go in a group) or service principals (CI).
func azureReaders(cfg *Config) kube.Readers {
	if len(cfg.ClusterReaders) == 0 {
		return kube.Readers{}
	}
	r := kube.Readers{Groups: cfg.ClusterReaders, Users: cfg.ClusterReaders}
	if cfg.NodeProvisioning == NodeAutoProvisioning {
		r.Kinds = []kube.Kind{{Group: "karpenter.sh", Resource: "nodepools"}}
	}
	return r
}

// workloadArgs maps config onto the Kubernetes layer; both clouds share it.
func workloadArgs(cfg *Config, target kube.Target) kube.WorkloadArgs {
	c := cfg.Consumer
	return kube.WorkloadArgs{
		Target:           target,
		InstallKeda:      true,
		KedaChartVersion: cfg.Charts.Keda,
		Consumer: kube.ConsumerSettings{
			CPU: c.CPU, Memory: c.Memory, MemoryLimit: c.MemoryLimit, MaxReceiveCount: c.MaxReceiveCount, VisibilityTimeout: c.VisibilityTimeout,
			Scaling: kube.Scaling{
				MinReplicas: c.MinReplicas, MaxReplicas: c.MaxReplicas, MessagesPerPod: c.MessagesPerPod,
				ActivationQueueLength: c.ActivationQueueLength, PollingInterval: c.PollingInterval, Cooldown: c.Cooldown,
			},
		},
		Producer:    kube.ProducerSettings{Enabled: cfg.Producer.Enabled, MessageCount: cfg.Producer.MessageCount, Rate: cfg.Producer.Rate},
		PodMonitors: podMonitors(cfg),
	}
}

// podMonitors is the Prometheus Operator PodMonitor when the stack asks for it;
// the azure stack adds managed Prometheus's own.
func podMonitors(cfg *Config) []kube.PodMonitor {
	if !cfg.Monitoring.PodMonitor {
		return nil
	}
	return []kube.PodMonitor{{APIVersion: kube.PodMonitorAPI}}
}

// whenAllowed is the kubeconfig, resolved after the grants exist and, on
// `up`, after the cluster allows its user (wait). A preview reads with
// whatever the previewer may; it waits for nothing.
func whenAllowed(ctx *pulumi.Context, kubeconfig pulumi.StringOutput, grants []pulumi.Resource,
	wait func(context.Context, string) error) pulumi.StringOutput {
	inputs := []any{kubeconfig}
	for _, g := range grants {
		if c, ok := g.(pulumi.CustomResource); ok {
			inputs = append(inputs, c.ID())
		}
	}
	return pulumi.All(inputs...).ApplyTWithContext(ctx.Context(), func(gctx context.Context, vs []any) (string, error) {
		kc := vs[0].(string)
		if ctx.DryRun() {
			return kc, nil
		}
		if err := wait(gctx, kc); err != nil {
			return "", fmt.Errorf("deployer access to the cluster: %w", err)
		}
		return kc, nil
	}).(pulumi.StringOutput)
}

package stacks

import (
	"fmt"

	"github.com/pulumi/pulumi-azure-native-sdk/authorization/v2"
	"github.com/pulumi/pulumi-azure-native-sdk/resources/v2"
	azurenative "github.com/pulumi/pulumi-azure-native-sdk/v2"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/edw-dev/edw/infra/azure"
	"github.com/edw-dev/edw/infra/images"
	"github.com/edw-dev/edw/infra/kube"
)

// deployAzure builds the azure stack: resource group, AKS, storage, Workload ID
// identities, ACR, images, then the Kubernetes layer.
func deployAzure(ctx *pulumi.Context, cfg *Config) (pulumi.Map, error) {
	provider, err := azurenative.NewProvider(ctx, "azure", &azurenative.ProviderArgs{Location: pulumi.String(cfg.Region)})
	if err != nil {
		return nil, fmt.Errorf("azure provider: %w", err)
	}
	withAzure := pulumi.Provider(provider)
	tags := stackTags(ctx, cfg)
	client := authorization.GetClientConfigOutput(ctx, pulumi.Provider(provider))
	subscription := client.SubscriptionId()

	rgName := cfg.ResourceGroup
	if rgName == "" {
		rgName = "edw-" + ctx.Stack()
	}
	// Deleting a resource group deletes everything in it, so retained data needs
	// a retained group.
	rg, err := resources.NewResourceGroup(ctx, "edw", &resources.ResourceGroupArgs{
		ResourceGroupName: pulumi.String(rgName),
		Tags:              tags,
	}, withAzure, pulumi.RetainOnDelete(cfg.RetainData))
	if err != nil {
		return nil, fmt.Errorf("resource group %s: %w", rgName, err)
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
		Tags:              tags,
	}, withAzure)
	if err != nil {
		return nil, err
	}

	store, err := azure.NewStorage(ctx, "edw", azure.StorageArgs{
		ResourceGroupName: rg.Name, Retain: cfg.RetainData, Tags: tags,
	}, withAzure)
	if err != nil {
		return nil, err
	}
	queueID := store.Queue.ID().ToStringOutput()
	ids, err := azure.NewIdentities(ctx, "edw", azure.IdentitiesArgs{
		ResourceGroupName: rg.Name,
		Issuer:            cluster.OIDCIssuerURL,
		SubscriptionID:    subscription,
		Tags:              tags,
		Accounts: []azure.Account{
			{Name: "consumer", Subject: kube.ConsumerServiceAccount.Subject(), Grants: []azure.Grant{
				{Role: azure.RoleQueueDataMessageProcessor, Scope: queueID},
				{Role: azure.RoleQueueDataMessageSender, Scope: store.Poison.ID().ToStringOutput()},
				{Role: azure.RoleTableDataContributor, Scope: store.Table.ID().ToStringOutput()},
			}},
			{Name: "producer", Subject: kube.ProducerServiceAccount.Subject(), Grants: []azure.Grant{
				{Role: azure.RoleQueueDataMessageSender, Scope: queueID},
			}},
			{Name: "keda", Subject: kube.KedaServiceAccount.Subject(), Grants: []azure.Grant{
				{Role: azure.RoleQueueDataReader, Scope: queueID},
			}},
		},
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
	})
	if err != nil {
		return nil, err
	}

	k8s, err := kubernetes.NewProvider(ctx, "aks", &kubernetes.ProviderArgs{Kubeconfig: cluster.Kubeconfig})
	if err != nil {
		return nil, fmt.Errorf("kubernetes provider: %w", err)
	}
	ready := cluster.Ready()
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
		Workload: kube.Placement{Tolerations: []kube.Toleration{
			{Key: azure.SpotLabel, Operator: "Equal", Value: azure.SpotValue, Effect: "NoSchedule"},
		}},
		Ready: ready,
	}
	if _, err := kube.NewWorkload(ctx, "edw", workloadArgs(cfg, target)); err != nil {
		return nil, err
	}

	return pulumi.Map{
		"cloud":           pulumi.String(string(cfg.Cloud)),
		"region":          pulumi.String(cfg.Region),
		"resourceGroup":   rg.Name,
		"clusterName":     cluster.Name,
		"kubeconfig":      cluster.Kubeconfig,
		"storageAccount":  store.AccountName,
		"queueName":       store.QueueName,
		"poisonQueueName": store.PoisonQueueName,
		"tableName":       store.TableName,
		"producerImage":   built.Producer,
		"consumerImage":   built.Consumer,
		// Your own Entra login needs Storage Queue Data Message Sender on the queue.
		"producerCommand": pulumi.Sprintf("cd workload && EDW_CLOUD=azure EDW_STORAGE_ACCOUNT=%s EDW_QUEUE_NAME=%s go run ./cmd/producer --count 1000 --rate 100",
			store.AccountName, store.QueueName),
	}, nil
}

// workloadArgs maps config onto the Kubernetes layer; both clouds share it.
func workloadArgs(cfg *Config, target kube.Target) kube.WorkloadArgs {
	c := cfg.Consumer
	return kube.WorkloadArgs{
		Target:           target,
		KedaChartVersion: cfg.Charts.Keda,
		Consumer: kube.ConsumerSettings{
			CPU: c.CPU, Memory: c.Memory, MaxReceiveCount: c.MaxReceiveCount, VisibilityTimeout: c.VisibilityTimeout,
			Scaling: kube.Scaling{
				MinReplicas: c.MinReplicas, MaxReplicas: c.MaxReplicas, MessagesPerPod: c.MessagesPerPod,
				ActivationQueueLength: c.ActivationQueueLength, PollingInterval: c.PollingInterval, Cooldown: c.Cooldown,
			},
		},
		Producer: kube.ProducerSettings{Enabled: cfg.Producer.Enabled, MessageCount: cfg.Producer.MessageCount, Rate: cfg.Producer.Rate},
	}
}

package stacks

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	infraaws "github.com/edw-dev/edw/infra/aws"
	"github.com/edw-dev/edw/infra/images"
	"github.com/edw-dev/edw/infra/kube"
)

// deployAWS builds the aws stack: network, EKS with Karpenter, SQS + DLQ,
// DynamoDB, IRSA roles, ECR, images, then the Kubernetes layer.
func deployAWS(ctx *pulumi.Context, cfg *Config) (pulumi.Map, error) {
	tags := stackTags(ctx, cfg)
	provider, err := aws.NewProvider(ctx, "aws", &aws.ProviderArgs{
		Region:      pulumi.String(cfg.Region),
		DefaultTags: &aws.ProviderDefaultTagsArgs{Tags: tags},
	})
	if err != nil {
		return nil, fmt.Errorf("aws provider: %w", err)
	}
	withAWS := pulumi.Provider(provider)
	caller, err := aws.GetCallerIdentity(ctx, &aws.GetCallerIdentityArgs{}, withAWS)
	if err != nil {
		return nil, fmt.Errorf("aws caller identity: %w", err)
	}
	partition, err := aws.GetPartition(ctx, &aws.GetPartitionArgs{}, withAWS)
	if err != nil {
		return nil, fmt.Errorf("aws partition: %w", err)
	}
	acct := infraaws.Account{ID: caller.AccountId, Partition: partition.Partition, Region: cfg.Region}

	var zones []string
	if cfg.Network.VPCID == "" {
		az, err := aws.GetAvailabilityZones(ctx, &aws.GetAvailabilityZonesArgs{State: pulumi.StringRef("available")}, withAWS)
		if err != nil {
			return nil, fmt.Errorf("availability zones in %s: %w", cfg.Region, err)
		}
		zones = az.Names
	}
	network, err := infraaws.NewNetwork(ctx, "edw", infraaws.NetworkArgs{
		ClusterName: cfg.ClusterName, Zones: zones, ExistingVPCID: cfg.Network.VPCID,
		ExistingPrivateSubnetIDs: cfg.Network.PrivateSubnetIDs, ExistingPublicSubnetIDs: cfg.Network.PublicSubnetIDs,
	}, withAWS)
	if err != nil {
		return nil, err
	}
	karpenterNode, err := infraaws.NewKarpenterNodeRole(ctx, "edw-karpenter-node", acct.Partition, nil, withAWS)
	if err != nil {
		return nil, err
	}
	cluster, err := infraaws.NewCluster(ctx, "edw", infraaws.ClusterArgs{
		Name: cfg.ClusterName, KubernetesVersion: cfg.KubernetesVersion,
		VPCID: network.VPCID, PrivateSubnetIDs: network.PrivateSubnetIDs, PublicSubnetIDs: network.PublicSubnetIDs,
		SystemNodeSize: cfg.SystemNodeSize, SystemNodeCount: cfg.SystemNodeCount,
		KarpenterNodeRole: karpenterNode.Role, Partition: acct.Partition, Provider: provider,
	}, withAWS)
	if err != nil {
		return nil, err
	}
	queue, err := infraaws.NewQueue(ctx, "edw", infraaws.QueueArgs{
		VisibilityTimeout: cfg.Consumer.VisibilityTimeout, MaxReceiveCount: cfg.Consumer.MaxReceiveCount, Retain: cfg.RetainData,
	}, withAWS)
	if err != nil {
		return nil, err
	}
	table, err := infraaws.NewTable(ctx, "edw-results", infraaws.TableArgs{Retain: cfg.RetainData}, withAWS)
	if err != nil {
		return nil, err
	}

	role := func(name string, sa kube.ServiceAccount, statements func(v []string) []infraaws.Statement, arns ...pulumi.StringInput) (*infraaws.ServiceAccountRole, error) {
		return infraaws.NewServiceAccountRole(ctx, "edw-"+name, infraaws.ServiceAccountRoleArgs{
			Subject: sa.Subject(), OIDCProviderARN: cluster.OIDCProviderARN, OIDCIssuer: cluster.OIDCIssuer,
			Policy: infraaws.DocumentOf(arns, statements),
		}, withAWS)
	}
	consumerRole, err := role("consumer", kube.ConsumerServiceAccount, func(v []string) []infraaws.Statement {
		return []infraaws.Statement{
			{Sid: "WorkQueue", Action: []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"}, Resource: []string{v[0]}},
			{Sid: "DeadLetterQueue", Action: []string{"sqs:SendMessage"}, Resource: []string{v[1]}},
			{Sid: "Results", Action: []string{"dynamodb:PutItem", "dynamodb:BatchWriteItem", "dynamodb:GetItem"}, Resource: []string{v[2]}},
		}
	}, queue.ARN, queue.DLQARN, table.ARN)
	if err != nil {
		return nil, err
	}
	producerRole, err := role("producer", kube.ProducerServiceAccount, func(v []string) []infraaws.Statement {
		return []infraaws.Statement{{Sid: "WorkQueue", Action: []string{"sqs:SendMessage"}, Resource: []string{v[0]}}}
	}, queue.ARN)
	if err != nil {
		return nil, err
	}
	kedaRole, err := role("keda", kube.KedaServiceAccount, func(v []string) []infraaws.Statement {
		return []infraaws.Statement{{Sid: "QueueLength", Action: []string{"sqs:GetQueueAttributes"}, Resource: []string{v[0]}}}
	}, queue.ARN)
	if err != nil {
		return nil, err
	}

	k8s, err := kubernetes.NewProvider(ctx, "eks", &kubernetes.ProviderArgs{Kubeconfig: cluster.Kubeconfig})
	if err != nil {
		return nil, fmt.Errorf("kubernetes provider: %w", err)
	}
	karpenter, err := infraaws.NewKarpenter(ctx, "edw-karpenter", infraaws.KarpenterArgs{
		Account: acct, ClusterName: cfg.ClusterName, ClusterReady: cluster.Name,
		OIDCProviderARN: cluster.OIDCProviderARN, OIDCIssuer: cluster.OIDCIssuer,
		NodeRole: karpenterNode, NodeGroup: cluster.NodeGroup, Provider: k8s, ChartVersion: cfg.Charts.Karpenter,
		CapacityTypes: cfg.CapacityTypes, Architectures: cfg.Architectures, CPULimit: cfg.NodeCPULimit,
	}, withAWS)
	if err != nil {
		return nil, err
	}

	registry, err := infraaws.NewRegistry(ctx, "edw", nil, withAWS)
	if err != nil {
		return nil, err
	}
	built, err := images.New(ctx, "images", images.Args{
		Repositories:  images.Repositories{Producer: registry.Producer, Consumer: registry.Consumer},
		Architectures: cfg.Architectures,
		Prebuilt:      images.Refs{Producer: cfg.Images.Producer, Consumer: cfg.Images.Consumer},
		Environment:   pulumi.StringMap{"AWS_REGION": pulumi.String(cfg.Region)},
	})
	if err != nil {
		return nil, err
	}

	irsa := func(r *infraaws.ServiceAccountRole) kube.Identity {
		return kube.Identity{Annotations: pulumi.StringMap{"eks.amazonaws.com/role-arn": r.ARN}}
	}
	target := kube.Target{
		Provider: k8s,
		Cloud:    string(AWS),
		Trigger: kube.Trigger{
			Type:        "aws-sqs-queue",
			Metadata:    pulumi.StringMap{"queueURL": queue.URL, "awsRegion": pulumi.String(cfg.Region)},
			PodIdentity: "aws",
		},
		Env: map[string]pulumi.StringInput{
			"EDW_QUEUE_URL": queue.URL, "EDW_DLQ_URL": queue.DLQURL, "EDW_TABLE_NAME": table.Name,
			"AWS_REGION": pulumi.String(cfg.Region),
		},
		Consumer: irsa(consumerRole), Producer: irsa(producerRole), Keda: irsa(kedaRole),
		Images: kube.Images{Producer: built.Producer, Consumer: built.Consumer},
		System: kube.Placement{NodeSelector: map[string]string{"edw.dev/pool": "system"}},
		// Karpenter's nodes carry no taint; the workload lands there because the
		// system nodes are sized for add-ons only.
		Ready: []pulumi.Resource{cluster.NodeGroup, karpenter.Release, karpenter.NodePool},
	}
	if _, err := kube.NewWorkload(ctx, "edw", workloadArgs(cfg, target)); err != nil {
		return nil, err
	}

	return pulumi.Map{
		"cloud":         pulumi.String(string(cfg.Cloud)),
		"region":        pulumi.String(cfg.Region),
		"clusterName":   cluster.Name,
		"kubeconfig":    cluster.Kubeconfig,
		"queueUrl":      queue.URL,
		"dlqUrl":        queue.DLQURL,
		"tableName":     table.Name,
		"producerImage": built.Producer,
		"consumerImage": built.Consumer,
		"producerCommand": pulumi.Sprintf("cd workload && EDW_CLOUD=aws AWS_REGION=%s EDW_QUEUE_URL=%s go run ./cmd/producer --count 1000 --rate 100",
			cfg.Region, queue.URL),
	}, nil
}

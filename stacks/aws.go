package stacks

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	infraaws "github.com/edw-dev/edw/infra/aws"
	"github.com/edw-dev/edw/infra/images"
	"github.com/edw-dev/edw/infra/karpenter"
	"github.com/edw-dev/edw/infra/kube"
	"github.com/edw-dev/edw/internal/permissions"
)

// workloadPolicy renders identity's policy from the permissions table: one
// statement per resource role it touches, naming exactly those resources'
// ARNs (the stack's own queue, and each route's). Router resources exist
// only with routes; a stack without them grants nothing there.
func workloadPolicy(perms permissions.Table, identity string, arns map[string][]pulumi.StringInput) pulumi.StringOutput {
	var on []string
	var values []pulumi.StringInput
	for _, r := range perms.Resources("aws", identity) {
		if len(arns[r]) == 0 && routerResources[r] {
			continue
		}
		on = append(on, r)
		values = append(values, arns[r]...)
	}
	return infraaws.DocumentOf(values, func(v []string) []infraaws.Statement {
		out := make([]infraaws.Statement, len(on))
		for i, r := range on {
			n := len(arns[r])
			out[i] = infraaws.Statement{Sid: sid(r), Action: perms.Actions("aws", identity, r), Resource: v[:n:n]}
			v = v[n:]
		}
		return out
	})
}

// sid turns a resource role (queue, dlq) into a statement id (Queue, Dlq).
func sid(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

// readerGroup is the Kubernetes group aws-auth maps edw:clusterReaders to.
const readerGroup = "edw:readers"

func awsReaders(cfg *Config) kube.Readers {
	if len(cfg.ClusterReaders) == 0 {
		return kube.Readers{}
	}
	return kube.Readers{
		Groups:            []string{readerGroup},
		Kinds:             []kube.Kind{{Group: "karpenter.sh", Resource: "nodepools"}, {Group: "karpenter.k8s.aws", Resource: "ec2nodeclasses"}},
		ReleaseNamespaces: []string{infraaws.KarpenterNamespace},
	}
}

// deployAWS builds the aws stack: network, EKS with Karpenter, SQS + DLQ,
// DynamoDB, IRSA roles, ECR, images, then the Kubernetes layer.
func deployAWS(ctx *pulumi.Context, cfg *Config) (pulumi.Map, error) {
	tags := stackTags(ctx, cfg)
	providerArgs, err := awsProviderArgs(ctx.GetConfig, cfg.Region, tags)
	if err != nil {
		return nil, err
	}
	provider, err := aws.NewProvider(ctx, "aws", providerArgs)
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
	if partition.DnsSuffix == "" {
		return nil, fmt.Errorf("aws partition %s: no DNS suffix", partition.Partition)
	}
	acct := infraaws.Account{ID: caller.AccountId, Partition: partition.Partition, Region: cfg.Region, DNSSuffix: partition.DnsSuffix}
	if err := checkSpotRole(ctx, cfg, withAWS); err != nil {
		return nil, err
	}

	var zones []string
	if cfg.Network.VPCID == "" {
		az, err := aws.GetAvailabilityZones(ctx, &aws.GetAvailabilityZonesArgs{
			State: pulumi.StringRef("available"),
			// Regular zones only: Local and Wavelength Zones are opt-in and cannot
			// host an EKS control plane's subnets.
			Filters: []aws.GetAvailabilityZonesFilter{{Name: "opt-in-status", Values: []string{"opt-in-not-required"}}},
			// EKS does not support these zones for the control plane.
			ExcludeZoneIds: infraaws.EKSUnsupportedZoneIDs(),
		}, withAWS)
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
	karpenterNode, err := infraaws.NewKarpenterNodeRole(ctx, "edw-karpenter-node", acct, nil, withAWS)
	if err != nil {
		return nil, err
	}
	cluster, err := infraaws.NewCluster(ctx, "edw", infraaws.ClusterArgs{
		Name: cfg.ClusterName, KubernetesVersion: cfg.KubernetesVersion,
		VPCID: network.VPCID, PrivateSubnetIDs: network.PrivateSubnetIDs, PublicSubnetIDs: network.PublicSubnetIDs,
		SystemNodeSize: cfg.SystemNodeSize, SystemNodeCount: cfg.SystemNodeCount,
		KarpenterNodeRole: karpenterNode.GrantedRole, Account: acct, Provider: provider,
		Readers: cfg.ClusterReaders, ReaderGroup: readerGroup, Admins: cfg.ClusterAdmins,
		LogRetentionDays: cfg.ControlPlaneLogRetentionDays, RetainLogs: cfg.RetainData,
	}, withAWS)
	if err != nil {
		return nil, err
	}
	queue, err := infraaws.NewQueue(ctx, "edw", infraaws.QueueArgs{
		VisibilityTimeout: cfg.Consumer.VisibilityTimeout, MaxReceiveCount: cfg.Consumer.MaxReceiveCount,
		Retain: cfg.RetainData, Protect: cfg.ProtectData,
	}, withAWS)
	if err != nil {
		return nil, err
	}
	table, err := infraaws.NewTable(ctx, "edw-results", infraaws.TableArgs{Retain: cfg.RetainData, Protect: cfg.ProtectData}, withAWS)
	if err != nil {
		return nil, err
	}

	// The workload's and KEDA's grants come from the permissions table: exactly
	// the actions their calls need, each on the one resource it touches.
	perms, err := permissions.Load()
	if err != nil {
		return nil, err
	}
	resources := map[string][]pulumi.StringInput{"queue": {queue.ARN}, "dlq": {queue.DLQARN}, "table": {table.ARN}}
	routeARNs := map[string][]pulumi.StringInput{}
	router, err := awsRouter(ctx, cfg, acct, resources, routeARNs, withAWS)
	if err != nil {
		return nil, err
	}
	role := func(identity string, sa kube.ServiceAccount) (*infraaws.ServiceAccountRole, error) {
		return infraaws.NewServiceAccountRole(ctx, "edw-"+identity, infraaws.ServiceAccountRoleArgs{
			Subject: sa.Subject(), OIDCProviderARN: cluster.OIDCProviderARN, OIDCIssuer: cluster.OIDCIssuer,
			Policy: workloadPolicy(perms, identity, withRoutes(identity, resources, routeARNs)),
		}, withAWS)
	}
	consumerRole, err := role("consumer", kube.ConsumerServiceAccount)
	if err != nil {
		return nil, err
	}
	producerRole, err := role("producer", kube.ProducerServiceAccount)
	if err != nil {
		return nil, err
	}
	kedaRole, err := role("keda", kube.KedaServiceAccount)
	if err != nil {
		return nil, err
	}

	var monitoring *infraaws.Monitoring
	if cfg.Monitoring.Enabled {
		monitoring, err = infraaws.NewMonitoring(ctx, "edw", infraaws.MonitoringArgs{
			Account: acct, Name: cfg.ClusterName, QueueName: queue.Name, DLQName: queue.DLQName, Table: table.Name,
			OldestMessageAlarmSeconds: cfg.Monitoring.OldestMessageSeconds, AlertEmails: cfg.Monitoring.AlertEmails, Router: router,
		}, withAWS)
		if err != nil {
			return nil, err
		}
	}
	if err := awsRouterAlarms(ctx, cfg, router, monitoring, withAWS); err != nil {
		return nil, err
	}

	k8s, err := kubernetes.NewProvider(ctx, "eks", &kubernetes.ProviderArgs{Kubeconfig: cluster.Kubeconfig})
	if err != nil {
		return nil, fmt.Errorf("kubernetes provider: %w", err)
	}
	karp, err := infraaws.NewKarpenter(ctx, "edw-karpenter", infraaws.KarpenterArgs{
		Account: acct, ClusterName: cfg.ClusterName, ClusterReady: cluster.Name,
		OIDCProviderARN: cluster.OIDCProviderARN, OIDCIssuer: cluster.OIDCIssuer,
		NodeRole: karpenterNode, NodeGroup: cluster.NodeGroup, Provider: k8s, ChartVersion: cfg.Charts.Karpenter,
		CapacityTypes: cfg.CapacityTypes, Architectures: cfg.Architectures, CPULimit: cfg.NodeCPULimit,
	}, withAWS)
	if err != nil {
		return nil, err
	}

	registry, err := infraaws.NewRegistry(ctx, "edw", infraaws.RegistryArgs{Prefix: cfg.ClusterName}, withAWS)
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
		System: kube.Placement{
			NodeSelector: map[string]string{infraaws.SystemPoolLabel: "system"},
			Tolerations:  []kube.Toleration{{Key: infraaws.SystemTaintKey, Operator: "Exists", Effect: "NoSchedule"}},
		},
		// The system nodes are tainted; the workload runs only on the pool's nodes.
		Workload: kube.Placement{NodeSelector: map[string]string{karpenter.PoolLabel: karpenter.WorkloadPool}},
		Readers:  awsReaders(cfg),
		Ready:    []pulumi.Resource{cluster.NodeGroup, karp.Release, karp.NodePool},
	}
	awsTargetRoutes(cfg, router, &target)
	if _, err := kube.NewWorkload(ctx, "edw", workloadArgs(cfg, target)); err != nil {
		return nil, err
	}

	out := pulumi.Map{
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
	}
	if monitoring != nil {
		out["dashboardUrl"], out["alertTopicArn"] = monitoring.DashboardURL, monitoring.Topic
	}
	awsRouterOutputs(out, router)
	return out, nil
}

package aws

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// ControllerPolicy is Karpenter's controller policy, statement by statement as
// upstream's getting-started CloudFormation of the pinned version has it
// (website/content/en/v1.12/getting-started/getting-started-with-karpenter/
// cloudformation.yaml in aws/karpenter-provider-aws), grouped by the same
// concerns and keeping upstream's statement ids, so a chart bump shows the
// drift in the test that compares both. Where upstream allows two partitions'
// service principals, this allows only the stack's own.
func ControllerPolicy(acct Account, cluster string, queueARN, nodeRoleARN pulumi.StringInput) pulumi.StringOutput {
	return DocumentOf([]pulumi.StringInput{queueARN, nodeRoleARN}, func(v []string) []Statement {
		k := karpenterScope{acct: acct, cluster: cluster}
		var out []Statement
		for _, group := range [][]Statement{
			k.nodeLifecycle(), k.iamIntegration(v[1]), k.eksIntegration(), k.interruption(v[0]), k.zonalShift(), k.resourceDiscovery(),
		} {
			out = append(out, group...)
		}
		return out
	})
}

// karpenterScope holds what every statement is scoped by.
type karpenterScope struct {
	acct    Account
	cluster string
}

func (k karpenterScope) ec2(kinds ...string) []string {
	out := make([]string, 0, len(kinds))
	for _, kind := range kinds {
		out = append(out, k.acct.ARN("ec2", k.acct.Region, "*", kind+"/*"))
	}
	return out
}

func (k karpenterScope) instanceProfiles() []string {
	return []string{k.acct.ARN("iam", "", k.acct.ID, "instance-profile/*")}
}

func (k karpenterScope) clusterARN() []string {
	return []string{k.acct.ARN("eks", k.acct.Region, k.acct.ID, "cluster/"+k.cluster)}
}

// ownedBy is the condition "the resource is tagged as this cluster's".
func (k karpenterScope) ownedBy(prefix string) map[string]string {
	return map[string]string{prefix + "/kubernetes.io/cluster/" + k.cluster: "owned"}
}

// requestTagged are the tags Karpenter must put on what it creates.
func (k karpenterScope) requestTagged() map[string]any {
	return map[string]any{
		"aws:RequestTag/kubernetes.io/cluster/" + k.cluster: "owned",
		"aws:RequestTag/eks:eks-cluster-name":               k.cluster,
	}
}

func nodePoolTag(prefix string) map[string]string {
	return map[string]string{prefix + "/karpenter.sh/nodepool": "*"}
}

func (k karpenterScope) nodeLifecycle() []Statement {
	launched := k.ec2("fleet", "instance", "volume", "network-interface", "launch-template", "spot-instances-request")
	creationTagging := k.requestTagged()
	creationTagging["ec2:CreateAction"] = []string{"RunInstances", "CreateFleet", "CreateLaunchTemplate"}
	return []Statement{
		{Sid: "AllowScopedEC2InstanceAccessActions", Action: []string{"ec2:RunInstances", "ec2:CreateFleet"},
			Resource: append([]string{
				k.acct.ARN("ec2", k.acct.Region, "", "image/*"), k.acct.ARN("ec2", k.acct.Region, "", "snapshot/*"),
			}, k.ec2("security-group", "subnet", "capacity-reservation", "placement-group")...)},
		{Sid: "AllowScopedEC2LaunchTemplateAccessActions", Action: []string{"ec2:RunInstances", "ec2:CreateFleet"},
			Resource: k.ec2("launch-template"),
			Condition: map[string]any{
				"StringEquals": k.ownedBy("aws:ResourceTag"),
				"StringLike":   nodePoolTag("aws:ResourceTag"),
			}},
		{Sid: "AllowScopedEC2InstanceActionsWithTags", Action: []string{"ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"},
			Resource: launched,
			Condition: map[string]any{
				"StringEquals": k.requestTagged(),
				"StringLike":   nodePoolTag("aws:RequestTag"),
			}},
		{Sid: "AllowScopedResourceCreationTagging", Action: []string{"ec2:CreateTags"}, Resource: launched,
			Condition: map[string]any{
				"StringEquals": creationTagging,
				"StringLike":   nodePoolTag("aws:RequestTag"),
			}},
		{Sid: "AllowScopedResourceTagging", Action: []string{"ec2:CreateTags"}, Resource: k.ec2("instance"),
			Condition: map[string]any{
				"StringEquals":              k.ownedBy("aws:ResourceTag"),
				"StringLike":                nodePoolTag("aws:ResourceTag"),
				"StringEqualsIfExists":      map[string]string{"aws:RequestTag/eks:eks-cluster-name": k.cluster},
				"ForAllValues:StringEquals": map[string][]string{"aws:TagKeys": {"eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"}},
			}},
		{Sid: "AllowScopedDeletion", Action: []string{"ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"},
			Resource: k.ec2("instance", "launch-template"),
			Condition: map[string]any{
				"StringEquals": k.ownedBy("aws:ResourceTag"),
				"StringLike":   nodePoolTag("aws:ResourceTag"),
			}},
	}
}

func (k karpenterScope) iamIntegration(nodeRoleARN string) []Statement {
	region := "topology.kubernetes.io/region"
	nodeClass := "karpenter.k8s.aws/ec2nodeclass"
	creation := k.requestTagged()
	creation["aws:RequestTag/"+region] = k.acct.Region
	tagging := k.requestTagged()
	tagging["aws:RequestTag/"+region] = k.acct.Region
	tagging["aws:ResourceTag/kubernetes.io/cluster/"+k.cluster] = "owned"
	tagging["aws:ResourceTag/"+region] = k.acct.Region
	return []Statement{
		{Sid: "AllowPassingInstanceRole", Action: []string{"iam:PassRole"}, Resource: []string{nodeRoleARN},
			Condition: map[string]any{"StringEquals": map[string]any{"iam:PassedToService": []string{k.acct.ServicePrincipal("ec2")}}}},
		{Sid: "AllowScopedInstanceProfileCreationActions", Action: []string{"iam:CreateInstanceProfile"}, Resource: k.instanceProfiles(),
			Condition: map[string]any{
				"StringEquals": creation,
				"StringLike":   map[string]string{"aws:RequestTag/" + nodeClass: "*"},
			}},
		{Sid: "AllowScopedInstanceProfileTagActions", Action: []string{"iam:TagInstanceProfile"}, Resource: k.instanceProfiles(),
			Condition: map[string]any{
				"StringEquals": tagging,
				"StringLike":   map[string]string{"aws:ResourceTag/" + nodeClass: "*", "aws:RequestTag/" + nodeClass: "*"},
			}},
		{Sid: "AllowScopedInstanceProfileActions",
			Action:   []string{"iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"},
			Resource: k.instanceProfiles(),
			Condition: map[string]any{
				"StringEquals": map[string]string{"aws:ResourceTag/kubernetes.io/cluster/" + k.cluster: "owned", "aws:ResourceTag/" + region: k.acct.Region},
				"StringLike":   map[string]string{"aws:ResourceTag/" + nodeClass: "*"},
			}},
	}
}

func (k karpenterScope) eksIntegration() []Statement {
	return []Statement{{Sid: "AllowAPIServerEndpointDiscovery", Action: []string{"eks:DescribeCluster"}, Resource: k.clusterARN()}}
}

func (k karpenterScope) interruption(queueARN string) []Statement {
	return []Statement{{Sid: "AllowInterruptionQueueActions", Action: []string{"sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"},
		Resource: []string{queueARN}}}
}

func (k karpenterScope) zonalShift() []Statement {
	return []Statement{{Sid: "AllowZonalShiftStatusReadOnly", Action: []string{"arc-zonal-shift:GetManagedResource"}, Resource: k.clusterARN()}}
}

// resourceDiscovery holds the calls IAM cannot scope to a resource.
func (k karpenterScope) resourceDiscovery() []Statement {
	return []Statement{
		{Sid: "AllowRegionalReadActions", Resource: []string{"*"},
			Condition: map[string]any{"StringEquals": map[string]string{"aws:RequestedRegion": k.acct.Region}},
			Action: []string{
				"ec2:DescribeCapacityReservations", "ec2:DescribeImages", "ec2:DescribeInstances", "ec2:DescribeInstanceTypeOfferings",
				"ec2:DescribeInstanceTypes", "ec2:DescribeLaunchTemplates", "ec2:DescribePlacementGroups", "ec2:DescribeSecurityGroups",
				"ec2:DescribeSpotPriceHistory", "ec2:DescribeSubnets",
			}},
		{Sid: "AllowSSMReadActions", Action: []string{"ssm:GetParameter"},
			Resource: []string{k.acct.ARN("ssm", k.acct.Region, "", "parameter/aws/service/*")}},
		{Sid: "AllowPricingReadActions", Action: []string{"pricing:GetProducts"}, Resource: []string{"*"}},
		// The EC2NodeClass finalizer lists the class's instance profiles; denied,
		// it never clears and destroy waits for it.
		{Sid: "AllowUnscopedInstanceProfileListAction", Action: []string{"iam:ListInstanceProfiles"}, Resource: []string{"*"}},
		{Sid: "AllowInstanceProfileReadActions", Action: []string{"iam:GetInstanceProfile"}, Resource: k.instanceProfiles()},
		// The instance-status controller replaces unhealthy instances with it.
		{Sid: "AllowUnscopedEC2DescribeInstanceStatus", Action: []string{"ec2:DescribeInstanceStatus"}, Resource: []string{"*"}},
	}
}

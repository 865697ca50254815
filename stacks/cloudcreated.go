package stacks

// Disposition says who answers for a resource a cloud creates on the stack's behalf.
type Disposition string

const (
	// Owned: the stack creates it first (the cloud then uses it), so its
	// settings are the stack's and destroy removes it.
	Owned Disposition = "owned by the stack"
	// RemovedWith: the cloud deletes it with a resource the stack owns.
	RemovedWith Disposition = "removed with its parent"
	// Checked: an account-wide prerequisite shared with other stacks; preview
	// fails with the command that creates it when it is missing.
	Checked Disposition = "prerequisite, checked at preview"
	// Left: stays after destroy, costs nothing, and docs/real-account.md says so.
	Left Disposition = "left behind, documented"
)

// CloudCreated is one resource a cloud (or a controller edw installs) creates
// when a feature is on, outside any Pulumi resource.
type CloudCreated struct {
	Cloud Cloud
	// Name is how the cloud names it; {cluster} is edw:clusterName.
	Name string
	// When is the feature that makes the cloud create it.
	When        string
	Disposition Disposition
	// Type is the resource type: the stack's own (Owned), or the stack's
	// resource the cloud removes it with (RemovedWith).
	Type string
	// Check is the invoke preview makes to find it (Checked).
	Check string
	// Source is where the cloud documents it.
	Source string
}

// CloudCreatedResources lists them (issue 21, item 18). A test holds the stack
// to each entry, and docs/real-account.md names each one.
func CloudCreatedResources() []CloudCreated {
	return []CloudCreated{
		{Cloud: AWS, Name: "/aws/eks/{cluster}/cluster", When: "control-plane logging (always on)", Disposition: Owned,
			Type: "aws:cloudwatch/logGroup:LogGroup", Source: "https://docs.aws.amazon.com/eks/latest/userguide/control-plane-logs.html"},
		{Cloud: AWS, Name: "AWSServiceRoleForEC2Spot", When: "edw:capacityTypes includes spot", Disposition: Checked,
			Check: "aws:iam/getRoles:getRoles", Source: "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/service-linked-roles-spot-instance-requests.html"},
		{Cloud: AWS, Name: "AWSServiceRoleForAmazonEKS", When: "any EKS cluster", Disposition: Left,
			Source: "https://docs.aws.amazon.com/eks/latest/userguide/using-service-linked-roles-eks.html"},
		{Cloud: AWS, Name: "AWSServiceRoleForAmazonEKSNodegroup", When: "any EKS managed node group", Disposition: Left,
			Source: "https://docs.aws.amazon.com/eks/latest/userguide/using-service-linked-roles-eks-nodegroups.html"},
		{Cloud: AWS, Name: "eks-cluster-sg-{cluster}-*", When: "any EKS cluster (the cluster security group)", Disposition: RemovedWith,
			Type: "eks:index:Cluster", Source: "https://docs.aws.amazon.com/eks/latest/userguide/sec-group-reqs.html"},
		{Cloud: AWS, Name: "Karpenter instance profiles and instances", When: "Karpenter's EC2NodeClass and NodePool", Disposition: RemovedWith,
			Type: "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass", Source: "https://karpenter.sh/docs/concepts/nodeclasses/"},
		{Cloud: Azure, Name: "MC_{resourceGroup}_{cluster}_{location}", When: "any AKS cluster (the node resource group)", Disposition: RemovedWith,
			Type: "azure-native:containerservice/v20241002preview:ManagedCluster", Source: "https://learn.microsoft.com/azure/aks/faq#why-are-two-resource-groups-created-with-aks"},
		{Cloud: Azure, Name: "NetworkWatcherRG", When: "the first virtual network in a region (AKS's own)", Disposition: Left,
			Source: "https://learn.microsoft.com/azure/network-watcher/network-watcher-create"},
	}
}

// Package kube turns a Target — everything the Kubernetes layer needs to know about
// a cloud — into what runs in the cluster: KEDA, the consumer and the producer. It
// never imports a cloud package; the same code serves EKS and AKS.
package kube

import (
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// ServiceAccount names a Kubernetes service account. Cloud packages build their
// federated trust (IRSA role trust, Workload ID federated credential) for exactly
// these names, so they are fixed here and passed to the cloud by the stack.
type ServiceAccount struct {
	Namespace string
	Name      string
}

// Subject is the OIDC subject Kubernetes puts in the service account's tokens.
func (s ServiceAccount) Subject() string {
	return "system:serviceaccount:" + s.Namespace + ":" + s.Name
}

// The service accounts edw creates. KEDA's is the chart's default operator account.
var (
	ConsumerServiceAccount = ServiceAccount{Namespace: "edw", Name: "edw-consumer"}
	ProducerServiceAccount = ServiceAccount{Namespace: "edw", Name: "edw-producer"}
	KedaServiceAccount     = ServiceAccount{Namespace: "keda", Name: "keda-operator"}
)

// Target is the only seam between a cloud and Kubernetes.
type Target struct {
	// Provider is the cluster's Kubernetes provider.
	Provider *kubernetes.Provider
	// Cloud is "aws" or "azure"; it becomes EDW_CLOUD in the workload's env.
	Cloud string
	// Trigger is the KEDA scaler that reads the work queue's length.
	Trigger Trigger
	// Env is the workload contract's environment (queue, table, region or account),
	// shared by the consumer and the producer.
	Env map[string]pulumi.StringInput
	// Identities carry what each service account needs for federated identity.
	Consumer Identity
	Producer Identity
	Keda     Identity
	// Images are the workload images by digest.
	Images Images
	// System places cluster add-ons (KEDA) on the system nodes.
	System Placement
	// Workload lets the consumer and producer onto the nodes the provisioner buys,
	// spot ones included (AKS taints spot nodes; Karpenter does not).
	Workload Placement
	// CredentialsSecret, when set, names an existing Secret in the workload
	// namespace that holds the queue's and table's credentials: the pods load it
	// as environment and KEDA reads it through Trigger.SecretParams. Empty means
	// pod identity.
	CredentialsSecret string
	// Readers may read what the stack manages in the cluster (CI previews).
	Readers Readers
	// Ready are the resources the cluster must have before anything is installed
	// (the system node group or pool); releases depend on them so destroy removes
	// workloads before nodes.
	Ready []pulumi.Resource
	// Routes are the router's pipelines: each gets its own consumer Deployment,
	// TriggerAuthentication and ScaledObject, all under the consumer's one
	// ServiceAccount. None leaves the workload exactly the single pipeline.
	Routes []Route
	// RouterEnv says where the router is (EDW_EVENT_BUS_NAME or
	// EDW_EVENTGRID_ENDPOINT); with routes, the producer Job publishes there.
	// Empty (a kubernetes stack has no router) keeps it on the queue.
	RouterEnv map[string]pulumi.StringInput
}

// Route is one route's queue, as the consumer and KEDA see it, and its
// scaling overrides (nil: the consumer's own setting).
type Route struct {
	// Name is a DNS label; the route's objects are edw-consumer-<name>.
	Name string
	// Metadata replaces the trigger's queue metadata (queueURL, or queueName).
	Metadata pulumi.StringMap
	// Env replaces the workload contract's queue variables (EDW_QUEUE_URL and
	// EDW_DLQ_URL, or EDW_QUEUE_NAME and EDW_POISON_QUEUE_NAME).
	Env map[string]pulumi.StringInput

	MessagesPerPod, MinReplicas, MaxReplicas, MaxReceiveCount *int
}

// RouteConsumerName names a route's Deployment, TriggerAuthentication and
// ScaledObject (and its pods' app label).
func RouteConsumerName(route string) string {
	return ConsumerServiceAccount.Name + "-" + route
}

// Trigger is a KEDA trigger without the scaling numbers, which come from config.
type Trigger struct {
	// Type is the KEDA scaler: "aws-sqs-queue" or "azure-queue".
	Type string
	// Metadata is the scaler's identifying metadata (queueURL and awsRegion, or
	// queueName and accountName); queueLength and activationQueueLength are added by Consumer.
	Metadata pulumi.StringMap
	// PodIdentity is the TriggerAuthentication provider: "aws" or "azure-workload".
	PodIdentity string
	// IdentityID is the Workload ID client id KEDA uses for this trigger (azure only).
	IdentityID pulumi.StringInput
	// SecretParams map the scaler's authentication parameters to keys of
	// Target.CredentialsSecret (awsAccessKeyID → AWS_ACCESS_KEY_ID); used
	// instead of PodIdentity when the target has a credentials Secret.
	SecretParams map[string]string
}

// Identity is how one service account gets cloud credentials.
type Identity struct {
	// Annotations go on the ServiceAccount (eks.amazonaws.com/role-arn, or
	// azure.workload.identity/client-id).
	Annotations pulumi.StringMap
	// PodLabels go on pods using the account (azure.workload.identity/use: "true").
	PodLabels map[string]string
}

// Images are fully qualified references by digest.
type Images struct {
	Producer pulumi.StringInput
	Consumer pulumi.StringInput
}

// Placement is a node selector and tolerations.
type Placement struct {
	NodeSelector map[string]string
	Tolerations  []Toleration
}

// Toleration is a plain toleration; kube turns it into the API type.
type Toleration struct {
	Key, Operator, Value, Effect string
}

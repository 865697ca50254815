package stacks

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	infraaws "github.com/edw-dev/edw/infra/aws"
)

// Cloud names the cloud a stack deploys to.
type Cloud string

const (
	AWS   Cloud = "aws"
	Azure Cloud = "azure"
	// Kubernetes deploys onto an existing cluster, with a queue and table that
	// already exist: no cloud resources at all.
	Kubernetes Cloud = "kubernetes"
)

// NodeProvisioning is how AKS adds nodes for the workload.
type NodeProvisioning string

const (
	// NodeAutoProvisioning is AKS Node Auto Provisioning (Karpenter managed by AKS).
	NodeAutoProvisioning NodeProvisioning = "auto"
	// ClusterAutoscaler is an autoscaling user pool, plus a spot pool when spot is allowed.
	ClusterAutoscaler NodeProvisioning = "cluster-autoscaler"
)

// Config is the whole stack configuration, typed and validated. Every value in it
// has been checked; the components trust it.
type Config struct {
	Cloud Cloud
	// Region is aws:region or azure-native:location.
	Region string

	ClusterName       string
	KubernetesVersion string
	SystemNodeSize    string
	SystemNodeCount   int

	// CapacityTypes is a subset of "spot", "on-demand", in the order given.
	CapacityTypes []string
	// Architectures is a subset of "amd64", "arm64", in the order given.
	Architectures []string
	// NodeCPULimit caps the vCPUs the node provisioner may launch for the workload.
	NodeCPULimit int
	// NodeProvisioning is set only on Azure stacks.
	NodeProvisioning NodeProvisioning

	Consumer ConsumerConfig
	Producer ProducerConfig
	Images   ImageRefs
	Charts   ChartVersions

	// RetainData keeps the queues and the table when the stack is destroyed.
	RetainData bool
	// AdoptStorage is the storage account (Azure) that a destroy with
	// RetainData kept: the next up imports it, its queues, table and resource
	// group instead of failing to create them.
	AdoptStorage string
	// ProtectData sets Pulumi's protect on the same resources (and DynamoDB's
	// deletion protection), so no destroy, replacement or refactor deletes
	// them until it is turned off with an `up` of its own.
	ProtectData bool
	Tags        map[string]string

	Network       NetworkConfig
	ResourceGroup string

	// ClusterReaders may read, never change, what edw put in the cluster: the
	// identities CI previews run as. IAM role ARNs on AWS (mapped in aws-auth),
	// Entra object ids on Azure.
	ClusterReaders []string
	// ClusterAdmins have full access to the cluster besides the identity that
	// created it: Entra object ids on Azure, IAM role ARNs on AWS (mapped to
	// system:masters in aws-auth). Empty means only the identity that runs the
	// first `pulumi up`.
	ClusterAdmins []string
	// ControlPlaneLogRetentionDays (aws) keeps the EKS control-plane logs this long.
	ControlPlaneLogRetentionDays int

	// Monitoring: the CloudWatch dashboard and alarms (aws) or the Azure Monitor
	// alerts (azure), and the addresses they mail.
	Monitoring Monitoring

	// Existing is set only on kubernetes stacks.
	Existing *ExistingConfig

	// Routes put a router (EventBridge bus, Event Grid topic) in front of
	// one queue and consumer per route; none keeps the single pipeline only.
	Routes []Route
	// RouterArchiveDays (aws) keeps the bus's events for replay; 0 keeps none.
	RouterArchiveDays int
}

// Monitoring is what the stack watches and whom it tells.
type Monitoring struct {
	Enabled              bool
	AlertEmails          []string
	OldestMessageSeconds int // aws
	BacklogMessages      int // azure
	// PodMonitor creates a Prometheus Operator PodMonitor for the consumer
	// (clusters that run the operator; its CRD must exist).
	PodMonitor bool
	// ManagedPrometheus (azure) sends the cluster's and the consumer's metrics
	// to an Azure Monitor workspace; ContainerInsights (azure) sends container
	// logs and inventory to a Log Analytics workspace. Both are billed by volume.
	ManagedPrometheus bool
	ContainerInsights bool
}

// ExistingConfig is a kubernetes stack's queue, table and credentials, all of
// which exist before edw runs.
type ExistingConfig struct {
	// Backend is the queue and table service: aws (SQS + DynamoDB) or azure.
	Backend Cloud
	// AWS: queue and DLQ URLs, table name, region, optional endpoint (emulators).
	QueueURL, DLQURL, AWSRegion, AWSEndpoint string
	// Azure: storage account (empty when the Secret holds a connection string),
	// queue and poison queue names.
	StorageAccount, QueueName, PoisonQueueName string
	TableName                                  string
	// CredentialsSecret names a Secret in the workload namespace holding the
	// backend's credentials; empty means pod identity (the role ARNs or client
	// ids below), never a value in the stack config.
	CredentialsSecret string
	// ConsumerIdentity, ProducerIdentity, KedaIdentity: IRSA role ARNs (aws) or
	// Workload ID client ids (azure).
	ConsumerIdentity, ProducerIdentity, KedaIdentity string
	// InstallKeda installs KEDA with Helm; false where the cluster already runs it.
	InstallKeda bool
	// CreateNamespace creates the workload namespace; false where it exists
	// (with the credentials Secret in it).
	CreateNamespace bool
	// Registry is where ko pushes the images when no prebuilt ones are given.
	Registry string
}

// ConsumerConfig sizes the consumer and tunes how KEDA scales it.
type ConsumerConfig struct {
	MinReplicas           int
	MaxReplicas           int
	MessagesPerPod        int
	ActivationQueueLength int
	PollingInterval       time.Duration
	Cooldown              time.Duration
	CPU                   string
	Memory                string
	MemoryLimit           string
	MaxReceiveCount       int
	VisibilityTimeout     time.Duration
}

// ProducerConfig is the optional in-cluster producer Job.
type ProducerConfig struct {
	Enabled      bool
	MessageCount int
	// Rate is messages per second; 0 sends as fast as the queue accepts.
	Rate int
}

// ImageRefs are prebuilt images by digest; when empty, edw builds them with ko.
type ImageRefs struct {
	Producer string
	Consumer string
}

// Prebuilt reports whether config supplied both images, so nothing is built.
func (r ImageRefs) Prebuilt() bool { return r.Producer != "" && r.Consumer != "" }

// ChartVersions pins the Helm charts edw installs.
type ChartVersions struct {
	Keda      string
	Karpenter string
}

// NetworkConfig names an existing AWS VPC; when VPCID is empty edw creates one.
type NetworkConfig struct {
	VPCID            string
	PrivateSubnetIDs []string
	PublicSubnetIDs  []string
}

// Defaults that are the same on both clouds. Pulumi.yaml declares the same values;
// TestPulumiYAMLDefaultsMatchCode keeps the two in step.
const (
	DefaultKubernetesVersion     = "1.34"
	DefaultSystemNodeCount       = 2
	DefaultNodeCPULimit          = 64
	DefaultMinReplicas           = 0
	DefaultMaxReplicas           = 10
	DefaultMessagesPerPod        = 50
	DefaultActivationQueueLength = 0
	DefaultPollingSeconds        = 15
	DefaultCooldownSeconds       = 120
	// The consumer's requests and memory limit are measured, not guessed
	// (docs/cost.md; workload/internal/cost's tests keep these the figures
	// `make bench` measured). At the default messagesPerPod a pod has more
	// backlog than its 4 receivers hold, so it works flat out: the CPU request
	// is the CPU it used so, the memory request its peak RSS with 1.5× headroom,
	// and the limit the peak RSS at --receivers 100, the most in flight its
	// flags allow, with 1.5× headroom.
	DefaultConsumerCPU           = "300m"
	DefaultConsumerMemory        = "48Mi"
	DefaultConsumerMemoryLimit   = "368Mi"
	DefaultMaxReceiveCount       = 5
	DefaultVisibilitySeconds     = 60
	DefaultProducerMessageCount  = 1000
	DefaultProducerRate          = 0
	DefaultKedaChartVersion      = "2.21.0"
	DefaultKarpenterChartVersion = "1.12.1"
	// DefaultOldestMessageSeconds: a message older than 15 minutes means the
	// consumers are not keeping up (or not running).
	DefaultOldestMessageSeconds = 900
	// DefaultBacklogMessages: Azure's queue metric is hourly, so the alert asks
	// "is work piling up", not "is anything waiting".
	DefaultBacklogMessages = 1000
)

var (
	DefaultCapacityTypes = []string{"spot", "on-demand"}
	DefaultArchitectures = []string{"amd64", "arm64"}
)

// DefaultSystemNodeSize is the cheapest size that holds the system pods
// (CoreDNS, Karpenter or the AKS add-ons, KEDA) with room to spare.
func DefaultSystemNodeSize(c Cloud) string {
	if c == Azure {
		return "Standard_D2s_v5"
	}
	return "t3.medium"
}

var (
	kubernetesVersionRE = regexp.MustCompile(`^1\.[0-9]{2}$`)
	clusterNameRE       = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}[a-z0-9]$`)
	ec2InstanceTypeRE   = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9]+$`)
	azureVMSizeRE       = regexp.MustCompile(`^Standard_[A-Za-z0-9_]+$`)
	quantityRE          = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$`)
	chartVersionRE      = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)
	imageByDigestRE     = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+@sha256:[0-9a-f]{64}$`)
	tagKeyRE            = regexp.MustCompile(`^[A-Za-z0-9_.:/=+@-]{1,128}$`)
	vpcIDRE             = regexp.MustCompile(`^vpc-[0-9a-f]{8,17}$`)
	subnetIDRE          = regexp.MustCompile(`^subnet-[0-9a-f]{8,17}$`)
	resourceGroupRE     = regexp.MustCompile(`^[-\w.()]{0,89}[-\w()]$`)
	awsRegionRE         = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$`)
	azureLocationRE     = regexp.MustCompile(`^[a-z][a-z0-9]+$`)
	iamRoleARNRE        = regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$`)
	entraObjectIDRE     = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	k8sNameRE           = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9:._@-]{0,252}$`)
	dnsLabelRE          = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	sqsURLRE            = regexp.MustCompile(`^https?://[^/\s]+/[0-9]{12}/[A-Za-z0-9_-]{1,80}$`)
	httpURLRE           = regexp.MustCompile(`^https?://[^/\s]+/?$`)
	dynamoTableRE       = regexp.MustCompile(`^[A-Za-z0-9_.-]{3,255}$`)
	storageAccountRE    = regexp.MustCompile(`^[a-z0-9]{3,24}$`)
	azureQueueRE        = regexp.MustCompile(`^[a-z0-9]([a-z0-9]|-[a-z0-9]){2,62}$`)
	azureTableRE        = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{2,62}$`)
	emailRE             = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
	registryRE          = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$`)
)

// ConfigError is one invalid stack config value. Its message is one line naming
// the key, the value and what is allowed, so `pulumi preview` says exactly what to fix.
type ConfigError struct {
	Key     string
	Value   string
	Allowed string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("invalid stack config %s = %q: %s", e.Key, e.Value, e.Allowed)
}

// configReader reads raw strings from stack config and collects every error, so one
// preview reports all bad keys rather than the first.
type configReader struct {
	get  func(key string) (string, bool)
	errs []error
}

func (r *configReader) fail(key, value, allowed string) {
	r.errs = append(r.errs, &ConfigError{Key: key, Value: value, Allowed: allowed})
}

func (r *configReader) str(key, def string) (string, bool) {
	v, ok := r.get(key)
	if !ok || v == "" {
		return def, false
	}
	return v, true
}

func (r *configReader) intIn(key string, def, lo, hi int) int {
	raw, set := r.str(key, "")
	if !set {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(raw))
	if err != nil || n < lo || n > hi {
		r.fail(key, raw, fmt.Sprintf("want an integer from %d to %d", lo, hi))
		return def
	}
	return n
}

func (r *configReader) boolean(key string, def bool) bool {
	raw, set := r.str(key, "")
	if !set {
		return def
	}
	b, err := strconv.ParseBool(raw)
	if err != nil {
		r.fail(key, raw, "want true or false")
		return def
	}
	return b
}

func (r *configReader) matching(key, def string, re *regexp.Regexp, allowed string) string {
	v, set := r.str(key, def)
	if set && !re.MatchString(v) {
		r.fail(key, v, allowed)
		return def
	}
	return v
}

// list reads a JSON array of strings (how `pulumi config set --path` and Pulumi.yaml
// arrays arrive). Each element must be one of allowed, at most once; an empty list
// is rejected because every list edw reads needs at least one entry.
func (r *configReader) list(key string, def []string, allowed []string) []string {
	raw, set := r.str(key, "")
	if !set {
		return slices.Clone(def)
	}
	want := "want a non-empty list of " + strings.Join(allowed, ", ") + " without repeats"
	var items []string
	if err := json.Unmarshal([]byte(raw), &items); err != nil || len(items) == 0 {
		r.fail(key, raw, want)
		return slices.Clone(def)
	}
	seen := map[string]bool{}
	for _, it := range items {
		if !slices.Contains(allowed, it) || seen[it] {
			r.fail(key, raw, want)
			return slices.Clone(def)
		}
		seen[it] = true
	}
	return items
}

func (r *configReader) idList(key string, re *regexp.Regexp, allowed string) []string {
	raw, set := r.str(key, "")
	if !set {
		return nil
	}
	var items []string
	if err := json.Unmarshal([]byte(raw), &items); err != nil {
		r.fail(key, raw, "want a list of "+allowed)
		return nil
	}
	for _, it := range items {
		if !re.MatchString(it) {
			r.fail(key, raw, "want a list of "+allowed)
			return nil
		}
	}
	if len(items) == 0 {
		return nil
	}
	return items
}

func (r *configReader) tags(key string) map[string]string {
	raw, set := r.str(key, "")
	if !set {
		return map[string]string{}
	}
	var tags map[string]string
	if err := json.Unmarshal([]byte(raw), &tags); err != nil {
		r.fail(key, raw, "want an object of string keys to string values")
		return map[string]string{}
	}
	for k, v := range tags {
		if !tagKeyRE.MatchString(k) || len(v) > 256 || strings.HasPrefix(strings.ToLower(k), "aws:") {
			r.fail(key, raw, fmt.Sprintf("tag %q: keys are 1-128 of letters, digits, _.:/=+@- and not aws:*, values at most 256 characters", k))
			return map[string]string{}
		}
	}
	return tags
}

// onlyOn rejects a key that has no meaning on this cloud, so a copied stack file
// does not silently ignore settings.
// Empty strings and collections count as unset: the Pulumi CLI injects Pulumi.yaml
// defaults ("", [], {}) for every key on every stack.
func (r *configReader) onlyOn(key string, cloud, on Cloud) {
	if v, set := r.str(key, ""); set && v != "[]" && v != "{}" && v != injectedDefaults()[key] && cloud != on {
		r.fail(key, v, fmt.Sprintf("only allowed when edw:cloud is %s", on))
	}
}

// injectedDefaults are the non-empty defaults Pulumi.yaml declares for keys that
// apply to some clouds only. The CLI injects them into every stack (and refuses
// a stack that lacks a declared key without a default), so on the other clouds
// they mean "unset". TestPulumiYAMLDefaultsMatchCode keeps them in step.
func injectedDefaults() map[string]string {
	return map[string]string{
		"edw:installKeda": "true", "edw:createNamespace": "true", "edw:monitoring": "true",
		"edw:alertOldestMessageSeconds": strconv.Itoa(DefaultOldestMessageSeconds),
		"edw:alertBacklogMessages":      strconv.Itoa(DefaultBacklogMessages),
		"edw:managedPrometheus":         "false", "edw:containerInsights": "false",
		"edw:controlPlaneLogRetentionDays": strconv.Itoa(DefaultControlPlaneLogRetentionDays),
		"edw:routerArchiveDays":            "0",
	}
}

// LoadConfig reads and validates the stack config. It registers nothing; callers
// must not register resources when it returns an error.
func LoadConfig(ctx *pulumi.Context) (*Config, error) {
	return parseConfig(ctx.Stack(), func(key string) (string, bool) {
		return ctx.GetConfig(key)
	})
}

// parseConfig is LoadConfig without a Pulumi context: get answers fully qualified
// keys such as "edw:cloud".
func parseConfig(stack string, get func(key string) (string, bool)) (*Config, error) {
	r := &configReader{get: get}
	c := &Config{}

	cloud, _ := r.str("edw:cloud", "")
	switch Cloud(cloud) {
	case AWS, Azure, Kubernetes:
		c.Cloud = Cloud(cloud)
	default:
		r.fail("edw:cloud", cloud, "want aws, azure or kubernetes")
		return nil, errors.Join(r.errs...)
	}
	for _, key := range existingKeys() {
		r.onlyOn(key, c.Cloud, Kubernetes)
	}

	switch c.Cloud {
	case AWS:
		region, _ := r.str("aws:region", "")
		if !awsRegionRE.MatchString(region) {
			r.fail("aws:region", region, "want an AWS region such as us-west-2")
		}
		c.Region = region
	case Kubernetes:
		c.Existing = r.existing()
	case Azure:
		loc, _ := r.str("azure-native:location", "")
		if !azureLocationRE.MatchString(loc) {
			r.fail("azure-native:location", loc, "want an Azure location name such as westus3")
		}
		c.Region = loc
	}

	defName := "edw-" + strings.ToLower(stack)
	c.ClusterName = r.matching("edw:clusterName", defName, clusterNameRE,
		"want 2-32 lower-case letters, digits and hyphens, starting with a letter")
	if _, set := r.str("edw:clusterName", ""); !set && !clusterNameRE.MatchString(defName) {
		r.fail("edw:clusterName", defName, "the stack name does not make a valid cluster name; set edw:clusterName to 2-32 lower-case letters, digits and hyphens")
	}
	c.KubernetesVersion = r.matching("edw:kubernetesVersion", DefaultKubernetesVersion, kubernetesVersionRE,
		"want MAJOR.MINOR such as 1.34")

	if c.Cloud == Azure {
		c.SystemNodeSize = r.matching("edw:systemNodeSize", DefaultSystemNodeSize(Azure), azureVMSizeRE,
			"want an Azure VM size such as Standard_D2s_v5")
	} else {
		c.SystemNodeSize = r.matching("edw:systemNodeSize", DefaultSystemNodeSize(AWS), ec2InstanceTypeRE,
			"want an EC2 instance type such as t3.medium")
	}
	c.SystemNodeCount = r.intIn("edw:systemNodeCount", DefaultSystemNodeCount, 1, 10)

	c.CapacityTypes = r.list("edw:capacityTypes", DefaultCapacityTypes, []string{"spot", "on-demand"})
	c.Architectures = r.list("edw:architectures", DefaultArchitectures, []string{"amd64", "arm64"})
	c.NodeCPULimit = r.intIn("edw:nodeCpuLimit", DefaultNodeCPULimit, 2, 10000)

	r.onlyOn("edw:nodeProvisioning", c.Cloud, Azure)
	if c.Cloud == Azure {
		mode, _ := r.str("edw:nodeProvisioning", string(NodeAutoProvisioning))
		switch NodeProvisioning(mode) {
		case NodeAutoProvisioning, ClusterAutoscaler:
			c.NodeProvisioning = NodeProvisioning(mode)
		default:
			r.fail("edw:nodeProvisioning", mode, "want auto or cluster-autoscaler")
		}
	}

	cc := &c.Consumer
	cc.MinReplicas = r.intIn("edw:consumerMinReplicas", DefaultMinReplicas, 0, 1000)
	cc.MaxReplicas = r.intIn("edw:consumerMaxReplicas", DefaultMaxReplicas, 1, 1000)
	if cc.MaxReplicas < cc.MinReplicas {
		r.fail("edw:consumerMaxReplicas", strconv.Itoa(cc.MaxReplicas),
			fmt.Sprintf("must be at least edw:consumerMinReplicas (%d)", cc.MinReplicas))
	}
	cc.MessagesPerPod = r.intIn("edw:messagesPerPod", DefaultMessagesPerPod, 1, 100000)
	cc.ActivationQueueLength = r.intIn("edw:activationQueueLength", DefaultActivationQueueLength, 0, 100000)
	cc.PollingInterval = time.Duration(r.intIn("edw:pollingIntervalSeconds", DefaultPollingSeconds, 1, 3600)) * time.Second
	cc.Cooldown = time.Duration(r.intIn("edw:cooldownSeconds", DefaultCooldownSeconds, 0, 86400)) * time.Second
	cc.CPU = r.matching("edw:consumerCpu", DefaultConsumerCPU, quantityRE, "want a Kubernetes CPU quantity such as 250m or 1")
	cc.Memory = r.matching("edw:consumerMemory", DefaultConsumerMemory, quantityRE, "want a Kubernetes memory quantity such as 256Mi")
	// Unset, the limit is the measured one, or the request when that is larger:
	// Kubernetes refuses a pod whose limit is below its request.
	switch limit, set := r.str("edw:consumerMemoryLimit", ""); {
	case !set:
		cc.MemoryLimit = DefaultConsumerMemoryLimit
		if memoryBytes(cc.Memory) > memoryBytes(DefaultConsumerMemoryLimit) {
			cc.MemoryLimit = cc.Memory
		}
	case !quantityRE.MatchString(limit):
		r.fail("edw:consumerMemoryLimit", limit, "want a Kubernetes memory quantity such as 256Mi")
	case memoryBytes(limit) < memoryBytes(cc.Memory):
		r.fail("edw:consumerMemoryLimit", limit, fmt.Sprintf("must be at least edw:consumerMemory (%s)", cc.Memory))
	default:
		cc.MemoryLimit = limit
	}
	// SQS caps maxReceiveCount at 1000 and the visibility timeout at 12 hours.
	cc.MaxReceiveCount = r.intIn("edw:maxReceiveCount", DefaultMaxReceiveCount, 1, 1000)
	cc.VisibilityTimeout = time.Duration(r.intIn("edw:visibilityTimeoutSeconds", DefaultVisibilitySeconds, 10, 43200)) * time.Second

	p := &c.Producer
	p.Enabled = r.boolean("edw:producer", false)
	p.MessageCount = r.intIn("edw:producerMessageCount", DefaultProducerMessageCount, 1, 10_000_000)
	p.Rate = r.intIn("edw:producerRate", DefaultProducerRate, 0, 100_000)

	if e := c.Existing; e != nil && p.Enabled && e.CredentialsSecret == "" && e.ProducerIdentity == "" {
		r.fail("edw:producerIdentity", "", "required with edw:producer true and pod identity")
	}

	digest := "want a full image reference by digest, REGISTRY/REPOSITORY@sha256:<64 hex digits>"
	c.Images.Producer = r.matching("edw:producerImage", "", imageByDigestRE, digest)
	c.Images.Consumer = r.matching("edw:consumerImage", "", imageByDigestRE, digest)
	if (c.Images.Producer == "") != (c.Images.Consumer == "") {
		key, val := "edw:consumerImage", c.Images.Consumer
		if c.Images.Producer == "" {
			key, val = "edw:producerImage", c.Images.Producer
		}
		r.fail(key, val, "set both edw:producerImage and edw:consumerImage, or neither to build them")
	}

	if e := c.Existing; e != nil && !c.Images.Prebuilt() && e.Registry == "" {
		r.fail("edw:registry", "", "required when edw:producerImage and edw:consumerImage are not set: ko pushes the images there")
	}

	semver := "want an exact chart version MAJOR.MINOR.PATCH"
	c.Charts.Keda = r.matching("edw:kedaChartVersion", DefaultKedaChartVersion, chartVersionRE, semver)
	r.onlyOn("edw:karpenterChartVersion", c.Cloud, AWS)
	if c.Cloud == AWS {
		c.Charts.Karpenter = r.matching("edw:karpenterChartVersion", DefaultKarpenterChartVersion, chartVersionRE, semver)
	}

	c.RetainData = r.boolean("edw:retainData", false)
	r.onlyOn("edw:adoptRetainedStorage", c.Cloud, Azure)
	if c.Cloud == Azure {
		c.AdoptStorage = r.matching("edw:adoptRetainedStorage", "", storageAccountRE,
			"want the name of the storage account a destroy with edw:retainData kept (3-24 lower-case letters and digits)")
	}
	// A kubernetes stack creates no queue or table, so it has nothing to protect.
	if c.ProtectData = r.boolean("edw:protectData", false); c.ProtectData && c.Cloud == Kubernetes {
		raw, _ := r.str("edw:protectData", "")
		r.fail("edw:protectData", raw, "not used on kubernetes stacks: edw creates no queue or table there")
		c.ProtectData = false
	}
	c.Tags = r.tags("edw:tags")
	if c.Cloud == Azure {
		r.azureTagKeys("edw:tags", c.Tags)
	}

	for _, key := range []string{"edw:vpcId", "edw:privateSubnetIds", "edw:publicSubnetIds"} {
		r.onlyOn(key, c.Cloud, AWS)
	}
	if c.Cloud == AWS {
		c.Network.VPCID = r.matching("edw:vpcId", "", vpcIDRE, "want a VPC id such as vpc-0123456789abcdef0")
		c.Network.PrivateSubnetIDs = r.idList("edw:privateSubnetIds", subnetIDRE, "subnet ids such as subnet-0123456789abcdef0")
		c.Network.PublicSubnetIDs = r.idList("edw:publicSubnetIds", subnetIDRE, "subnet ids such as subnet-0123456789abcdef0")
		n := c.Network
		if n.VPCID == "" && (len(n.PrivateSubnetIDs) > 0 || len(n.PublicSubnetIDs) > 0) {
			r.fail("edw:vpcId", "", "required when edw:privateSubnetIds or edw:publicSubnetIds is set")
		}
		if n.VPCID != "" && len(n.PrivateSubnetIDs) < 2 {
			raw, _ := r.str("edw:privateSubnetIds", "")
			r.fail("edw:privateSubnetIds", raw, "want at least 2 private subnets in different zones when edw:vpcId is set")
		}
	}

	r.onlyOn("edw:resourceGroupName", c.Cloud, Azure)
	if c.Cloud == Azure {
		c.ResourceGroup = r.matching("edw:resourceGroupName", "", resourceGroupRE,
			"want 1-90 letters, digits, and -_.() not ending in a period")
	}

	switch c.Cloud {
	case AWS:
		c.ClusterReaders = r.idList("edw:clusterReaders", iamRoleARNRE, "IAM role ARNs such as arn:aws:iam::123456789012:role/edw-preview")
	case Kubernetes:
		c.ClusterReaders = r.idList("edw:clusterReaders", k8sNameRE, "Kubernetes group names as the cluster's authenticator reports them")
	default:
		c.ClusterReaders = r.idList("edw:clusterReaders", entraObjectIDRE, "Entra object ids (lower-case GUIDs) of users, groups or service principals")
	}
	switch c.Cloud {
	case Azure:
		c.ClusterAdmins = r.idList("edw:clusterAdmins", entraObjectIDRE, "Entra object ids (lower-case GUIDs) of users, groups or service principals")
	case AWS:
		c.ClusterAdmins = r.idList("edw:clusterAdmins", iamRoleARNRE, "IAM role ARNs such as arn:aws:iam::123456789012:role/edw-deploy")
	default:
		if v, set := r.str("edw:clusterAdmins", ""); set && v != "[]" {
			r.fail("edw:clusterAdmins", v, "only allowed when edw:cloud is aws or azure")
		}
	}
	r.onlyOn("edw:controlPlaneLogRetentionDays", c.Cloud, AWS)
	if c.Cloud == AWS {
		c.ControlPlaneLogRetentionDays = r.oneOf("edw:controlPlaneLogRetentionDays", DefaultControlPlaneLogRetentionDays, infraaws.LogRetentionDays)
	}

	r.onlyOn("edw:alertOldestMessageSeconds", c.Cloud, AWS)
	r.onlyOn("edw:alertBacklogMessages", c.Cloud, Azure)
	r.onlyOn("edw:managedPrometheus", c.Cloud, Azure)
	r.onlyOn("edw:containerInsights", c.Cloud, Azure)
	switch c.Cloud {
	case AWS, Azure:
		c.Monitoring = Monitoring{
			Enabled:     r.boolean("edw:monitoring", true),
			AlertEmails: r.idList("edw:alertEmails", emailRE, "e-mail addresses"),
		}
		if c.Cloud == AWS {
			c.Monitoring.OldestMessageSeconds = r.intIn("edw:alertOldestMessageSeconds", DefaultOldestMessageSeconds, 60, 1209600)
		} else {
			c.Monitoring.BacklogMessages = r.intIn("edw:alertBacklogMessages", DefaultBacklogMessages, 1, 100_000_000)
			c.Monitoring.ManagedPrometheus = r.boolean("edw:managedPrometheus", false)
			c.Monitoring.ContainerInsights = r.boolean("edw:containerInsights", false)
		}
	default:
		for _, key := range []string{"edw:monitoring", "edw:alertEmails"} {
			if v, set := r.str(key, ""); set && v != "[]" && v != injectedDefaults()[key] {
				r.fail(key, v, "not used on kubernetes stacks: watch the queue and table where they live")
			}
		}
	}

	c.Monitoring.PodMonitor = r.boolean("edw:podMonitor", false)
	r.physicalNames(c, stack)

	c.Routes = r.routes(c)
	c.RouterArchiveDays = r.routerArchiveDays(c)

	if len(r.errs) > 0 {
		return nil, errors.Join(r.errs...)
	}
	return c, nil
}

// memoryBytes is a quantity quantityRE accepts, in bytes.
func memoryBytes(q string) float64 {
	units := []struct {
		suffix string
		scale  float64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"m", 1e-3}}
	scale := 1.0
	for _, u := range units {
		if strings.HasSuffix(q, u.suffix) {
			q, scale = strings.TrimSuffix(q, u.suffix), u.scale
			break
		}
	}
	v, _ := strconv.ParseFloat(q, 64)
	return v * scale
}

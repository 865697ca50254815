// Package lab is edw's cluster lab: a real kube-apiserver (and, for the scaling
// tests, the real KEDA operator, metrics adapter and kube-controller-manager) on
// loopback, fed the Kubernetes objects the infra tests render. scripts/test-cluster.sh
// builds and caches the binaries, starts the emulators and runs the tests.
package lab

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Env is what the test command hands the lab, read from the environment.
type Env struct {
	Etcd, APIServer, ControllerManager string
	KedaOperator, KedaAdapter          string
	Consumer, Producer                 string
	// KedaCRDs and KarpenterCRDs are the CRD directories of the pinned modules;
	// PrometheusCRDs holds the PodMonitor CRDs generated from the pinned
	// Prometheus Operator API types (and managed Prometheus's copy).
	KedaCRDs, KarpenterCRDs, PrometheusCRDs string
	// RenderDir holds the infra tests' rendered objects.
	RenderDir                                              string
	SQSEndpoint, DynamoDBEndpoint, AzuriteConnectionString string
	// SQSEndpoint2 and DynamoDBEndpoint2 are a second pair, so two AWS workloads
	// with the same queue names can run at once.
	SQSEndpoint2, DynamoDBEndpoint2 string
	// SQSEndpoint3 and DynamoDBEndpoint3 are a third, for the routes' test, whose
	// consumers write the table the single pipeline's test counts.
	SQSEndpoint3, DynamoDBEndpoint3 string
	// NetNS names the network namespace the metrics adapter runs in.
	NetNS string
	// Report, when set, is where the scaling tests write their observations.
	Report string
}

// LoadEnv reads the lab's environment; missing reports the variables not set.
func LoadEnv() (env Env, missing []string) {
	get := func(name string, dst *string) {
		*dst = os.Getenv(name)
		if *dst == "" {
			missing = append(missing, name)
		}
	}
	get("EDW_LAB_ETCD", &env.Etcd)
	get("EDW_LAB_KUBE_APISERVER", &env.APIServer)
	get("EDW_LAB_KEDA_CRDS", &env.KedaCRDs)
	get("EDW_LAB_KARPENTER_CRDS", &env.KarpenterCRDs)
	get("EDW_LAB_PROMETHEUS_CRDS", &env.PrometheusCRDs)
	get("EDW_RENDER_DIR", &env.RenderDir)
	env.ControllerManager = os.Getenv("EDW_LAB_KUBE_CONTROLLER_MANAGER")
	env.KedaOperator = os.Getenv("EDW_LAB_KEDA_OPERATOR")
	env.KedaAdapter = os.Getenv("EDW_LAB_KEDA_ADAPTER")
	env.Consumer = os.Getenv("EDW_LAB_CONSUMER")
	env.Producer = os.Getenv("EDW_LAB_PRODUCER")
	env.SQSEndpoint = os.Getenv("EDW_TEST_SQS_ENDPOINT")
	env.DynamoDBEndpoint = os.Getenv("EDW_TEST_DYNAMODB_ENDPOINT")
	env.AzuriteConnectionString = os.Getenv("EDW_TEST_AZURITE_CONNECTION_STRING")
	env.SQSEndpoint2 = os.Getenv("EDW_LAB_SQS_ENDPOINT_2")
	env.DynamoDBEndpoint2 = os.Getenv("EDW_LAB_DYNAMODB_ENDPOINT_2")
	env.SQSEndpoint3 = os.Getenv("EDW_LAB_SQS_ENDPOINT_3")
	env.DynamoDBEndpoint3 = os.Getenv("EDW_LAB_DYNAMODB_ENDPOINT_3")
	env.Report = os.Getenv("EDW_LAB_REPORT")
	env.NetNS = os.Getenv("EDW_LAB_NETNS")
	return env, missing
}

// CRDFiles are the CustomResourceDefinitions users' clusters have: KEDA's from
// the pinned KEDA module, Karpenter's NodePool, NodeClaim and EC2NodeClass as
// the pinned Karpenter AWS provider ships them (its NodePool adds AWS label rules
// to sigs.k8s.io/karpenter's), and the PodMonitor of the Prometheus Operator and
// of AKS's managed Prometheus.
func (e Env) CRDFiles() ([]string, error) {
	var files []string
	for _, pattern := range []string{
		filepath.Join(e.KedaCRDs, "*.yaml"), // keda.sh and eventing.keda.sh: the operator watches both
		filepath.Join(e.KarpenterCRDs, "karpenter.sh_nodepools.yaml"),
		filepath.Join(e.KarpenterCRDs, "karpenter.sh_nodeclaims.yaml"),
		filepath.Join(e.KarpenterCRDs, "karpenter.k8s.aws_ec2nodeclasses.yaml"),
		filepath.Join(e.PrometheusCRDs, "monitoring.coreos.com_podmonitors.yaml"),
		filepath.Join(e.PrometheusCRDs, "azmonitoring.coreos.com_podmonitors.yaml"),
	} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			return nil, err
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("no CRD file matches %s", pattern)
		}
		files = append(files, m...)
	}
	return files, nil
}

// Rendered lists the rendered object files (JSON arrays of objects), by
// configuration name. Other JSON the infra tests leave there (policy documents
// for the workload's tests) is not for the lab.
func Rendered(dir string) (map[string]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no rendered objects in %s", dir)
	}
	out := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if b = bytes.TrimSpace(b); len(b) == 0 || b[0] != '[' {
			continue
		}
		out[strings.TrimSuffix(filepath.Base(f), ".json")] = f
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no rendered object lists in %s", dir)
	}
	return out, nil
}

package azure

import (
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/edw-dev/edw/infra/karpenter"
)

// NodePool is the Node Auto Provisioning NodePool for the workload: which
// capacity and architectures NAP may buy, and how much.
type NodePool struct {
	pulumi.ResourceState
	Name pulumi.StringOutput `pulumi:"name"`
}

// NodePoolArgs come from config; Cluster is what reconciles the pool.
type NodePoolArgs struct {
	Provider      *kubernetes.Provider
	Cluster       pulumi.Resource
	CapacityTypes []string
	Architectures []string
	CPULimit      int
}

// NewNodePool creates a karpenter.sh/v1 NodePool on AKS's default AKSNodeClass.
// It depends on the cluster, whose managed Karpenter removes the pool's nodes
// when the pool is deleted, before the cluster goes.
func NewNodePool(ctx *pulumi.Context, name string, args NodePoolArgs, opts ...pulumi.ResourceOption) (*NodePool, error) {
	np := &NodePool{}
	if err := ctx.RegisterComponentResource("edw:azure:NodePool", name, np, opts...); err != nil {
		return nil, err
	}
	pool, err := apiextensions.NewCustomResource(ctx, name, &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("karpenter.sh/v1"),
		Kind:       pulumi.String("NodePool"),
		Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String(karpenter.WorkloadPool)},
		OtherFields: kubernetes.UntypedArgs{"spec": karpenter.NodePoolSpec{
			NodeClassGroup: "karpenter.azure.com", NodeClassKind: "AKSNodeClass", NodeClassName: pulumi.String("default"),
			CapacityTypes: args.CapacityTypes, Architectures: args.Architectures, CPULimit: args.CPULimit,
			Extra: []karpenter.Requirement{{Key: "karpenter.azure.com/sku-family", Operator: "In", Values: []string{"D"}}},
			// As karpenter-provider-azure's own NodePools on a Cilium dataplane:
			// the label lets NAP count the Cilium DaemonSet's overhead, and pods
			// wait for the Cilium agent before they land.
			Labels:        map[string]string{"kubernetes.azure.com/ebpf-dataplane": "cilium"},
			StartupTaints: []karpenter.Taint{{Key: "node.cilium.io/agent-not-ready", Value: "true", Effect: "NoExecute"}},
		}.Spec()},
	}, pulumi.Parent(np), pulumi.Provider(args.Provider), pulumi.DependsOn([]pulumi.Resource{args.Cluster}))
	if err != nil {
		return nil, fmt.Errorf("nap node pool %s: %w", name, err)
	}
	np.Name = pool.Metadata.Name().Elem()
	return np, ctx.RegisterResourceOutputs(np, pulumi.Map{"name": np.Name})
}

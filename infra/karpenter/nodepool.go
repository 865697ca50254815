// Package karpenter renders the karpenter.sh/v1 NodePool spec both clouds use:
// Karpenter on EKS and Node Auto Provisioning on AKS read the same API.
package karpenter

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// WorkloadPool is the NodePool edw creates on both clouds. The workload selects
// it by Karpenter's own label (karpenter.sh/nodepool), so no other pool (AKS's
// NAP ships one named default) can launch nodes for it and its CPU limit is a
// hard cap.
const WorkloadPool = "edw-workload"

// PoolLabel is the label Karpenter puts on every node with its NodePool's name.
const PoolLabel = "karpenter.sh/nodepool"

// Requirement is one node requirement.
type Requirement struct {
	Key, Operator string
	Values        []string
}

// NodePoolSpec says which nodes the provisioner may buy for the workload.
type NodePoolSpec struct {
	// NodeClassRef is the group, kind and name of the cloud's node class.
	NodeClassGroup, NodeClassKind string
	NodeClassName                 pulumi.StringInput
	CapacityTypes                 []string
	Architectures                 []string
	// Extra are cloud-specific requirements (instance families, generations).
	Extra    []Requirement
	CPULimit int
	// Labels are cloud-specific node labels added to edw.dev/pool.
	Labels map[string]string
	// StartupTaints are put on new nodes until a node agent removes them (the
	// Cilium agent on AKS); pods need not tolerate them.
	StartupTaints []Taint
}

// Taint is a node taint.
type Taint struct {
	Key, Value, Effect string
}

// Spec renders the NodePool's spec: nodes labelled edw.dev/pool=workload,
// replaced after 30 days, consolidated when empty or underutilized.
func (s NodePoolSpec) Spec() pulumi.Map {
	reqs := pulumi.Array{}
	for _, r := range append([]Requirement{
		{Key: "karpenter.sh/capacity-type", Operator: "In", Values: s.CapacityTypes},
		{Key: "kubernetes.io/arch", Operator: "In", Values: s.Architectures},
		{Key: "kubernetes.io/os", Operator: "In", Values: []string{"linux"}},
	}, s.Extra...) {
		reqs = append(reqs, pulumi.Map{
			"key": pulumi.String(r.Key), "operator": pulumi.String(r.Operator), "values": pulumi.ToStringArray(r.Values),
		})
	}
	labels := pulumi.StringMap{"edw.dev/pool": pulumi.String("workload")}
	for k, v := range s.Labels {
		labels[k] = pulumi.String(v)
	}
	spec := pulumi.Map{
		"nodeClassRef": pulumi.Map{
			"group": pulumi.String(s.NodeClassGroup), "kind": pulumi.String(s.NodeClassKind), "name": s.NodeClassName,
		},
		"expireAfter":  pulumi.String("720h"),
		"requirements": reqs,
	}
	if len(s.StartupTaints) > 0 {
		taints := pulumi.Array{}
		for _, t := range s.StartupTaints {
			taints = append(taints, pulumi.Map{"key": pulumi.String(t.Key), "value": pulumi.String(t.Value), "effect": pulumi.String(t.Effect)})
		}
		spec["startupTaints"] = taints
	}
	return pulumi.Map{
		"template": pulumi.Map{
			"metadata": pulumi.Map{"labels": labels},
			"spec":     spec,
		},
		"limits": pulumi.Map{"cpu": pulumi.String(fmt.Sprint(s.CPULimit))},
		// Above any other pool that also matches, for pods that do not select one.
		"weight": pulumi.Int(100),
		"disruption": pulumi.Map{
			"consolidationPolicy": pulumi.String("WhenEmptyOrUnderutilized"),
			"consolidateAfter":    pulumi.String("1m"),
		},
	}
}

package aws

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	awseks "github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Addon is one EKS-managed add-on edw keeps at the version EKS pairs with the
// cluster's Kubernetes version.
type Addon struct {
	Name string
	// AfterNodes: the add-on runs as a Deployment that only becomes healthy once
	// nodes exist (EKS waits for it), so it is created after the node group.
	AfterNodes bool
}

// ManagedAddons replace what EKS bootstraps as self-managed (and what
// pulumi-eks v2 would overwrite with its bundled, older VPC CNI manifest): as
// EKS add-ons they move with every edw:kubernetesVersion bump, after the
// control plane.
func ManagedAddons() []Addon {
	return []Addon{{Name: "vpc-cni"}, {Name: "kube-proxy"}, {Name: "coredns", AfterNodes: true}}
}

// addons creates the managed add-ons at the default version EKS publishes for
// version: the one it validates for that Kubernetes version (and installs on a
// new cluster), rather than the most recent build, which would move on an
// unrelated `up` the day AWS publishes it. clusterName resolves once the
// control plane exists, so each add-on is created, and upgraded, after it.
func addons(ctx *pulumi.Context, name, version string, clusterName pulumi.StringInput, nodes pulumi.Resource, tags pulumi.StringMap, parent pulumi.Resource) ([]*awseks.Addon, error) {
	var out []*awseks.Addon
	for _, a := range ManagedAddons() {
		v, err := awseks.GetAddonVersion(ctx, &awseks.GetAddonVersionArgs{
			AddonName: a.Name, KubernetesVersion: version, MostRecent: pulumi.BoolRef(false),
		}, pulumi.Parent(parent))
		if err != nil {
			return nil, fmt.Errorf("eks add-on %s version for Kubernetes %s: %w", a.Name, version, err)
		}
		addonOpts := []pulumi.ResourceOption{pulumi.Parent(parent)}
		if a.AfterNodes {
			addonOpts = append(addonOpts, pulumi.DependsOn([]pulumi.Resource{nodes}))
		}
		addon, err := awseks.NewAddon(ctx, name+"-"+a.Name, &awseks.AddonArgs{
			ClusterName:  clusterName,
			AddonName:    pulumi.String(a.Name),
			AddonVersion: pulumi.String(v.Version),
			// EKS created these as self-managed at cluster creation; OVERWRITE
			// adopts them. edw configures nothing in them, so an update has
			// nothing to preserve either.
			ResolveConflictsOnCreate: pulumi.String("OVERWRITE"),
			ResolveConflictsOnUpdate: pulumi.String("OVERWRITE"),
			// On destroy the add-on goes whenever the engine gets to it, possibly
			// while Karpenter still drains nodes: keep DNS and pod networking
			// running until the cluster itself is deleted.
			Preserve: pulumi.Bool(true),
			Tags:     tags,
		}, addonOpts...)
		if err != nil {
			return nil, fmt.Errorf("eks add-on %s: %w", a.Name, err)
		}
		out = append(out, addon)
	}
	return out, nil
}

// LogRetentionDays are the retention periods CloudWatch Logs accepts
// (PutRetentionPolicy, retentionInDays); any other number is refused.
var LogRetentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// ControlPlaneLogGroup is the log group EKS writes control-plane logs to. EKS
// creates it on first use, never expiring and outside the stack, unless it
// exists already: edw creates it first so retention is set and destroy
// removes it.
func ControlPlaneLogGroup(clusterName string) string { return "/aws/eks/" + clusterName + "/cluster" }

func controlPlaneLogs(ctx *pulumi.Context, name, clusterName string, days int, retain bool, tags pulumi.StringMap, opts ...pulumi.ResourceOption) (*cloudwatch.LogGroup, error) {
	lg, err := cloudwatch.NewLogGroup(ctx, name+"-control-plane", &cloudwatch.LogGroupArgs{
		Name:            pulumi.String(ControlPlaneLogGroup(clusterName)),
		RetentionInDays: pulumi.Int(days),
		Tags:            tags,
	}, append(opts, pulumi.RetainOnDelete(retain))...)
	if err != nil {
		return nil, fmt.Errorf("control-plane log group %s: %w", clusterName, err)
	}
	return lg, nil
}

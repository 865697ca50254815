// Package stacks composes edw: it reads and validates the stack config, then asks
// the chosen cloud for a platform and hands it to the Kubernetes layer.
package stacks

import (
	"context"
	"fmt"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/edw-dev/edw/internal/clusteraccess"
)

// Run is the Pulumi program. Config is validated before anything is registered, so
// a bad value fails `pulumi preview` with nothing half-planned.
func Run(ctx *pulumi.Context) error {
	return program(seams{waitForAccess: func(gctx context.Context, kubeconfig string) error {
		return deployerAccess(ctx).Wait(gctx, kubeconfig)
	}})(ctx)
}

// seams are what the program does beyond registering resources, so tests can
// stand in for them.
type seams struct {
	// observe, when set, also gets the stack's outputs, because mocks do not
	// record stack exports and tests assert on outputs.
	observe func(pulumi.Map)
	// waitForAccess returns once the deployer may change the cluster the
	// kubeconfig reaches (see deployerAccess).
	waitForAccess func(ctx context.Context, kubeconfig string) error
}

// deployerAccess is what the deployer must be allowed before the Kubernetes
// provider is used: Helm installs create namespaces and cluster-wide RBAC.
// Azure says a role assignment takes up to five minutes to reach AKS; ten
// leave room, then the error names the check still refused.
func deployerAccess(ctx *pulumi.Context) clusteraccess.Waiter {
	return clusteraccess.Waiter{
		Checks:   DeployerChecks(),
		Interval: 10 * time.Second,
		Timeout:  10 * time.Minute,
		Progress: func(msg string) { _ = ctx.Log.Info(msg, nil) },
	}
}

// DeployerChecks are what a deployer must be allowed before edw's Kubernetes
// layer can be applied.
func DeployerChecks() []clusteraccess.Check {
	return []clusteraccess.Check{
		{Verb: "create", Resource: "namespaces"},
		{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings"},
	}
}

// program builds the stack and exports its outputs.
func program(s seams) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		cfg, err := LoadConfig(ctx)
		if err != nil {
			return err
		}
		last, err := lastUpdate(ctx)
		if err != nil {
			return err
		}
		previousCloud, err := previousString(last, "cloud")
		if err != nil {
			return err
		}
		if err := refuseCloudSwitch(cfg, previousCloud); err != nil {
			return err
		}
		var outputs pulumi.Map
		switch cfg.Cloud {
		case AWS:
			outputs, err = deployAWS(ctx, cfg)
		case Azure:
			outputs, err = deployAzure(ctx, cfg, last, s.waitForAccess)
		case Kubernetes:
			outputs, err = deployKubernetes(ctx, cfg)
		default:
			err = fmt.Errorf("edw:cloud %q has no deployment", cfg.Cloud)
		}
		if err != nil {
			return err
		}
		for name, value := range outputs {
			ctx.Export(name, value)
		}
		if s.observe != nil {
			s.observe(outputs)
		}
		return nil
	}
}

// stackTags go on every cloud resource: the stack, the project and edw:tags.
func stackTags(ctx *pulumi.Context, cfg *Config) pulumi.StringMap {
	tags := pulumi.StringMap{"edw:stack": pulumi.String(ctx.Stack()), "edw:project": pulumi.String(ctx.Project())}
	for k, v := range cfg.Tags {
		tags[k] = pulumi.String(v)
	}
	return tags
}

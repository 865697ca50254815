// Package stacks composes edw: it reads and validates the stack config, then asks
// the chosen cloud for a platform and hands it to the Kubernetes layer.
package stacks

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Run is the Pulumi program. Config is validated before anything is registered, so
// a bad value fails `pulumi preview` with nothing half-planned.
func Run(ctx *pulumi.Context) error { return program(nil)(ctx) }

// program builds the stack and exports its outputs; observe, when set, also gets
// them, because mocks do not record stack exports and tests assert on outputs.
func program(observe func(pulumi.Map)) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		cfg, err := LoadConfig(ctx)
		if err != nil {
			return err
		}
		var outputs pulumi.Map
		switch cfg.Cloud {
		case AWS:
			outputs, err = deployAWS(ctx, cfg)
		case Azure:
			outputs, err = deployAzure(ctx, cfg)
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
		if observe != nil {
			observe(outputs)
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

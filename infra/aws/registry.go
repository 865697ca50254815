package aws

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecr"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Registry is one ECR repository per workload image.
type Registry struct {
	pulumi.ResourceState
	Producer pulumi.StringOutput `pulumi:"producerRepository"`
	Consumer pulumi.StringOutput `pulumi:"consumerRepository"`
}

// RegistryArgs configure the repositories.
type RegistryArgs struct {
	// Prefix makes repository names unique per stack (the cluster name), so two
	// stacks can share an account.
	Prefix string
	Tags   pulumi.StringMap
}

// NewRegistry creates the repositories <prefix>/producer and <prefix>/consumer:
// scanned on push, tags immutable, and deleted with their images on destroy.
func NewRegistry(ctx *pulumi.Context, name string, args RegistryArgs, opts ...pulumi.ResourceOption) (*Registry, error) {
	r := &Registry{}
	if err := ctx.RegisterComponentResource("edw:aws:Registry", name, r, opts...); err != nil {
		return nil, err
	}
	repo := func(component string) (pulumi.StringOutput, error) {
		rp, err := ecr.NewRepository(ctx, name+"-"+component, &ecr.RepositoryArgs{
			Name:                       pulumi.Sprintf("%s/%s", args.Prefix, component),
			ImageTagMutability:         pulumi.String("IMMUTABLE"),
			ImageScanningConfiguration: &ecr.RepositoryImageScanningConfigurationArgs{ScanOnPush: pulumi.Bool(true)},
			ForceDelete:                pulumi.Bool(true),
			Tags:                       args.Tags,
		}, pulumi.Parent(r))
		if err != nil {
			return pulumi.StringOutput{}, fmt.Errorf("repository %s: %w", component, err)
		}
		return rp.RepositoryUrl, nil
	}
	var err error
	if r.Producer, err = repo("producer"); err != nil {
		return nil, err
	}
	if r.Consumer, err = repo("consumer"); err != nil {
		return nil, err
	}
	return r, ctx.RegisterResourceOutputs(r, pulumi.Map{"producerRepository": r.Producer, "consumerRepository": r.Consumer})
}

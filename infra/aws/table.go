package aws

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/dynamodb"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Table is the results table, keyed by message id.
type Table struct {
	pulumi.ResourceState
	Name pulumi.StringOutput `pulumi:"name"`
	ARN  pulumi.StringOutput `pulumi:"arn"`
}

// TableArgs configure the table.
type TableArgs struct {
	// Retain keeps the table when the stack is destroyed; Protect has Pulumi
	// refuse to delete or replace it, and DynamoDB refuse DeleteTable.
	Retain  bool
	Protect bool
	Tags    pulumi.StringMap
}

// NewTable creates an on-demand table with hash key id (S), point-in-time
// recovery and server-side encryption.
func NewTable(ctx *pulumi.Context, name string, args TableArgs, opts ...pulumi.ResourceOption) (*Table, error) {
	t := &Table{}
	if err := ctx.RegisterComponentResource("edw:aws:Table", name, t, opts...); err != nil {
		return nil, err
	}
	table, err := dynamodb.NewTable(ctx, name, &dynamodb.TableArgs{
		BillingMode:          pulumi.String("PAY_PER_REQUEST"),
		HashKey:              pulumi.String("id"),
		Attributes:           dynamodb.TableAttributeArray{&dynamodb.TableAttributeArgs{Name: pulumi.String("id"), Type: pulumi.String("S")}},
		PointInTimeRecovery:  &dynamodb.TablePointInTimeRecoveryArgs{Enabled: pulumi.Bool(true)},
		ServerSideEncryption: &dynamodb.TableServerSideEncryptionArgs{Enabled: pulumi.Bool(true)},
		// Pulumi's protect guards against this program; DynamoDB's own guards
		// against everyone else (the console, a script, another stack).
		DeletionProtectionEnabled: pulumi.Bool(args.Protect),
		Tags:                      args.Tags,
	}, pulumi.Parent(t), dataOptions(args.Retain, args.Protect))
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", name, err)
	}
	t.Name, t.ARN = table.Name, table.Arn
	return t, ctx.RegisterResourceOutputs(t, pulumi.Map{"name": t.Name, "arn": t.ARN})
}

func marshal(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

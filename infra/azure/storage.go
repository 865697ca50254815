package azure

import (
	"fmt"

	"github.com/pulumi/pulumi-azure-native-sdk/storage/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Storage is the storage account with the work queue, its poison queue and the
// results table. Shared keys are off: only Entra identities get in.
type Storage struct {
	pulumi.ResourceState
	Account *storage.StorageAccount
	Queue   *storage.Queue
	Poison  *storage.Queue
	Table   *storage.Table

	AccountName     pulumi.StringOutput `pulumi:"accountName"`
	QueueName       pulumi.StringOutput `pulumi:"queueName"`
	PoisonQueueName pulumi.StringOutput `pulumi:"poisonQueueName"`
	TableName       pulumi.StringOutput `pulumi:"tableName"`
}

// StorageArgs configure the account.
type StorageArgs struct {
	ResourceGroupName pulumi.StringInput
	// Retain keeps the account, queues and table when the stack is destroyed;
	// Protect has Pulumi refuse to delete or replace them.
	Retain  bool
	Protect bool
	// Adopt, when set, names the account a destroy with Retain left behind:
	// it and its queues and table are imported instead of created.
	Adopt *Adoption
	Tags  pulumi.StringMap
}

// Adoption is storage that outlived its stack (edw:retainData, then destroy)
// and that the next up takes back. Azure refuses to create what exists, and
// azure-native checks first ("cannot create already existing resource"), so
// the resources are imported by their ARM ids, which follow from the names.
// An import of what the stack already holds under the same id is no import
// at all, so leaving the adoption set after it happened changes nothing.
type Adoption struct {
	SubscriptionID pulumi.StringInput
	ResourceGroup  string
	Account        string
}

// GroupID is the resource group's ARM id.
func (a *Adoption) GroupID() pulumi.IDOutput {
	return asID(pulumi.Sprintf("/subscriptions/%s/resourceGroups/%s", a.SubscriptionID, a.ResourceGroup))
}

// adopt imports the account, or what lies under it at path ("" for the
// account itself, "/queueServices/default/queues/edw-work" for a queue).
func (a *Adoption) adopt(path string) pulumi.ResourceOption {
	return pulumi.Import(asID(pulumi.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Storage/storageAccounts/%s%s",
		a.SubscriptionID, a.ResourceGroup, a.Account, path)))
}

func asID(s pulumi.StringOutput) pulumi.IDOutput {
	return s.ApplyT(func(v string) pulumi.ID { return pulumi.ID(v) }).(pulumi.IDOutput)
}

// resultsTable is the results table's name.
const resultsTable = "edwresults"

// NewStorage creates the account, the queues and the table.
func NewStorage(ctx *pulumi.Context, name string, args StorageArgs, opts ...pulumi.ResourceOption) (*Storage, error) {
	s := &Storage{}
	if err := ctx.RegisterComponentResource("edw:azure:Storage", name, s, opts...); err != nil {
		return nil, err
	}
	keep := DataOptions(args.Retain, args.Protect)
	// adopt is the import of one of the account's resources when the account
	// is adopted, and nothing otherwise.
	adopt := func(string) pulumi.ResourceOption { return pulumi.Composite() }
	var accountName pulumi.StringPtrInput // auto-named unless adopted
	if a := args.Adopt; a != nil {
		adopt = a.adopt
		accountName = pulumi.String(a.Account)
	}
	account, err := storage.NewStorageAccount(ctx, name, &storage.StorageAccountArgs{
		AccountName:                  accountName,
		ResourceGroupName:            args.ResourceGroupName,
		Kind:                         pulumi.String("StorageV2"),
		Sku:                          &storage.SkuArgs{Name: pulumi.String("Standard_LRS")},
		AllowSharedKeyAccess:         pulumi.Bool(false),
		DefaultToOAuthAuthentication: pulumi.Bool(true),
		EnableHttpsTrafficOnly:       pulumi.Bool(true),
		MinimumTlsVersion:            pulumi.String("TLS1_2"),
		AllowBlobPublicAccess:        pulumi.Bool(false),
		Tags:                         args.Tags,
	}, pulumi.Parent(s), keep, adopt(""))
	if err != nil {
		return nil, fmt.Errorf("storage account %s: %w", name, err)
	}
	queue := func(suffix, queueName string) (*storage.Queue, error) {
		q, err := storage.NewQueue(ctx, name+suffix, &storage.QueueArgs{
			ResourceGroupName: args.ResourceGroupName,
			AccountName:       account.Name,
			QueueName:         pulumi.String(queueName),
		}, pulumi.Parent(s), keep, adopt("/queueServices/default/queues/"+queueName))
		if err != nil {
			return nil, fmt.Errorf("queue %s: %w", queueName, err)
		}
		return q, nil
	}
	if s.Queue, err = queue("-work", "edw-work"); err != nil {
		return nil, err
	}
	// The consumer derives the poison queue's name as <queue>-poison.
	if s.Poison, err = queue("-poison", "edw-work-poison"); err != nil {
		return nil, err
	}
	s.Table, err = storage.NewTable(ctx, name+"-results", &storage.TableArgs{
		ResourceGroupName: args.ResourceGroupName,
		AccountName:       account.Name,
		TableName:         pulumi.String(resultsTable),
	}, pulumi.Parent(s), keep, adopt("/tableServices/default/tables/"+resultsTable))
	if err != nil {
		return nil, fmt.Errorf("results table: %w", err)
	}
	s.Account = account
	s.AccountName = account.Name
	s.QueueName = s.Queue.Name
	s.PoisonQueueName = s.Poison.Name
	s.TableName = s.Table.Name
	return s, ctx.RegisterResourceOutputs(s, pulumi.Map{
		"accountName": s.AccountName, "queueName": s.QueueName, "poisonQueueName": s.PoisonQueueName, "tableName": s.TableName,
	})
}

// DataOptions are the options of a resource that holds data (the resource
// group, the account and what is in it): retained on destroy and protected
// from deletion when asked.
func DataOptions(retain, protect bool) pulumi.ResourceOption {
	return pulumi.Composite(pulumi.RetainOnDelete(retain), pulumi.Protect(protect))
}

package azure

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-azure-native-sdk/authorization/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Storage data actions edw grants, as Azure's "Permissions for calling data
// operations" table names them.
const (
	// QueueRead reads a queue's metadata, its approximate message count
	// included (Get Queue Metadata). It is an action, not a data action.
	QueueRead = "Microsoft.Storage/storageAccounts/queueServices/queues/read"
	// QueueMessagesProcess dequeues and deletes messages (Get Messages, Delete Message).
	QueueMessagesProcess = "Microsoft.Storage/storageAccounts/queueServices/queues/messages/process/action"
	// QueueMessagesWrite updates a message, its visibility included (Update Message).
	QueueMessagesWrite = "Microsoft.Storage/storageAccounts/queueServices/queues/messages/write"
	// QueueMessagesAdd enqueues messages (Put Message).
	QueueMessagesAdd = "Microsoft.Storage/storageAccounts/queueServices/queues/messages/add/action"
	// TableEntitiesAdd inserts entities (Insert Entity), and never overwrites one.
	TableEntitiesAdd = "Microsoft.Storage/storageAccounts/tableServices/tables/entities/add/action"
	// TableEntitiesRead reads entities (Query Entities, Get Entity).
	TableEntitiesRead = "Microsoft.Storage/storageAccounts/tableServices/tables/entities/read"
)

// Permissions are a role's actions and data actions.
type Permissions struct {
	Actions     []string
	DataActions []string
}

// CustomRole is a role with exactly the permissions one workload needs where
// no built-in role is that narrow (Message Processor cannot extend a
// message's visibility; Table Data Contributor can delete the table).
type CustomRole struct {
	// Name is short and stable ("consumer-queue"); the role's display name adds
	// a digest of the resource group's id, because role names are unique per
	// tenant and stacks in other subscriptions share it.
	Name        string
	Description string
	Permissions Permissions
}

// NewCustomRole defines role in the resource group, assignable only there.
func NewCustomRole(ctx *pulumi.Context, name string, role CustomRole, resourceGroupID pulumi.StringInput, opts ...pulumi.ResourceOption) (*authorization.RoleDefinition, error) {
	def, err := authorization.NewRoleDefinition(ctx, name, &authorization.RoleDefinitionArgs{
		RoleName: resourceGroupID.ToStringOutput().ApplyT(func(id string) string {
			sum := sha256.Sum256([]byte(strings.ToLower(id)))
			return fmt.Sprintf("edw %s %s", role.Name, hex.EncodeToString(sum[:])[:8])
		}).(pulumi.StringOutput),
		Description:      pulumi.String(role.Description),
		RoleType:         pulumi.String("CustomRole"),
		Scope:            resourceGroupID,
		AssignableScopes: pulumi.StringArray{resourceGroupID},
		Permissions: authorization.PermissionArray{authorization.PermissionArgs{
			Actions: pulumi.ToStringArray(role.Permissions.Actions), DataActions: pulumi.ToStringArray(role.Permissions.DataActions),
		}},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("custom role %s: %w", role.Name, err)
	}
	return def, nil
}

// Split sorts permissions into actions and data actions: data actions are
// those on messages, entities and events.
func Split(all []string) Permissions {
	var p Permissions
	for _, a := range all {
		if strings.Contains(a, "/messages/") || strings.Contains(a, "/entities/") || strings.HasPrefix(a, "Microsoft.EventGrid/events/") {
			p.DataActions = append(p.DataActions, a)
		} else {
			p.Actions = append(p.Actions, a)
		}
	}
	return p
}

// BuiltinRoles are the built-in roles edw may assign, by id, with their
// permissions as Azure publishes them (checked against the published
// definitions kept as test data).
func BuiltinRoles() map[string]Permissions {
	return map[string]Permissions{
		RoleQueueDataMessageSender: {DataActions: []string{QueueMessagesAdd}},
		RoleAcrPull:                {Actions: []string{"Microsoft.ContainerRegistry/registries/pull/read"}},
	}
}

// BuiltinRoleFor is the built-in role whose permissions are exactly need.
func BuiltinRoleFor(need Permissions) (string, bool) {
	for id, p := range BuiltinRoles() {
		if sameSet(p.Actions, need.Actions) && sameSet(p.DataActions, need.DataActions) {
			return id, true
		}
	}
	return "", false
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

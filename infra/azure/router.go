package azure

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-azure-native-sdk/authorization/v2"
	"github.com/pulumi/pulumi-azure-native-sdk/insights/v2"
	"github.com/pulumi/pulumi-azure-native-sdk/storage/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Event Grid resources are registered by their azure-native type tokens: the
// SDK's eventgrid module is not served where edw is built. Their inputs are
// the Azure REST API's property names, with the "properties" envelopes
// flattened as azure-native does for every resource.
const (
	eventGridTopicType        = "azure-native:eventgrid:Topic"
	eventGridSubscriptionType = "azure-native:eventgrid:EventSubscription"
)

// Built-in roles the router's own identity gets.
const (
	// RoleBlobDataContributor lets Event Grid write dead-lettered events as blobs.
	RoleBlobDataContributor = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
	// RoleEventGridDataSender is the built-in publisher role. edw does not use
	// it: it also reads topics, domains, namespaces and role assignments, so the
	// producer gets a custom role with only the send data action instead.
	RoleEventGridDataSender = "d5a91429-5739-47e2-a06b-3470a27159e7"
)

// EventsSend publishes events to a topic (the data action behind Event Grid's
// publish API, as the EventGrid Data Sender role names it).
const EventsSend = "Microsoft.EventGrid/events/send/action"

// eventGridTopic is Microsoft.EventGrid/topics; edw reads its endpoint and its
// system-assigned identity.
type eventGridTopic struct {
	pulumi.CustomResourceState
	Endpoint pulumi.StringOutput `pulumi:"endpoint"`
	Identity pulumi.MapOutput    `pulumi:"identity"`
}

type eventGridSubscription struct {
	pulumi.CustomResourceState
}

// RouterRoute is one route: its filter.
type RouterRoute struct {
	Name           string
	Sources, Types []string
}

// RouteQueues are one route's storage queues.
type RouteQueues struct {
	Name                       string
	Queue, Poison              *storage.Queue
	QueueName, PoisonQueueName pulumi.StringOutput
}

// Router is the stack's Event Grid custom topic and, per route, a storage
// queue, its poison queue and an event subscription delivering there with the
// topic's own identity.
type Router struct {
	pulumi.ResourceState
	// Endpoint is where producers publish (…/api/events).
	Endpoint pulumi.StringOutput `pulumi:"endpoint"`
	TopicID  pulumi.StringOutput `pulumi:"topicId"`
	// PrincipalID is the topic's system-assigned identity.
	PrincipalID pulumi.StringOutput `pulumi:"principalId"`
	Routes      []*RouteQueues
}

// RouterArgs configure the router.
type RouterArgs struct {
	ResourceGroupName pulumi.StringInput
	// ResourceGroupID makes the topic's name unique: it is a host name.
	ResourceGroupID pulumi.StringInput
	Location        string
	// Name is unique per stack (the cluster name).
	Name           string
	SubscriptionID pulumi.StringInput
	// AccountName and AccountID are the stack's storage account.
	AccountName pulumi.StringInput
	AccountID   pulumi.StringInput
	Routes      []RouterRoute
	// Retain and Protect apply to the routes' queues and the dead-letter
	// container, as StorageArgs says.
	Retain  bool
	Protect bool
	// Adopt, when set, imports each route's queues and the dead-letter
	// container from the retained account, as StorageArgs.Adopt does: only
	// for routes that were there when the stack was destroyed.
	Adopt *Adoption
	Tags  pulumi.StringMap
}

// Delivery retries: Event Grid's own maximums, stated so a preview shows them.
const (
	routeMaxDeliveryAttempts = 30
	routeEventTTLMinutes     = 1440
	// deadLetterContainer holds every route's undeliverable events, one
	// folder per topic and subscription (Event Grid's own layout).
	deadLetterContainer = "edw-deadletter"
)

// TopicName is the topic's name: the stack's name and a digest of its
// resource group, because a topic's name is part of its public host name.
func TopicName(name, resourceGroupID string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(resourceGroupID)))
	return name + "-" + hex.EncodeToString(sum[:])[:8]
}

// NewRouter creates the topic, the dead-letter container, and per route the
// queues, the grants of the topic's identity and the subscription.
func NewRouter(ctx *pulumi.Context, name string, args RouterArgs, opts ...pulumi.ResourceOption) (*Router, error) {
	r := &Router{}
	if err := ctx.RegisterComponentResource("edw:azure:Router", name, r, opts...); err != nil {
		return nil, err
	}
	child := pulumi.Parent(r)
	keep := DataOptions(args.Retain, args.Protect)
	adopt := func(string) pulumi.ResourceOption { return pulumi.Composite() }
	if args.Adopt != nil {
		adopt = args.Adopt.adopt
	}
	topic := &eventGridTopic{}
	if err := ctx.RegisterResource(eventGridTopicType, name, pulumi.Map{
		"resourceGroupName": args.ResourceGroupName,
		"topicName": args.ResourceGroupID.ToStringOutput().ApplyT(func(id string) string {
			return TopicName(args.Name, id)
		}).(pulumi.StringOutput),
		"location":    pulumi.String(args.Location),
		"inputSchema": pulumi.String("CloudEventSchemaV1_0"),
		// Publishing needs an Entra token: no access keys, no SAS.
		"disableLocalAuth":         pulumi.Bool(true),
		"minimumTlsVersionAllowed": pulumi.String("1.2"),
		"identity":                 pulumi.Map{"type": pulumi.String("SystemAssigned")},
		"tags":                     args.Tags,
	}, topic, child); err != nil {
		return nil, fmt.Errorf("event grid topic %s: %w", name, err)
	}
	principal := topic.Identity.ApplyT(func(id map[string]any) string {
		p, _ := id["principalId"].(string)
		return p
	}).(pulumi.StringOutput)

	container, err := storage.NewBlobContainer(ctx, name+"-deadletter", &storage.BlobContainerArgs{
		ResourceGroupName: args.ResourceGroupName,
		AccountName:       args.AccountName,
		ContainerName:     pulumi.String(deadLetterContainer),
		PublicAccess:      storage.PublicAccessNone,
	}, child, keep, adopt("/blobServices/default/containers/"+deadLetterContainer))
	if err != nil {
		return nil, fmt.Errorf("dead-letter container %s: %w", name, err)
	}
	grant := func(logical, role string, scope pulumi.StringInput) (pulumi.Resource, error) {
		ra, err := authorization.NewRoleAssignment(ctx, logical, &authorization.RoleAssignmentArgs{
			PrincipalId:      principal,
			PrincipalType:    pulumi.String("ServicePrincipal"),
			RoleDefinitionId: RoleDefinitionID(args.SubscriptionID, role),
			Scope:            scope,
		}, child)
		if err != nil {
			return nil, fmt.Errorf("role %s for the router's identity: %w", role, err)
		}
		return ra, nil
	}
	deadLetterGrant, err := grant(name+"-deadletter", RoleBlobDataContributor, container.ID().ToStringOutput())
	if err != nil {
		return nil, err
	}

	for _, rt := range args.Routes {
		logical := name + "-" + rt.Name
		queue := func(suffix, queueName string) (*storage.Queue, error) {
			q, err := storage.NewQueue(ctx, logical+suffix, &storage.QueueArgs{
				ResourceGroupName: args.ResourceGroupName,
				AccountName:       args.AccountName,
				QueueName:         pulumi.String(queueName),
			}, child, keep, adopt("/queueServices/default/queues/"+queueName))
			if err != nil {
				return nil, fmt.Errorf("queue %s: %w", queueName, err)
			}
			return q, nil
		}
		work, err := queue("", "edw-"+rt.Name)
		if err != nil {
			return nil, err
		}
		// The consumer derives the poison queue's name as <queue>-poison.
		poison, err := queue("-poison", "edw-"+rt.Name+"-poison")
		if err != nil {
			return nil, err
		}
		// The topic's identity may add messages to this route's queue only.
		sendGrant, err := grant(logical, RoleQueueDataMessageSender, work.ID().ToStringOutput())
		if err != nil {
			return nil, err
		}
		filter := pulumi.Map{}
		if len(rt.Types) > 0 {
			filter["includedEventTypes"] = pulumi.ToStringArray(rt.Types)
		}
		if len(rt.Sources) > 0 {
			// A CloudEvent's source is filtered with an advanced filter on the
			// "source" key; subjectBeginsWith would read its subject.
			filter["advancedFilters"] = pulumi.Array{pulumi.Map{
				"operatorType": pulumi.String("StringIn"),
				"key":          pulumi.String("source"),
				"values":       pulumi.ToStringArray(rt.Sources),
			}}
		}
		identity := pulumi.Map{"type": pulumi.String("SystemAssigned")}
		if err := ctx.RegisterResource(eventGridSubscriptionType, logical, pulumi.Map{
			"scope":                 topic.ID(),
			"eventSubscriptionName": pulumi.String("edw-" + rt.Name),
			"eventDeliverySchema":   pulumi.String("CloudEventSchemaV1_0"),
			"filter":                filter,
			"deliveryWithResourceIdentity": pulumi.Map{
				"identity": identity,
				"destination": pulumi.Map{
					"endpointType": pulumi.String("StorageQueue"),
					"resourceId":   args.AccountID,
					"queueName":    work.Name,
				},
			},
			"retryPolicy": pulumi.Map{
				"maxDeliveryAttempts":      pulumi.Int(routeMaxDeliveryAttempts),
				"eventTimeToLiveInMinutes": pulumi.Int(routeEventTTLMinutes),
			},
			"deadLetterWithResourceIdentity": pulumi.Map{
				"identity": identity,
				"deadLetterDestination": pulumi.Map{
					"endpointType":      pulumi.String("StorageBlob"),
					"resourceId":        args.AccountID,
					"blobContainerName": container.Name,
				},
			},
		}, &eventGridSubscription{}, child,
			// Delivery runs as the topic's identity: created after its grants,
			// deleted before them.
			pulumi.DependsOn([]pulumi.Resource{sendGrant, deadLetterGrant})); err != nil {
			return nil, fmt.Errorf("event subscription %s: %w", rt.Name, err)
		}
		r.Routes = append(r.Routes, &RouteQueues{Name: rt.Name, Queue: work, Poison: poison, QueueName: work.Name, PoisonQueueName: poison.Name})
	}

	r.Endpoint, r.TopicID, r.PrincipalID = topic.Endpoint, topic.ID().ToStringOutput(), principal
	return r, ctx.RegisterResourceOutputs(r, pulumi.Map{"endpoint": r.Endpoint, "topicId": r.TopicID, "principalId": r.PrincipalID})
}

// RouterAlertsArgs say which topic to watch and where to tell.
type RouterAlertsArgs struct {
	ResourceGroupName pulumi.StringInput
	// Name prefixes the rule names (the cluster name: unique per stack).
	Name          string
	TopicID       pulumi.StringInput
	ActionGroupID pulumi.StringInput
	Tags          pulumi.StringMap
}

// RouterAlerts are the router's delivery alerts.
type RouterAlerts struct {
	pulumi.ResourceState
}

// NewRouterAlerts alerts on events Event Grid dead-lettered and on events it
// dropped (could neither deliver nor dead-letter).
func NewRouterAlerts(ctx *pulumi.Context, name string, args RouterAlertsArgs, opts ...pulumi.ResourceOption) (*RouterAlerts, error) {
	ra := &RouterAlerts{}
	if err := ctx.RegisterComponentResource("edw:azure:RouterAlerts", name, ra, opts...); err != nil {
		return nil, err
	}
	for _, a := range []struct{ suffix, metric, description string }{
		{"router-dead-lettered", "DeadLetteredCount", "Event Grid could not deliver events to a route's queue and dead-lettered them to container " + deadLetterContainer + "."},
		{"router-dropped", "DroppedEventCount", "Event Grid dropped events it could neither deliver nor dead-letter."},
	} {
		if _, err := insights.NewMetricAlert(ctx, name+"-"+a.suffix, &insights.MetricAlertArgs{
			ResourceGroupName:   args.ResourceGroupName,
			RuleName:            pulumi.Sprintf("%s-%s", args.Name, a.suffix),
			Location:            pulumi.String("global"),
			Description:         pulumi.String(a.description),
			Enabled:             pulumi.Bool(true),
			Severity:            pulumi.Int(2),
			Scopes:              pulumi.StringArray{args.TopicID},
			WindowSize:          pulumi.String("PT5M"),
			EvaluationFrequency: pulumi.String("PT1M"),
			AutoMitigate:        pulumi.Bool(true),
			Criteria: insights.MetricAlertSingleResourceMultipleMetricCriteriaArgs{
				OdataType: pulumi.String("Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria"),
				AllOf: insights.MetricCriteriaArray{insights.MetricCriteriaArgs{
					CriterionType:   pulumi.String("StaticThresholdCriterion"),
					Name:            pulumi.String(a.metric),
					MetricNamespace: pulumi.String("Microsoft.EventGrid/topics"),
					MetricName:      pulumi.String(a.metric),
					TimeAggregation: pulumi.String("Total"),
					Operator:        pulumi.String("GreaterThan"),
					Threshold:       pulumi.Float64(0),
				}},
			},
			Actions: insights.MetricAlertActionArray{insights.MetricAlertActionArgs{ActionGroupId: args.ActionGroupID}},
			Tags:    args.Tags,
		}, pulumi.Parent(ra)); err != nil {
			return nil, fmt.Errorf("metric alert %s: %w", a.suffix, err)
		}
	}
	return ra, ctx.RegisterResourceOutputs(ra, pulumi.Map{})
}

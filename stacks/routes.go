package stacks

import (
	"github.com/pulumi/pulumi-azure-native-sdk/resources/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	infraaws "github.com/edw-dev/edw/infra/aws"
	"github.com/edw-dev/edw/infra/azure"
	"github.com/edw-dev/edw/infra/kube"
)

// routerResources are the permissions table's resources that exist only
// with routes: a stack without routes grants nothing on them.
var routerResources = map[string]bool{"bus": true, "topic": true}

// withRoutes is what identity's grants name: the stack's own resources and,
// for those that work on the routes' queues, the routes' too. The consumer
// reads them and KEDA measures them; the producer never writes one (the
// router does), so its grants stay on the stack's queue and the router.
func withRoutes[T any](identity string, own, routes map[string][]T) map[string][]T {
	if identity == "producer" || len(routes) == 0 {
		return own
	}
	all := map[string][]T{}
	for k, v := range own {
		all[k] = append(all[k], v...)
	}
	for k, v := range routes {
		all[k] = append(all[k], v...)
	}
	return all
}

// kubeRoute is the part of a route the Kubernetes layer takes from config:
// its name and scaling overrides; the cloud adds the queue.
func kubeRoute(r Route, metadata pulumi.StringMap, env map[string]pulumi.StringInput) kube.Route {
	return kube.Route{
		Name: r.Name, Metadata: metadata, Env: env,
		MessagesPerPod: r.MessagesPerPod, MinReplicas: r.MinReplicas, MaxReplicas: r.MaxReplicas, MaxReceiveCount: r.MaxReceiveCount,
	}
}

// awsRouter creates the EventBridge router when the stack has routes, and
// adds what the workload's policies must name: the bus to arns, each route's
// queue and dead-letter queue to routeARNs.
func awsRouter(ctx *pulumi.Context, cfg *Config, acct infraaws.Account, arns, routeARNs map[string][]pulumi.StringInput,
	opts ...pulumi.ResourceOption) (*infraaws.Router, error) {
	if len(cfg.Routes) == 0 {
		return nil, nil
	}
	routes := make([]infraaws.RouterRoute, len(cfg.Routes))
	for i, r := range cfg.Routes {
		routes[i] = infraaws.RouterRoute{
			Name: r.Name, Sources: r.Sources, Types: r.Types, MaxReceiveCount: r.Scaling(cfg.Consumer).MaxReceiveCount,
		}
	}
	router, err := infraaws.NewRouter(ctx, "edw-router", infraaws.RouterArgs{
		Account: acct, BusName: cfg.ClusterName, Routes: routes, VisibilityTimeout: cfg.Consumer.VisibilityTimeout,
		ArchiveDays: cfg.RouterArchiveDays, Retain: cfg.RetainData, Protect: cfg.ProtectData,
	}, opts...)
	if err != nil {
		return nil, err
	}
	arns["bus"] = []pulumi.StringInput{router.BusARN}
	for _, rq := range router.Routes {
		routeARNs["queue"] = append(routeARNs["queue"], rq.Queue.ARN)
		routeARNs["dlq"] = append(routeARNs["dlq"], rq.Queue.DLQARN)
	}
	return router, nil
}

// awsRouterAlarms put the router's alarms on the stack's alert topic.
func awsRouterAlarms(ctx *pulumi.Context, cfg *Config, router *infraaws.Router, monitoring *infraaws.Monitoring,
	opts ...pulumi.ResourceOption) error {
	if router == nil || monitoring == nil {
		return nil
	}
	_, err := infraaws.NewRouterAlarms(ctx, "edw-router", infraaws.RouterAlarmsArgs{
		Name: cfg.ClusterName, Router: router, Topic: monitoring.Topic,
	}, opts...)
	return err
}

// awsTargetRoutes sets the target's routes and the producer's router.
func awsTargetRoutes(cfg *Config, router *infraaws.Router, t *kube.Target) {
	if router == nil {
		return
	}
	for i, rq := range router.Routes {
		t.Routes = append(t.Routes, kubeRoute(cfg.Routes[i],
			pulumi.StringMap{"queueURL": rq.Queue.URL},
			map[string]pulumi.StringInput{"EDW_QUEUE_URL": rq.Queue.URL, "EDW_DLQ_URL": rq.Queue.DLQURL}))
	}
	t.RouterEnv = map[string]pulumi.StringInput{"EDW_EVENT_BUS_NAME": router.BusName}
}

// awsRouterOutputs add the bus and each route's queue to the stack outputs.
func awsRouterOutputs(out pulumi.Map, router *infraaws.Router) {
	if router == nil {
		return
	}
	queues := pulumi.Map{}
	for _, rq := range router.Routes {
		queues[rq.Name] = pulumi.Map{"queueUrl": rq.Queue.URL, "dlqUrl": rq.Queue.DLQURL}
	}
	out["eventBusName"], out["routes"] = router.BusName, queues
}

// grantScope is one resource a grant is on; Name, for a route's resources,
// keeps the role assignment's logical name stable as routes come and go.
type grantScope struct {
	ID   pulumi.StringInput
	Name string
}

// azureRouter creates the Event Grid router when the stack has routes, and
// adds the grant scopes: the topic to scopes, each route's queue and poison
// queue to routeScopes.
func azureRouter(ctx *pulumi.Context, cfg *Config, rg *resources.ResourceGroup, store *azure.Storage, subscription pulumi.StringInput,
	tags pulumi.StringMap, adopt *azure.Adoption, scopes, routeScopes map[string][]grantScope, opts ...pulumi.ResourceOption) (*azure.Router, error) {
	if len(cfg.Routes) == 0 {
		return nil, nil
	}
	routes := make([]azure.RouterRoute, len(cfg.Routes))
	for i, r := range cfg.Routes {
		routes[i] = azure.RouterRoute{Name: r.Name, Sources: r.Sources, Types: r.Types}
	}
	router, err := azure.NewRouter(ctx, "edw-router", azure.RouterArgs{
		ResourceGroupName: rg.Name, ResourceGroupID: rg.ID().ToStringOutput(), Location: cfg.Region, Name: cfg.ClusterName,
		SubscriptionID: subscription, AccountName: store.AccountName, AccountID: store.Account.ID().ToStringOutput(),
		Routes: routes, Retain: cfg.RetainData, Protect: cfg.ProtectData, Adopt: adopt, Tags: tags,
	}, opts...)
	if err != nil {
		return nil, err
	}
	scopes["topic"] = []grantScope{{ID: router.TopicID, Name: "topic"}}
	for _, rq := range router.Routes {
		routeScopes["queue"] = append(routeScopes["queue"], grantScope{ID: rq.Queue.ID().ToStringOutput(), Name: "queue-" + rq.Name})
		routeScopes["poison"] = append(routeScopes["poison"], grantScope{ID: rq.Poison.ID().ToStringOutput(), Name: "poison-" + rq.Name})
	}
	return router, nil
}

// azureRouterAlerts send the router's delivery alerts to the stack's action group.
func azureRouterAlerts(ctx *pulumi.Context, cfg *Config, rg *resources.ResourceGroup, router *azure.Router, monitoring *azure.Monitoring,
	tags pulumi.StringMap, opts ...pulumi.ResourceOption) error {
	if router == nil || monitoring == nil {
		return nil
	}
	_, err := azure.NewRouterAlerts(ctx, "edw-router", azure.RouterAlertsArgs{
		ResourceGroupName: rg.Name, Name: cfg.ClusterName, TopicID: router.TopicID, ActionGroupID: monitoring.ActionGroup, Tags: tags,
	}, opts...)
	return err
}

// workbookRoutes are the routes as the workbook shows them: each with the
// name the Kubernetes layer gives its ScaledObject, which KEDA's metrics carry.
func workbookRoutes(router *azure.Router) []azure.WorkbookRoute {
	if router == nil {
		return nil
	}
	out := make([]azure.WorkbookRoute, len(router.Routes))
	for i, rq := range router.Routes {
		out[i] = azure.WorkbookRoute{
			Name: rq.Name, ScaledObject: kube.RouteConsumerName(rq.Name), QueueName: rq.QueueName, PoisonQueueName: rq.PoisonQueueName,
		}
	}
	return out
}

// azureTargetRoutes sets the target's routes and the producer's router.
func azureTargetRoutes(cfg *Config, router *azure.Router, t *kube.Target) {
	if router == nil {
		return
	}
	for i, rq := range router.Routes {
		t.Routes = append(t.Routes, kubeRoute(cfg.Routes[i],
			pulumi.StringMap{"queueName": rq.QueueName},
			map[string]pulumi.StringInput{"EDW_QUEUE_NAME": rq.QueueName, "EDW_POISON_QUEUE_NAME": rq.PoisonQueueName}))
	}
	t.RouterEnv = map[string]pulumi.StringInput{"EDW_EVENTGRID_ENDPOINT": router.Endpoint}
}

// azureRouterOutputs add the topic's endpoint and each route's queues.
func azureRouterOutputs(out pulumi.Map, router *azure.Router) {
	if router == nil {
		return
	}
	queues := pulumi.Map{}
	for _, rq := range router.Routes {
		queues[rq.Name] = pulumi.Map{"queueName": rq.QueueName, "poisonQueueName": rq.PoisonQueueName}
	}
	out["eventGridEndpoint"], out["routes"] = router.Endpoint, queues
}

// existingRoutes are a kubernetes stack's routes on their existing queues.
func existingRoutes(cfg *Config) []kube.Route {
	var out []kube.Route
	for _, r := range cfg.Routes {
		if cfg.Existing.Backend == AWS {
			out = append(out, kubeRoute(r, pulumi.StringMap{"queueURL": pulumi.String(r.QueueURL)},
				map[string]pulumi.StringInput{"EDW_QUEUE_URL": pulumi.String(r.QueueURL), "EDW_DLQ_URL": pulumi.String(r.DLQURL)}))
			continue
		}
		out = append(out, kubeRoute(r, pulumi.StringMap{"queueName": pulumi.String(r.QueueName)},
			map[string]pulumi.StringInput{"EDW_QUEUE_NAME": pulumi.String(r.QueueName), "EDW_POISON_QUEUE_NAME": pulumi.String(r.PoisonQueueName)}))
	}
	return out
}

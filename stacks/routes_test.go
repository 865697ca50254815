package stacks

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/infra/azure"
	"github.com/edw-dev/edw/infra/kube"
	"github.com/edw-dev/edw/internal/permissions"
	"github.com/edw-dev/edw/internal/pulumitest"
)

const (
	awsBus         = "aws:cloudwatch/eventBus:EventBus"
	awsArchive     = "aws:cloudwatch/eventArchive:EventArchive"
	awsQueuePolicy = "aws:sqs/queuePolicy:QueuePolicy"
	azTopic        = "azure-native:eventgrid:Topic"
	azEventSub     = "azure-native:eventgrid:EventSubscription"
	azContainer    = "azure-native:storage:BlobContainer"
	k8sDeployment  = "kubernetes:apps/v1:Deployment"
	k8sScaled      = "kubernetes:keda.sh/v1alpha1:ScaledObject"
	k8sTriggerAuth = "kubernetes:keda.sh/v1alpha1:TriggerAuthentication"
	k8sJob         = "kubernetes:batch/v1:Job"
	topicPrincipal = "topic-system-identity"
)

// testRoute is a route as the tests configure it, with what they expect.
type testRoute struct {
	Name            string   `json:"name"`
	Sources         []string `json:"sources,omitempty"`
	Types           []string `json:"types,omitempty"`
	MessagesPerPod  *int     `json:"messagesPerPod,omitempty"`
	MaxReplicas     *int     `json:"maxReplicas,omitempty"`
	MaxReceiveCount *int     `json:"maxReceiveCount,omitempty"`
	QueueURL        string   `json:"queueUrl,omitempty"`
	DLQURL          string   `json:"dlqUrl,omitempty"`
	QueueName       string   `json:"queueName,omitempty"`
}

// threeRoutes: disjoint filters, overrides on one, and one without a filter.
var threeRoutes = []testRoute{
	{Name: "orders", Sources: []string{"com.orders"}, Types: []string{"OrderCreated", "OrderPaid"}},
	{Name: "payments", Sources: []string{"com.payments", "com.refunds"}, MessagesPerPod: ptr(5), MaxReplicas: ptr(20), MaxReceiveCount: ptr(3)},
	{Name: "audit"},
}

func routesJSON(t *testing.T, routes []testRoute) string {
	b, err := json.Marshal(routes)
	require.NoError(t, err)
	return string(b)
}

// routeFakes answer the router's resources with the outputs the stacks read.
func routeFakes() []pulumitest.Option {
	arn := func(kind, name string) string { return "arn:aws:events:eu-north-1:" + fakeAccount + ":" + kind + name }
	return []pulumitest.Option{
		pulumitest.FakeResource(awsBus, func(a pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
			out := a.Inputs.Copy()
			out["arn"] = resource.NewStringProperty(arn("event-bus/", a.Inputs["name"].StringValue()))
			return a.Name, out, nil
		}),
		pulumitest.FakeResource(awsRule, func(a pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
			out := a.Inputs.Copy()
			name := a.Name + "-7f3a"
			bus := "default"
			if b, ok := a.Inputs["eventBusName"]; ok && b.IsString() {
				bus = b.StringValue()
			}
			out["name"] = resource.NewStringProperty(name)
			out["arn"] = resource.NewStringProperty(arn("rule/", bus+"/"+name))
			return a.Name, out, nil
		}),
		pulumitest.FakeResource(azTopic, func(a pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
			out := a.Inputs.Copy()
			name := a.Inputs["topicName"].StringValue()
			out["name"] = resource.NewStringProperty(name)
			out["endpoint"] = resource.NewStringProperty("https://" + name + ".westus3-1.eventgrid.azure.net/api/events")
			out["identity"] = resource.NewObjectProperty(resource.PropertyMap{
				"type": resource.NewStringProperty("SystemAssigned"), "principalId": resource.NewStringProperty(topicPrincipal),
			})
			return "/subscriptions/" + fakeSubscription + "/resourceGroups/rg/providers/Microsoft.EventGrid/topics/" + name, out, nil
		}),
		pulumitest.FakeResource(azContainer, func(a pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
			out := a.Inputs.Copy()
			out["name"] = a.Inputs["containerName"]
			return a.Name + "-id", out, nil
		}),
	}
}

func runAWSRoutes(t *testing.T, extra map[string]string) (*pulumitest.Graph, map[string]any) {
	t.Helper()
	cfg := with(map[string]string{"aws:region": "eu-north-1"}, flatten(prebuilt)...)
	for k, v := range extra {
		cfg[k] = v
	}
	return runStack(t, "aws", cfg, append(awsFakes("eu-north-1", "edw-aws"), routeFakes()...)...)
}

func runAzureRoutes(t *testing.T, extra map[string]string) (*pulumitest.Graph, map[string]any) {
	t.Helper()
	cfg := with(map[string]string{}, flatten(prebuilt)...)
	for k, v := range extra {
		cfg[k] = v
	}
	return runStack(t, "azure", cfg, append(azureFakes(), routeFakes()...)...)
}

// env is a container's environment as name → value.
func env(t *testing.T, r *pulumitest.Resource) map[string]string {
	t.Helper()
	out := map[string]string{}
	list, _ := r.Plain("spec.template.spec.containers.0.env")
	for _, e := range list.([]any) {
		m := e.(map[string]any)
		out[m["name"].(string)], _ = m["value"].(string)
	}
	return out
}

// byInput returns the resources of typ whose input at path is value.
func byInput(t *testing.T, g *pulumitest.Graph, typ, path, value string) []*pulumitest.Resource {
	t.Helper()
	var out []*pulumitest.Resource
	for _, r := range g.ByType(typ) {
		if v, ok := r.Plain(path); ok && v == value {
			out = append(out, r)
		}
	}
	return out
}

// oneByInput is byInput that fails unless exactly one resource matches.
func oneByInput(t *testing.T, g *pulumitest.Graph, typ, path, value string) *pulumitest.Resource {
	t.Helper()
	rs := byInput(t, g, typ, path, value)
	require.Len(t, rs, 1, "want exactly one %s with %s = %q", typ, path, value)
	return rs[0]
}

// oneByState returns the one resource of typ whose output key is value.
func oneByState(t *testing.T, g *pulumitest.Graph, typ, key, value string) *pulumitest.Resource {
	t.Helper()
	var out []*pulumitest.Resource
	for _, r := range g.ByType(typ) {
		if v, ok := r.State[resource.PropertyKey(key)]; ok && v.IsString() && v.StringValue() == value {
			out = append(out, r)
		}
	}
	require.Len(t, out, 1, "want exactly one %s with output %s = %q", typ, key, value)
	return out[0]
}

// k8sObject is the Kubernetes object of kind named name (metadata.name).
func k8sObject(t *testing.T, g *pulumitest.Graph, typ, name string) *pulumitest.Resource {
	t.Helper()
	return oneByInput(t, g, typ, "metadata.name", name)
}

// fingerprint is everything a graph says about each resource: type, name,
// inputs, parent, dependencies and options.
func fingerprint(t *testing.T, g *pulumitest.Graph) map[string]string {
	return fingerprintOf(t, g, true)
}

// fingerprintOf is fingerprint, with or without dependencies (a new grant
// orders its users after it without changing them).
func fingerprintOf(t *testing.T, g *pulumitest.Graph, withDeps bool) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range g.Resources {
		deps := slices.Clone(r.DependsOn)
		for k, urns := range r.PropertyDependencies {
			for _, u := range urns {
				deps = append(deps, k+"<-"+u)
			}
		}
		sort.Strings(deps)
		if !withDeps {
			deps = nil
		}
		b, err := json.Marshal(map[string]any{
			"inputs": r.Inputs.Mappable(), "parent": r.Parent, "deps": deps, "provider": r.Provider,
			"retain": r.RetainOnDelete, "ignore": r.IgnoreChanges,
		})
		require.NoError(t, err)
		out[r.URN] = string(b)
	}
	return out
}

// TestNoRoutesKeepsTheGraph: without routes, whether edw:routes is absent or
// the empty list the CLI injects from Pulumi.yaml, every stack registers
// exactly the same resources with exactly the same inputs, parents and
// dependencies, and nothing of the router; with routes it does not.
func TestNoRoutesKeepsTheGraph(t *testing.T) {
	existing := with(awsWithSecret, flatten(prebuilt)...)
	stacks := map[string]func(map[string]string) *pulumitest.Graph{
		"aws": func(extra map[string]string) *pulumitest.Graph {
			g, _ := runAWSRoutes(t, with(extra, "edw:producer", "true"))
			return g
		},
		"azure": func(extra map[string]string) *pulumitest.Graph {
			g, _ := runAzureRoutes(t, with(extra, "edw:producer", "true"))
			return g
		},
		"kubernetes": func(extra map[string]string) *pulumitest.Graph {
			g, _ := runStack(t, "kubernetes", with(with(existing, flatten(extra)...), "edw:producer", "true"))
			return g
		},
	}
	routed := map[string]string{
		"aws": routesJSON(t, threeRoutes[:1]), "azure": routesJSON(t, threeRoutes[:1]),
		"kubernetes": routesJSON(t, []testRoute{{Name: "orders", QueueURL: sqsURL + "-orders", DLQURL: sqsURL + "-orders-dlq"}}),
	}
	for stack, run := range stacks {
		t.Run(stack, func(t *testing.T) {
			absent := fingerprint(t, run(map[string]string{}))
			empty := map[string]string{"edw:routes": "[]"}
			if stack == "aws" {
				empty["edw:routerArchiveDays"] = "0"
			}
			assert.Equal(t, absent, fingerprint(t, run(empty)))
			for urn := range absent {
				assert.NotContains(t, urn, "Router", "no router without routes")
				assert.NotContains(t, urn, "eventgrid")
			}
			// The comparison sees a route: it is not blind.
			assert.NotEqual(t, absent, fingerprint(t, run(map[string]string{"edw:routes": routed[stack]})))
		})
	}
}

// TestRoutesAddOnlyTheirOwnObjects: adding routes to a stack leaves every
// resource it had as it was, except the grants that now name the routes'
// resources, the producer Job, which now publishes to the router, and the
// dashboard or workbook, which now shows each route.
func TestRoutesAddOnlyTheirOwnObjects(t *testing.T) {
	type run func(map[string]string) *pulumitest.Graph
	cases := map[string]struct {
		run     run
		changes []string
	}{
		"aws": {func(e map[string]string) *pulumitest.Graph { g, _ := runAWSRoutes(t, e); return g },
			[]string{awsPolicy + "::edw-consumer", awsPolicy + "::edw-producer", awsPolicy + "::edw-keda", k8sJob + "::edw-producer", awsDashboard + "::edw"}},
		"azure": {func(e map[string]string) *pulumitest.Graph { g, _ := runAzureRoutes(t, e); return g },
			[]string{k8sJob + "::edw-producer", azWorkbook + "::edw-workbook"}},
	}
	for stack, c := range cases {
		t.Run(stack, func(t *testing.T) {
			before := fingerprintOf(t, c.run(map[string]string{"edw:producer": "true"}), false)
			afterGraph := c.run(map[string]string{"edw:producer": "true", "edw:routes": routesJSON(t, threeRoutes)})
			after := fingerprintOf(t, afterGraph, false)
			var changed []string
			for urn, fp := range before {
				now, ok := after[urn]
				require.True(t, ok, "%s disappears when routes are added", urn)
				if now != fp {
					changed = append(changed, afterGraph.ByURN(urn).String())
				}
			}
			assert.ElementsMatch(t, c.changes, changed)
			assert.Greater(t, len(after), len(before))
		})
	}
}

// TestAWSRoutesNameEachOther: per route exactly one queue, dead-letter queue,
// rule, target, undelivered-events queue, Deployment and ScaledObject, each
// found by following the references from the route's Deployment: the
// ScaledObject and the Deployment read the queue the rule's target names, and
// only that rule may send to it.
func TestAWSRoutesNameEachOther(t *testing.T) {
	g, out := runAWSRoutes(t, map[string]string{"edw:routes": routesJSON(t, threeRoutes), "edw:producer": "true"})
	bus := g.OnlyOfType(t, awsBus)
	assert.Equal(t, "edw-aws", bus.Str(t, "name"), "the bus is named per stack")
	queueByURL := map[string]*pulumitest.Resource{}
	queueByARN := map[string]*pulumitest.Resource{}
	for _, q := range g.ByType(awsQueue) {
		queueByURL[q.State["url"].StringValue()] = q
		queueByARN[q.State["arn"].StringValue()] = q
	}
	onBus := byInput(t, g, awsRule, "eventBusName", "edw-aws")
	require.Len(t, onBus, len(threeRoutes), "one rule per route on the stack's bus")
	assert.Len(t, g.ByType(k8sDeployment), len(threeRoutes)+1, "one Deployment per route, beside the stack's own")
	assert.Len(t, g.ByType(k8sScaled), len(threeRoutes)+1)
	assert.Len(t, g.ByType(k8sTriggerAuth), len(threeRoutes)+1)
	assert.Len(t, g.ByType("kubernetes:core/v1:ServiceAccount"), 2, "one consumer ServiceAccount for every route, and the producer's")

	for _, want := range threeRoutes {
		t.Run(want.Name, func(t *testing.T) {
			name := kube.RouteConsumerName(want.Name)
			dep := k8sObject(t, g, k8sDeployment, name)
			so := k8sObject(t, g, k8sScaled, name)
			auth := k8sObject(t, g, k8sTriggerAuth, name)
			e := env(t, dep)
			assert.Equal(t, want.Name, e["EDW_ROUTE"])
			assert.Equal(t, "edw-consumer", dep.Str(t, "spec.template.spec.serviceAccountName"))
			assert.Equal(t, name, dep.Str(t, "spec.selector.matchLabels.app\\.kubernetes\\.io/name"))

			queue, ok := queueByURL[e["EDW_QUEUE_URL"]]
			require.True(t, ok, "EDW_QUEUE_URL %q is a queue of the stack", e["EDW_QUEUE_URL"])
			assert.NotEqual(t, out["queueUrl"], e["EDW_QUEUE_URL"], "the route has its own queue")
			var redrive map[string]any
			require.NoError(t, json.Unmarshal([]byte(queue.Str(t, "redrivePolicy")), &redrive))
			dlq := queueByARN[redrive["deadLetterTargetArn"].(string)]
			require.NotNil(t, dlq, "the route queue redrives to a queue of the stack")
			assert.Equal(t, dlq.State["url"].StringValue(), e["EDW_DLQ_URL"], "the consumer dead-letters where SQS redrives")
			for _, q := range []*pulumitest.Resource{queue, dlq} {
				sse, _ := q.Plain("sqsManagedSseEnabled")
				assert.Equal(t, true, sse, "SSE-SQS: EventBridge can write to it")
				_, kms := q.Input("kmsMasterKeyId")
				assert.False(t, kms, "no KMS key: EventBridge cannot use alias/aws/sqs")
			}

			assert.Equal(t, e["EDW_QUEUE_URL"], so.Str(t, "spec.triggers.0.metadata.queueURL"), "the ScaledObject reads the route's queue")
			assert.Equal(t, name, so.Str(t, "spec.scaleTargetRef.name"))
			assert.Equal(t, name, so.Str(t, "spec.triggers.0.authenticationRef.name"))
			assert.Equal(t, "aws", auth.Str(t, "spec.podIdentity.provider"))

			target := oneByInput(t, g, awsTarget, "arn", queue.State["arn"].StringValue())
			rule := oneByState(t, g, awsRule, "name", target.Str(t, "rule"))
			ruleARN := rule.State["arn"].StringValue()
			assert.Equal(t, "edw-aws", rule.Str(t, "eventBusName"))
			assert.Equal(t, "edw-aws", target.Str(t, "eventBusName"))
			for path, v := range map[string]float64{"retryPolicy.maximumRetryAttempts": 185, "retryPolicy.maximumEventAgeInSeconds": 86400} {
				got, _ := target.Plain(path)
				assert.Equal(t, v, got, path)
			}

			var pattern map[string][]any
			require.NoError(t, json.Unmarshal([]byte(rule.Str(t, "eventPattern")), &pattern), "the event pattern is JSON")
			wantPattern := map[string][]any{}
			for _, s := range want.Sources {
				wantPattern["source"] = append(wantPattern["source"], s)
			}
			for _, s := range want.Types {
				wantPattern["detail-type"] = append(wantPattern["detail-type"], s)
			}
			if len(wantPattern) == 0 {
				wantPattern["source"] = []any{map[string]any{"prefix": ""}}
			}
			assert.Equal(t, wantPattern, pattern)

			undelivered := queueByARN[target.Str(t, "deadLetterConfig.arn")]
			require.NotNil(t, undelivered, "the target's dead-letter queue is a queue of the stack")
			assert.NotEqual(t, dlq, undelivered, "undeliverable events and unprocessable messages are kept apart")
			sse, _ := undelivered.Plain("sqsManagedSseEnabled")
			assert.Equal(t, true, sse)

			for _, q := range []*pulumitest.Resource{queue, undelivered} {
				policy := oneByInput(t, g, awsQueuePolicy, "queueUrl", q.State["url"].StringValue())
				st := policyDoc(t, policy, "policy")
				require.Len(t, st, 1)
				assert.Equal(t, []string{"sqs:SendMessage"}, strs(st[0]["Action"]))
				assert.Equal(t, []string{q.State["arn"].StringValue()}, strs(st[0]["Resource"]), "on that queue only")
				assert.Equal(t, map[string]any{"Service": "events.amazonaws.com"}, st[0]["Principal"])
				assert.Equal(t, map[string]any{"ArnEquals": map[string]any{"aws:SourceArn": ruleARN}}, st[0]["Condition"], "only that rule may send")
			}

			if want.MaxReceiveCount != nil {
				assert.Equal(t, float64(*want.MaxReceiveCount), redrive["maxReceiveCount"])
				assert.Contains(t, dep.Str(t, "spec.template.spec.containers.0.args.0"), fmt.Sprintf("--max-receive-count=%d", *want.MaxReceiveCount))
			} else {
				assert.Equal(t, float64(DefaultMaxReceiveCount), redrive["maxReceiveCount"])
			}
			qlen, mx := fmt.Sprint(DefaultMessagesPerPod), float64(DefaultMaxReplicas)
			if want.MessagesPerPod != nil {
				qlen = fmt.Sprint(*want.MessagesPerPod)
			}
			if want.MaxReplicas != nil {
				mx = float64(*want.MaxReplicas)
			}
			assert.Equal(t, qlen, so.Str(t, "spec.triggers.0.metadata.queueLength"))
			got, _ := so.Plain("spec.maxReplicaCount")
			assert.Equal(t, mx, got)
		})
	}

	job := g.OnlyOfType(t, k8sJob)
	assert.Equal(t, "edw-aws", env(t, job)["EDW_EVENT_BUS_NAME"], "the producer publishes to the stack's bus")
	args, _ := job.Plain("spec.template.spec.containers.0.args")
	assert.Contains(t, args, "--via=router")
	assert.Equal(t, "edw-aws", out["eventBusName"])
	assert.Empty(t, g.ByType(awsArchive), "no archive unless asked")
	assert.Contains(t, out["routes"], "orders")
}

// TestAWSRoutePoliciesGrantExactlyThePermissionsTable: with routes, the
// producer may put events on the bus and nothing else new; the consumer and
// KEDA get each route's queues as they have the stack's own.
func TestAWSRoutePoliciesGrantExactlyThePermissionsTable(t *testing.T) {
	g, out := runAWSRoutes(t, map[string]string{"edw:routes": routesJSON(t, threeRoutes)})
	perms, err := permissions.Load()
	require.NoError(t, err)
	own := map[string][]string{
		"queue": {g.One(t, awsQueue, "edw").State["arn"].StringValue()},
		"dlq":   {g.One(t, awsQueue, "edw-dlq").State["arn"].StringValue()},
		"table": {g.OnlyOfType(t, awsTable).State["arn"].StringValue()},
		"bus":   {g.OnlyOfType(t, awsBus).State["arn"].StringValue()},
	}
	routes := map[string][]string{}
	require.Len(t, out["routes"], len(threeRoutes))
	for _, r := range threeRoutes {
		urls := out["routes"].(map[string]any)[r.Name].(map[string]any)
		for role, url := range map[string]string{"queue": urls["queueUrl"].(string), "dlq": urls["dlqUrl"].(string)} {
			q := g.ByType(awsQueue)[slices.IndexFunc(g.ByType(awsQueue), func(q *pulumitest.Resource) bool { return q.State["url"].StringValue() == url })]
			routes[role] = append(routes[role], q.State["arn"].StringValue())
		}
	}
	for _, identity := range []string{"consumer", "producer", "keda"} {
		want := map[string][]string{}
		for _, on := range perms.Resources("aws", identity) {
			arns := own[on]
			if identity != "producer" {
				arns = append(slices.Clone(arns), routes[on]...)
			}
			for _, a := range arns {
				want[a] = perms.Actions("aws", identity, on)
			}
		}
		got := map[string][]string{}
		for _, st := range policyDoc(t, g.One(t, awsPolicy, "edw-"+identity), "policy") {
			for _, res := range strs(st["Resource"]) {
				got[res] = append(got[res], strs(st["Action"])...)
			}
		}
		for res := range got {
			slices.Sort(got[res])
		}
		assert.Equal(t, want, got, identity)
	}
	assert.Equal(t, []string{"events:PutEvents"}, perms.Actions("aws", "producer", "bus"))
}

// TestAWSRouterArchiveAndAlarms: the archive keeps the bus's events for the
// days asked; each route's failed invocations, undelivered events and
// dead-lettered messages alarm on the stack's alert topic.
func TestAWSRouterArchiveAndAlarms(t *testing.T) {
	g, out := runAWSRoutes(t, map[string]string{"edw:routes": routesJSON(t, threeRoutes), "edw:routerArchiveDays": "30"})
	bus := g.OnlyOfType(t, awsBus)
	archive := g.OnlyOfType(t, awsArchive)
	assert.Equal(t, bus.State["arn"].StringValue(), archive.Str(t, "eventSourceArn"))
	days, _ := archive.Plain("retentionDays")
	assert.Equal(t, 30.0, days)

	topic := out["alertTopicArn"]
	require.NotEmpty(t, topic)
	alarms := map[string]*pulumitest.Resource{}
	for _, a := range g.ByType(awsAlarm) {
		alarms[a.Str(t, "name")] = a
	}
	for _, r := range threeRoutes {
		queues := out["routes"].(map[string]any)[r.Name].(map[string]any)
		queue := oneByState(t, g, awsQueue, "url", queues["queueUrl"].(string))
		target := oneByInput(t, g, awsTarget, "arn", queue.State["arn"].StringValue())
		rule := oneByState(t, g, awsRule, "name", target.Str(t, "rule"))
		undelivered := g.ByType(awsQueue)[slices.IndexFunc(g.ByType(awsQueue), func(q *pulumitest.Resource) bool {
			return q.State["arn"].StringValue() == target.Str(t, "deadLetterConfig.arn")
		})]
		dlq := oneByState(t, g, awsQueue, "url", queues["dlqUrl"].(string))
		for name, want := range map[string]map[string]any{
			"edw-aws-route-" + r.Name + "-failed-invocations": {"namespace": "AWS/Events", "metricName": "FailedInvocations",
				"dimensions": map[string]any{"EventBusName": "edw-aws", "RuleName": rule.State["name"].StringValue()}},
			"edw-aws-route-" + r.Name + "-undelivered": {"namespace": "AWS/SQS", "metricName": "ApproximateNumberOfMessagesVisible",
				"dimensions": map[string]any{"QueueName": undelivered.State["name"].StringValue()}},
			"edw-aws-route-" + r.Name + "-dlq-not-empty": {"namespace": "AWS/SQS", "metricName": "ApproximateNumberOfMessagesVisible",
				"dimensions": map[string]any{"QueueName": dlq.State["name"].StringValue()}},
		} {
			a, ok := alarms[name]
			if !assert.True(t, ok, "alarm %s", name) {
				continue
			}
			for path, v := range want {
				got, _ := a.Plain(path)
				assert.Equal(t, v, got, "%s %s", name, path)
			}
			actions, _ := a.Plain("alarmActions")
			assert.Equal(t, []any{topic}, actions, name)
		}
	}
	g, _ = runAWSRoutes(t, map[string]string{"edw:routes": routesJSON(t, threeRoutes), "edw:monitoring": "false"})
	assert.Empty(t, g.ByType(awsAlarm), "no monitoring, no alarms")
}

// TestAzureRoutesNameEachOther: per route exactly one queue, poison queue,
// subscription, Deployment and ScaledObject, found by following references
// from the Deployment; the subscription delivers to that queue with the
// topic's identity, which may send to that queue only.
func TestAzureRoutesNameEachOther(t *testing.T) {
	g, out := runAzureRoutes(t, map[string]string{"edw:routes": routesJSON(t, threeRoutes), "edw:producer": "true"})
	topic := g.OnlyOfType(t, azTopic)
	for path, want := range map[string]any{"inputSchema": "CloudEventSchemaV1_0", "disableLocalAuth": true, "identity.type": "SystemAssigned"} {
		got, _ := topic.Plain(path)
		assert.Equal(t, want, got, path)
	}
	rg := g.OnlyOfType(t, azRG)
	assert.Equal(t, azure.TopicName("edw-azure", rg.ID), topic.Str(t, "topicName"))
	account := g.OnlyOfType(t, azAccount)
	container := g.OnlyOfType(t, azContainer)
	subs := g.ByType(azEventSub)
	require.Len(t, subs, len(threeRoutes), "one subscription per route")
	queueByName := map[string]*pulumitest.Resource{}
	for _, q := range g.ByType(azQueue) {
		queueByName[q.Str(t, "queueName")] = q
	}
	senderRole := "/subscriptions/" + fakeSubscription + "/providers/Microsoft.Authorization/roleDefinitions/" + azure.RoleQueueDataMessageSender
	blobRole := "/subscriptions/" + fakeSubscription + "/providers/Microsoft.Authorization/roleDefinitions/" + azure.RoleBlobDataContributor
	topicGrants := byInput(t, g, azRole, "principalId", topicPrincipal)
	require.Len(t, topicGrants, len(threeRoutes)+1, "the topic's identity: send on each route's queue, write the dead-letter container")
	deadLetter := oneByInput(t, g, azRole, "scope", container.ID)
	assert.Equal(t, blobRole, deadLetter.Str(t, "roleDefinitionId"))
	assert.Equal(t, topicPrincipal, deadLetter.Str(t, "principalId"))

	for _, want := range threeRoutes {
		t.Run(want.Name, func(t *testing.T) {
			name := kube.RouteConsumerName(want.Name)
			dep := k8sObject(t, g, k8sDeployment, name)
			so := k8sObject(t, g, k8sScaled, name)
			e := env(t, dep)
			assert.Equal(t, want.Name, e["EDW_ROUTE"])
			queue, ok := queueByName[e["EDW_QUEUE_NAME"]]
			require.True(t, ok, "EDW_QUEUE_NAME %q is a queue of the stack", e["EDW_QUEUE_NAME"])
			assert.NotEqual(t, out["queueName"], e["EDW_QUEUE_NAME"])
			_, ok = queueByName[e["EDW_POISON_QUEUE_NAME"]]
			assert.True(t, ok, "the poison queue %q exists", e["EDW_POISON_QUEUE_NAME"])
			assert.Equal(t, e["EDW_QUEUE_NAME"]+"-poison", e["EDW_POISON_QUEUE_NAME"])
			assert.Equal(t, e["EDW_QUEUE_NAME"], so.Str(t, "spec.triggers.0.metadata.queueName"))
			assert.Equal(t, "edwstore1a2b3c", so.Str(t, "spec.triggers.0.metadata.accountName"))

			sub := oneByInput(t, g, azEventSub, "deliveryWithResourceIdentity.destination.queueName", e["EDW_QUEUE_NAME"])
			assert.Equal(t, topic.ID, sub.Str(t, "scope"), "a subscription of the stack's topic")
			for path, v := range map[string]any{
				"eventDeliverySchema":                                                    "CloudEventSchemaV1_0",
				"deliveryWithResourceIdentity.identity.type":                             "SystemAssigned",
				"deliveryWithResourceIdentity.destination.endpointType":                  "StorageQueue",
				"deliveryWithResourceIdentity.destination.resourceId":                    account.ID,
				"deadLetterWithResourceIdentity.identity.type":                           "SystemAssigned",
				"deadLetterWithResourceIdentity.deadLetterDestination.endpointType":      "StorageBlob",
				"deadLetterWithResourceIdentity.deadLetterDestination.resourceId":        account.ID,
				"deadLetterWithResourceIdentity.deadLetterDestination.blobContainerName": container.Str(t, "containerName"),
				"retryPolicy.maxDeliveryAttempts":                                        30.0,
				"retryPolicy.eventTimeToLiveInMinutes":                                   1440.0,
			} {
				got, _ := sub.Plain(path)
				assert.Equal(t, v, got, path)
			}
			types, _ := sub.Plain("filter.includedEventTypes")
			filters, _ := sub.Plain("filter.advancedFilters")
			if len(want.Types) > 0 {
				assert.Equal(t, toAny(want.Types), types)
			} else {
				assert.Nil(t, types, "no type filter: every type")
			}
			if len(want.Sources) > 0 {
				assert.Equal(t, []any{map[string]any{"operatorType": "StringIn", "key": "source", "values": toAny(want.Sources)}}, filters,
					"a CloudEvent's source is matched by an advanced filter on source")
			} else {
				assert.Nil(t, filters)
			}

			var sends []*pulumitest.Resource
			for _, ra := range byInput(t, g, azRole, "scope", queue.ID) {
				if ra.Str(t, "principalId") == topicPrincipal {
					sends = append(sends, ra)
				}
			}
			require.Len(t, sends, 1, "the topic's identity sends to this queue, once")
			send := sends[0]
			assert.Equal(t, senderRole, send.Str(t, "roleDefinitionId"))
			assert.True(t, g.DependsOn(sub, send), "delivery starts after, and stops before, its grant")
			assert.True(t, g.DependsOn(sub, deadLetter))
		})
	}
	job := g.OnlyOfType(t, k8sJob)
	assert.Equal(t, topic.State["endpoint"].StringValue(), env(t, job)["EDW_EVENTGRID_ENDPOINT"])
	args, _ := job.Plain("spec.template.spec.containers.0.args")
	assert.Contains(t, args, "--via=router")
	assert.Equal(t, topic.State["endpoint"].StringValue(), out["eventGridEndpoint"])

	alerts := map[string]*pulumitest.Resource{}
	for _, a := range g.ByType(azMetricAlert) {
		if scopes, _ := a.Plain("scopes"); fmt.Sprint(scopes) == fmt.Sprint([]any{topic.ID}) {
			alerts[a.Str(t, "criteria.allOf.0.metricName")] = a
		}
	}
	require.Len(t, alerts, 2, "dead-lettered and dropped deliveries alert")
	for _, metric := range []string{"DeadLetteredCount", "DroppedEventCount"} {
		a := alerts[metric]
		require.NotNil(t, a, metric)
		assert.Equal(t, "Microsoft.EventGrid/topics", a.Str(t, "criteria.allOf.0.metricNamespace"))
		assert.Equal(t, out["alertActionGroupId"], a.Str(t, "actions.0.actionGroupId"))
	}
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// TestAzureRouteGrantsFollowThePermissionsTable: with routes, the producer may
// publish to the topic (a custom role with exactly the send data action: the
// built-in EventGrid Data Sender also reads topics, domains and role
// assignments) and nothing else new; the consumer and KEDA get each route's
// queues as they have the stack's own.
func TestAzureRouteGrantsFollowThePermissionsTable(t *testing.T) {
	g, _ := runAzureRoutes(t, map[string]string{"edw:routes": routesJSON(t, threeRoutes)})
	perms, err := permissions.Load()
	require.NoError(t, err)
	topic := g.OnlyOfType(t, azTopic)
	role := map[string]string{topic.ID: "topic"}
	for _, q := range g.ByType(azQueue) {
		if strings.HasSuffix(q.Str(t, "queueName"), "-poison") {
			role[q.ID] = "poison"
		} else {
			role[q.ID] = "queue"
		}
	}
	role[g.OnlyOfType(t, azTable).ID] = "table"
	customs := map[string]*pulumitest.Resource{}
	for _, def := range g.ByType(azRoleDef) {
		customs[def.ID] = def
	}
	published := publishedBuiltinRoles(t)
	prefix := "/subscriptions/" + fakeSubscription + "/providers/Microsoft.Authorization/roleDefinitions/"
	for _, identity := range []string{"consumer", "producer", "keda"} {
		scopes := map[string]int{}
		for _, ra := range byInput(t, g, azRole, "principalId", "edw-"+identity+"-principal") {
			on, ok := role[ra.Str(t, "scope")]
			require.True(t, ok, "%s: granted on %s, not a queue, table or topic of the stack", identity, ra.Str(t, "scope"))
			var granted []string
			if custom, ok := customs[ra.Str(t, "roleDefinitionId")]; ok {
				a, _ := custom.Plain("permissions.0.actions")
				d, _ := custom.Plain("permissions.0.dataActions")
				granted = append(strs(a), strs(d)...)
			} else {
				p := published[strings.TrimPrefix(ra.Str(t, "roleDefinitionId"), prefix)]
				granted = append(p.Actions, p.DataActions...)
			}
			slices.Sort(granted)
			assert.Equal(t, perms.Actions("azure", identity, on), granted, "%s on %s", identity, on)
			scopes[on]++
		}
		for _, on := range perms.Resources("azure", identity) {
			n := map[string]int{"queue": len(threeRoutes) + 1, "poison": len(threeRoutes) + 1, "table": 1, "topic": 1}[on]
			if identity == "producer" && on == "queue" {
				n = 1 // the router, not the producer, writes the routes' queues
			}
			assert.Equal(t, n, scopes[on], "%s: grants on %s", identity, on)
		}
		assert.Len(t, scopes, len(perms.Resources("azure", identity)), identity)
	}
	assert.Equal(t, []string{azure.EventsSend}, perms.Actions("azure", "producer", "topic"))
	// The built-in role edw does not use, as Azure publishes it.
	sender, ok := published[azure.RoleEventGridDataSender]
	require.True(t, ok)
	assert.Equal(t, []string{azure.EventsSend}, sender.DataActions)
	assert.NotEmpty(t, sender.Actions, "the built-in role reads more than the producer needs")
}

// TestKubernetesStackRoutesOnExistingQueues: a kubernetes stack's routes name
// their existing queues; each gets its Deployment and ScaledObject on exactly
// that queue, and nothing in the cloud is created.
func TestKubernetesStackRoutesOnExistingQueues(t *testing.T) {
	routes := []testRoute{
		{Name: "orders", QueueURL: sqsURL + "-orders", DLQURL: sqsURL + "-orders-dlq", MaxReplicas: ptr(3)},
		{Name: "payments", QueueURL: sqsURL + "-payments", DLQURL: sqsURL + "-payments-dlq"},
	}
	g := runKubernetes(t, with(awsWithSecret, "edw:routes", routesJSON(t, routes), "edw:producer", "true"))
	for _, r := range g.Resources {
		assert.False(t, strings.HasPrefix(r.Type, "aws:") || strings.HasPrefix(r.Type, "azure-native:"), "%s is a cloud resource", r)
	}
	for _, r := range routes {
		name := kube.RouteConsumerName(r.Name)
		e := env(t, k8sObject(t, g, k8sDeployment, name))
		assert.Equal(t, r.QueueURL, e["EDW_QUEUE_URL"])
		assert.Equal(t, r.DLQURL, e["EDW_DLQ_URL"])
		assert.Equal(t, r.Name, e["EDW_ROUTE"])
		assert.Equal(t, "http://127.0.0.1:4566", e["AWS_ENDPOINT_URL"], "the stack's endpoint and table stay")
		so := k8sObject(t, g, k8sScaled, name)
		assert.Equal(t, r.QueueURL, so.Str(t, "spec.triggers.0.metadata.queueURL"))
		auth := k8sObject(t, g, k8sTriggerAuth, name)
		refs, _ := auth.Plain("spec.secretTargetRef")
		assert.Len(t, refs, 2, "KEDA reads the route's queue with the stack's credentials Secret")
	}
	max, _ := k8sObject(t, g, k8sScaled, "edw-consumer-orders").Plain("spec.maxReplicaCount")
	assert.Equal(t, 3.0, max)
	args, _ := g.OnlyOfType(t, k8sJob).Plain("spec.template.spec.containers.0.args")
	assert.NotContains(t, args, "--via=router", "no router on a kubernetes stack: the producer fills the stack's queue")

	azureCfg := map[string]string{"edw:queueBackend": "azure", "edw:queueName": "work", "edw:tableName": "results",
		"edw:credentialsSecret": "edw-credentials", "edw:createNamespace": "false",
		"edw:routes": `[{"name":"orders","queueName":"orders"},{"name":"audit","queueName":"audit","poisonQueueName":"audit-dead"}]`}
	g = runKubernetes(t, azureCfg)
	for name, want := range map[string][2]string{"orders": {"orders", "orders-poison"}, "audit": {"audit", "audit-dead"}} {
		e := env(t, k8sObject(t, g, k8sDeployment, kube.RouteConsumerName(name)))
		assert.Equal(t, want[0], e["EDW_QUEUE_NAME"])
		assert.Equal(t, want[1], e["EDW_POISON_QUEUE_NAME"])
		assert.Equal(t, want[0], k8sObject(t, g, k8sScaled, kube.RouteConsumerName(name)).Str(t, "spec.triggers.0.metadata.queueName"))
	}
	g.WriteKubernetesObjects(t, "kubernetes-routes")
}

// TestRoutedObjectsRender writes the routed stacks' Kubernetes objects for
// tools/kubevalidate, and the routed AWS policies (the bus included) for the
// workload's IAM tests, as TestAWSPolicyDocumentsRender does for the others.
func TestRoutedObjectsRender(t *testing.T) {
	g, _ := runAWSRoutes(t, map[string]string{"edw:routes": routesJSON(t, threeRoutes), "edw:producer": "true"})
	g.WriteKubernetesObjects(t, "aws-routes")
	az, _ := runAzureRoutes(t, map[string]string{"edw:routes": routesJSON(t, threeRoutes), "edw:producer": "true"})
	az.WriteKubernetesObjects(t, "azure-routes")

	out := renderPolicies(t, g, map[string]string{"bus": g.OnlyOfType(t, awsBus).State["arn"].StringValue()})
	producer := policyDoc(t, g.One(t, awsPolicy, "edw-producer"), "policy")
	var bus []string
	for _, st := range producer {
		if slices.Contains(strs(st["Action"]), "events:PutEvents") {
			bus = append(bus, strs(st["Resource"])...)
		}
	}
	assert.Equal(t, []string{out.Resources["bus"]}, bus, "PutEvents on the stack's bus only")
	out.write(t, "aws-policies-routes.json")
}

// TestRouteConfigErrors: every bad route is one line naming the route, the
// field, the value and what is allowed, and nothing is registered.
func TestRouteConfigErrors(t *testing.T) {
	awsBase := map[string]string{"edw:cloud": "aws", "aws:region": "us-west-2"}
	azBase := map[string]string{"edw:cloud": "azure", "azure-native:location": "westus3"}
	k8sBase := with(with(awsWithSecret, flatten(prebuilt)...), "edw:cloud", "kubernetes")
	many := func(n int) string {
		routes := make([]testRoute, n)
		for i := range routes {
			routes[i] = testRoute{Name: fmt.Sprintf("r%d", i)}
		}
		return routesJSON(t, routes)
	}
	sources := func(n, size int) string {
		var s []string
		for i := range n {
			s = append(s, fmt.Sprintf("%0*d", size, i))
		}
		return routesJSON(t, []testRoute{{Name: "big", Sources: s}})
	}
	cases := []struct {
		name string
		cfg  map[string]string
		want string
	}{
		{"not a list", with(awsBase, "edw:routes", `{"name":"a"}`),
			`invalid stack config edw:routes = "{\"name\":\"a\"}": want a list of routes, each an object with a name and optional sources, types and overrides`},
		{"route not an object", with(awsBase, "edw:routes", `["orders"]`),
			`invalid stack config edw:routes[0] = "\"orders\"": want an object with a name and optional sources, types and overrides`},
		{"missing name", with(awsBase, "edw:routes", `[{"sources":["a"]}]`),
			`invalid stack config edw:routes[0].name = "": ` + routeNameAllowed},
		{"bad name", with(awsBase, "edw:routes", `[{"name":"Orders_EU"}]`),
			`invalid stack config edw:routes[0].name = "Orders_EU": ` + routeNameAllowed},
		{"double hyphen", with(azBase, "edw:routes", `[{"name":"a--b"}]`),
			`invalid stack config edw:routes[0].name = "a--b": ` + routeNameAllowed},
		{"name too long", with(awsBase, "edw:routes", `[{"name":"`+strings.Repeat("a", 41)+`"}]`),
			`invalid stack config edw:routes[0].name = "` + strings.Repeat("a", 41) + `": ` + routeNameAllowed},
		{"duplicate name", with(awsBase, "edw:routes", `[{"name":"orders"},{"name":"orders"}]`),
			`invalid stack config edw:routes[1].name = "orders": already the name of route 0: route names must be unique`},
		{"unknown field", with(awsBase, "edw:routes", `[{"name":"orders","source":["a"]}]`),
			`invalid stack config edw:routes[orders].source = "[\"a\"]": unknown field; a route has ` + strings.Join(routeFields, ", ")},
		{"empty source", with(awsBase, "edw:routes", `[{"name":"orders","sources":[""]}]`),
			`invalid stack config edw:routes[orders].sources = "": want a list of distinct, non-empty strings without surrounding spaces, each an exact event source`},
		{"padded type", with(awsBase, "edw:routes", `[{"name":"orders","types":[" OrderCreated"]}]`),
			`invalid stack config edw:routes[orders].types = " OrderCreated": want a list of distinct, non-empty strings without surrounding spaces, each an exact event type`},
		{"repeated type", with(awsBase, "edw:routes", `[{"name":"orders","types":["A","A"]}]`),
			`invalid stack config edw:routes[orders].types = "A": want a list of distinct, non-empty strings without surrounding spaces, each an exact event type`},
		{"types not strings", with(awsBase, "edw:routes", `[{"name":"orders","types":[1]}]`),
			`invalid stack config edw:routes[orders].types = "[1]": want a list of distinct, non-empty strings without surrounding spaces, each an exact event type`},
		{"zero messages per pod", with(awsBase, "edw:routes", `[{"name":"orders","messagesPerPod":0}]`),
			`invalid stack config edw:routes[orders].messagesPerPod = "0": want an integer from 1 to 100000`},
		{"fractional replicas", with(awsBase, "edw:routes", `[{"name":"orders","maxReplicas":2.5}]`),
			`invalid stack config edw:routes[orders].maxReplicas = "2.5": want an integer from 1 to 1000`},
		{"replicas as text", with(awsBase, "edw:routes", `[{"name":"orders","minReplicas":"two"}]`),
			`invalid stack config edw:routes[orders].minReplicas = "two": want an integer from 0 to 1000`},
		{"max receive count", with(azBase, "edw:routes", `[{"name":"orders","maxReceiveCount":1001}]`),
			`invalid stack config edw:routes[orders].maxReceiveCount = "1001": want an integer from 1 to 1000`},
		{"max below min", with(awsBase, "edw:routes", `[{"name":"orders","minReplicas":4,"maxReplicas":2}]`),
			`invalid stack config edw:routes[orders].maxReplicas = "2": must be at least the route's minReplicas (4)`},
		{"max below the stack's min", with(awsBase, "edw:consumerMinReplicas", "5", "edw:routes", `[{"name":"orders","maxReplicas":2}]`),
			`invalid stack config edw:routes[orders].maxReplicas = "2": must be at least the route's minReplicas (5)`},
		{"too many routes on aws", with(awsBase, "edw:routes", many(MaxRoutesAWS+1)),
			`invalid stack config edw:routes = "301 routes": want at most 300 on aws: each route is an EventBridge rule and a bus takes 300 by default`},
		{"too many routes on azure", with(azBase, "edw:routes", many(MaxRoutesAzure+1)),
			`invalid stack config edw:routes = "501 routes": want at most 500 on azure: each route is an Event Grid subscription and a topic takes 500`},
		{"pattern too large", with(awsBase, "edw:routes", sources(100, 20)),
			`invalid stack config edw:routes[big].sources = "100 sources and 0 types": the route's event pattern is 2312 characters; EventBridge takes at most 2048`},
		{"too many sources on azure", with(azBase, "edw:routes", sources(26, 2)),
			`invalid stack config edw:routes[big].sources = "26 sources": want at most 25: Event Grid takes 25 filter values per subscription`},
		{"source too long on azure", with(azBase, "edw:routes", routesJSON(t, []testRoute{{Name: "big", Sources: []string{strings.Repeat("s", 513)}}})),
			`invalid stack config edw:routes[big].sources = "` + strings.Repeat("s", 513) + `": want at most 512 characters: Event Grid compares no more`},
		{"queue on a cloud stack", with(awsBase, "edw:routes", `[{"name":"orders","queueUrl":"https://sqs.us-west-2.amazonaws.com/123456789012/orders"}]`),
			`invalid stack config edw:routes[orders].queueUrl = "https://sqs.us-west-2.amazonaws.com/123456789012/orders": only on kubernetes stacks: the aws stack creates each route's queues`},
		{"kubernetes route without its queue", with(k8sBase, "edw:routes", `[{"name":"orders","dlqUrl":"`+sqsURL+`-dlq2"}]`),
			`invalid stack config edw:routes[orders].queueUrl = "": required on kubernetes stacks with edw:queueBackend aws: the route's existing queue`},
		{"kubernetes route with a bad url", with(k8sBase, "edw:routes", `[{"name":"orders","queueUrl":"orders","dlqUrl":"`+sqsURL+`-dlq2"}]`),
			`invalid stack config edw:routes[orders].queueUrl = "orders": want an SQS queue URL such as https://sqs.us-west-2.amazonaws.com/123456789012/orders`},
		{"kubernetes route on the stack's queue", with(k8sBase, "edw:routes", `[{"name":"orders","queueUrl":"`+sqsURL+`","dlqUrl":"`+sqsURL+`-dlq2"}]`),
			`invalid stack config edw:routes[orders].queueUrl = "` + sqsURL + `": already the stack's own queue: each route needs its own queue`},
		{"two kubernetes routes on one queue", with(k8sBase, "edw:routes", `[{"name":"a","queueUrl":"`+sqsURL+`-x","dlqUrl":"`+sqsURL+`-d"},{"name":"b","queueUrl":"`+sqsURL+`-x","dlqUrl":"`+sqsURL+`-d"}]`),
			`invalid stack config edw:routes[b].queueUrl = "` + sqsURL + `-x": already the queue of route a: each route needs its own queue`},
		{"other backend's field", with(k8sBase, "edw:routes", `[{"name":"a","queueUrl":"`+sqsURL+`-x","dlqUrl":"`+sqsURL+`-d","queueName":"a"}]`),
			`invalid stack config edw:routes[a].queueName = "a": not used when edw:queueBackend is aws`},
		{"filter on a kubernetes stack", with(k8sBase, "edw:routes", `[{"name":"a","queueUrl":"`+sqsURL+`-x","dlqUrl":"`+sqsURL+`-d","types":["T"]}]`),
			`invalid stack config edw:routes[a].types = "[\"T\"]": not used on kubernetes stacks: the route's queue exists and whatever fills it does the filtering`},
		{"archive on azure", with(azBase, "edw:routerArchiveDays", "7"),
			`invalid stack config edw:routerArchiveDays = "7": only allowed when edw:cloud is aws`},
		{"archive without routes", with(awsBase, "edw:routerArchiveDays", "7"),
			`invalid stack config edw:routerArchiveDays = "7": needs edw:routes: without routes the stack has no router whose events to archive`},
		{"archive too long", with(awsBase, "edw:routes", `[{"name":"a"}]`, "edw:routerArchiveDays", "3651"),
			`invalid stack config edw:routerArchiveDays = "3651": want an integer from 0 to 3650`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse("x", tc.cfg)
			require.Error(t, err)
			lines := strings.Split(err.Error(), "\n")
			assert.Equal(t, []string{tc.want}, lines, "exactly one line, naming the route, field, value and what is allowed")
			var ce *ConfigError
			require.True(t, errors.As(err, &ce))
		})
	}
	// Limits are inclusive, and a bad route registers nothing.
	for _, cfg := range []map[string]string{
		with(awsBase, "edw:routes", many(MaxRoutesAWS)), with(azBase, "edw:routes", many(MaxRoutesAzure)),
		with(azBase, "edw:routes", sources(25, 512)),
		with(awsBase, "edw:routes", `[{"name":"`+strings.Repeat("a", 40)+`","minReplicas":3,"maxReplicas":3,"messagesPerPod":100000}]`, "edw:routerArchiveDays", "3650"),
	} {
		c, err := parse("x", cfg)
		require.NoError(t, err)
		assert.NotEmpty(t, c.Routes)
	}
	g, err := pulumitest.RunErr(Run, pulumitest.Stack("aws"), pulumitest.Config(with(stackFile(t, "aws"), "edw:routes", `[{"name":"a"},{"name":"a"}]`)))
	require.Error(t, err)
	assert.Empty(t, g.Resources)
}

// TestRoutesAreParsed: a route's filter and overrides arrive as given, and
// unset overrides fall back to the stack's consumer settings.
func TestRoutesAreParsed(t *testing.T) {
	c, err := parse("x", map[string]string{"edw:cloud": "aws", "aws:region": "us-west-2", "edw:messagesPerPod": "40",
		"edw:routes": routesJSON(t, threeRoutes), "edw:routerArchiveDays": "14"})
	require.NoError(t, err)
	require.Len(t, c.Routes, 3)
	assert.Equal(t, "orders", c.Routes[0].Name)
	assert.Equal(t, []string{"OrderCreated", "OrderPaid"}, c.Routes[0].Types)
	assert.Equal(t, 40, c.Routes[0].Scaling(c.Consumer).MessagesPerPod, "the stack's value")
	assert.Equal(t, 5, c.Routes[1].Scaling(c.Consumer).MessagesPerPod, "the route's override")
	assert.Equal(t, 3, c.Routes[1].Scaling(c.Consumer).MaxReceiveCount)
	assert.Equal(t, 14, c.RouterArchiveDays)
	assert.Empty(t, c.Routes[2].Sources)
}

package kube_test

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/infra/kube"
	"github.com/edw-dev/edw/internal/pulumitest"
)

func intp(v int) *int { return &v }

// routed adds two routes and a router to a target.
func routed(shapeOf shape, producer bool, monitors bool) pulumi.RunFunc {
	return deployWith(shapeOf, func(a *kube.WorkloadArgs, system pulumi.Resource) {
		a.Producer = kube.ProducerSettings{Enabled: producer, MessageCount: 500, Rate: 25}
		if monitors {
			a.PodMonitors = []kube.PodMonitor{{APIVersion: kube.PodMonitorAPI}}
		}
		queue := func(name string) (pulumi.StringMap, map[string]pulumi.StringInput) {
			if a.Target.Cloud == "aws" {
				url := pulumi.String("https://sqs.us-west-2.amazonaws.com/000000000000/" + name)
				return pulumi.StringMap{"queueURL": url}, map[string]pulumi.StringInput{"EDW_QUEUE_URL": url, "EDW_DLQ_URL": pulumi.String(string(url) + "-dlq")}
			}
			return pulumi.StringMap{"queueName": pulumi.String(name)},
				map[string]pulumi.StringInput{"EDW_QUEUE_NAME": pulumi.String(name), "EDW_POISON_QUEUE_NAME": pulumi.String(name + "-poison")}
		}
		m, e := queue("orders")
		a.Target.Routes = append(a.Target.Routes, kube.Route{Name: "orders", Metadata: m, Env: e})
		m, e = queue("payments")
		a.Target.Routes = append(a.Target.Routes, kube.Route{Name: "payments", Metadata: m, Env: e,
			MessagesPerPod: intp(5), MinReplicas: intp(1), MaxReplicas: intp(30), MaxReceiveCount: intp(2)})
		a.Target.RouterEnv = map[string]pulumi.StringInput{"EDW_EVENT_BUS_NAME": pulumi.String("edw-bus")}
	}, nil)
}

func named(t *testing.T, g *pulumitest.Graph, typ, name string) *pulumitest.Resource {
	t.Helper()
	var out []*pulumitest.Resource
	for _, r := range g.ByType(typ) {
		if n, _ := r.Plain("metadata.name"); n == name {
			out = append(out, r)
		}
	}
	require.Len(t, out, 1, "%s %s", typ, name)
	return out[0]
}

func envOf(t *testing.T, r *pulumitest.Resource) map[string]any {
	t.Helper()
	out := map[string]any{}
	list, _ := r.Plain("spec.template.spec.containers.0.env")
	for _, e := range list.([]any) {
		m := e.(map[string]any)
		out[m["name"].(string)] = m["value"]
	}
	return out
}

// TestEachRouteGetsItsOwnScaledConsumer: per route a Deployment, a
// TriggerAuthentication and a ScaledObject named edw-consumer-<route>, on the
// route's queue, with the route's overrides, under the one consumer
// ServiceAccount; the stack's own consumer stays as it was.
func TestEachRouteGetsItsOwnScaledConsumer(t *testing.T) {
	for cloud, s := range shapes {
		t.Run(cloud, func(t *testing.T) {
			g := pulumitest.Run(t, routed(s, true, true))
			plain := pulumitest.Run(t, deploy(s, true))
			assert.Len(t, g.ByType(deploymentType), 3)
			assert.Len(t, g.ByType(scaledObjectType), 3)
			assert.Len(t, g.ByType(triggerAuthType), 3)
			assert.Len(t, g.ByType(serviceAcctType), len(plain.ByType(serviceAcctType)), "no ServiceAccount per route")
			consumers := 0
			for _, m := range g.ByType("kubernetes:monitoring.coreos.com/v1:PodMonitor") {
				if m.Str(t, "metadata.namespace") != kube.KedaServiceAccount.Namespace {
					consumers++
				}
			}
			assert.Equal(t, 3, consumers, "each route's pods are scraped (and KEDA's operator, in its own namespace)")

			key, base := "queueName", "edw-work"
			if cloud == "aws" {
				key, base = "queueURL", "https://sqs.us-west-2.amazonaws.com/000000000000/edw-work"
			}
			own := named(t, g, scaledObjectType, "edw-consumer")
			assert.Equal(t, base, own.Str(t, "spec.triggers.0.metadata."+key), "the stack's consumer keeps its queue")
			assert.NotContains(t, envOf(t, named(t, g, deploymentType, "edw-consumer")), "EDW_ROUTE")

			for _, route := range []string{"orders", "payments"} {
				name := kube.RouteConsumerName(route)
				dep := named(t, g, deploymentType, name)
				so := named(t, g, scaledObjectType, name)
				auth := named(t, g, triggerAuthType, name)
				e := envOf(t, dep)
				assert.Equal(t, route, e["EDW_ROUTE"])
				assert.Equal(t, cloud, e["EDW_CLOUD"])
				queue := so.Str(t, "spec.triggers.0.metadata."+key)
				assert.Contains(t, queue, route, "the ScaledObject reads the route's queue")
				if cloud == "aws" {
					assert.Equal(t, queue, e["EDW_QUEUE_URL"])
					assert.Equal(t, queue+"-dlq", e["EDW_DLQ_URL"])
					assert.Equal(t, "us-west-2", so.Str(t, "spec.triggers.0.metadata.awsRegion"), "the rest of the trigger is the stack's")
				} else {
					assert.Equal(t, queue, e["EDW_QUEUE_NAME"])
					assert.Equal(t, queue+"-poison", e["EDW_POISON_QUEUE_NAME"])
					assert.Equal(t, "edwstore", so.Str(t, "spec.triggers.0.metadata.accountName"))
					assert.Equal(t, "edwstore", e["EDW_STORAGE_ACCOUNT"])
				}
				assert.Equal(t, name, so.Str(t, "spec.scaleTargetRef.name"))
				assert.Equal(t, name, so.Str(t, "spec.triggers.0.authenticationRef.name"))
				assert.Equal(t, own.Str(t, "spec.triggers.0.type"), so.Str(t, "spec.triggers.0.type"))
				_, ok := auth.Input("spec.podIdentity.provider")
				assert.True(t, ok)
				assert.Equal(t, "edw-consumer", dep.Str(t, "spec.template.spec.serviceAccountName"))
				assert.Equal(t, name, dep.Str(t, `spec.selector.matchLabels.app\.kubernetes\.io/name`))
				assert.Equal(t, name, dep.Str(t, `spec.template.metadata.labels.app\.kubernetes\.io/name`))
				assert.Equal(t, name, named(t, g, "kubernetes:monitoring.coreos.com/v1:PodMonitor", name).Str(t, `spec.selector.matchLabels.app\.kubernetes\.io/name`))
			}
			pay := named(t, g, scaledObjectType, kube.RouteConsumerName("payments"))
			assert.Equal(t, "5", pay.Str(t, "spec.triggers.0.metadata.queueLength"))
			for path, want := range map[string]float64{"spec.minReplicaCount": 1, "spec.maxReplicaCount": 30} {
				got, _ := pay.Plain(path)
				assert.Equal(t, want, got, path)
			}
			args, _ := named(t, g, deploymentType, kube.RouteConsumerName("payments")).Plain("spec.template.spec.containers.0.args")
			assert.Contains(t, args, "--max-receive-count=2")
			orders := named(t, g, scaledObjectType, kube.RouteConsumerName("orders"))
			assert.Equal(t, "40", orders.Str(t, "spec.triggers.0.metadata.queueLength"), "without an override, the consumer's setting")

			job := g.OnlyOfType(t, jobType)
			assert.Equal(t, "edw-bus", envOf(t, job)["EDW_EVENT_BUS_NAME"])
			jobArgs, _ := job.Plain("spec.template.spec.containers.0.args")
			assert.Contains(t, jobArgs, "--via=router")
			g.WriteKubernetesObjects(t, "kube-routes-"+cloud)
		})
	}
}

// TestRoutesAreChecked: a bad route fails before anything is registered.
func TestRoutesAreChecked(t *testing.T) {
	for name, routes := range map[string][]kube.Route{
		"bad name": {{Name: "Orders", Metadata: pulumi.StringMap{"queueURL": pulumi.String("q")}, Env: map[string]pulumi.StringInput{"EDW_QUEUE_URL": pulumi.String("q")}}},
		"twice":    {{Name: "a", Metadata: pulumi.StringMap{"q": pulumi.String("q")}, Env: map[string]pulumi.StringInput{"Q": pulumi.String("q")}}, {Name: "a", Metadata: pulumi.StringMap{"q": pulumi.String("q")}, Env: map[string]pulumi.StringInput{"Q": pulumi.String("q")}}},
		"no queue": {{Name: "a"}},
	} {
		t.Run(name, func(t *testing.T) {
			g, err := pulumitest.RunErr(deployWith(awsTarget, func(a *kube.WorkloadArgs, _ pulumi.Resource) { a.Target.Routes = routes }, nil))
			require.Error(t, err)
			assert.Empty(t, g.ByType(deploymentType))
		})
	}
}

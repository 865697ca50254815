package stacks

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/internal/pulumitest"
)

const sqsURL = "http://127.0.0.1:4566/000000000000/work"

func runKubernetes(t *testing.T, extra map[string]string) *pulumitest.Graph {
	t.Helper()
	cfg := map[string]string{}
	for k, v := range prebuilt {
		cfg[k] = v
	}
	for k, v := range extra {
		cfg[k] = v
	}
	g, _ := runStack(t, "kubernetes", cfg)
	return g
}

var awsWithSecret = map[string]string{
	"edw:queueBackend": "aws", "edw:queueUrl": sqsURL, "edw:dlqUrl": sqsURL + "-dlq", "edw:tableName": "results",
	"edw:awsRegion": "us-east-1", "edw:awsEndpoint": "http://127.0.0.1:4566",
	"edw:credentialsSecret": "edw-credentials", "edw:createNamespace": "false", "edw:installKeda": "false",
}

func TestKubernetesStackCreatesNoCloudResources(t *testing.T) {
	g := runKubernetes(t, with(awsWithSecret, "edw:producer", "true"))
	for _, r := range g.Resources {
		assert.False(t, strings.HasPrefix(r.Type, "aws:") || strings.HasPrefix(r.Type, "azure-native:") || strings.HasPrefix(r.Type, "eks:"),
			"%s is a cloud resource", r)
	}
	assert.Empty(t, g.ByType("kubernetes:helm.sh/v3:Release"), "the cluster already runs KEDA")
	assert.Empty(t, g.ByType("kubernetes:core/v1:Namespace"), "the namespace exists with the Secret in it")
	provider := g.OnlyOfType(t, "pulumi:providers:kubernetes")
	for _, r := range g.Resources {
		if strings.HasPrefix(r.Type, "kubernetes:") && r.Custom {
			assert.Equal(t, provider.URN+"::"+provider.ID, r.Provider, "%s uses the stack's provider", r)
		}
	}
}

func TestKubernetesStackReadsCredentialsOnlyFromTheSecret(t *testing.T) {
	g := runKubernetes(t, with(awsWithSecret, "edw:producer", "true"))
	auth := g.OnlyOfType(t, "kubernetes:keda.sh/v1alpha1:TriggerAuthentication")
	refs, _ := auth.Plain("spec.secretTargetRef")
	assert.ElementsMatch(t, []any{
		map[string]any{"parameter": "awsAccessKeyID", "name": "edw-credentials", "key": "AWS_ACCESS_KEY_ID"},
		map[string]any{"parameter": "awsSecretAccessKey", "name": "edw-credentials", "key": "AWS_SECRET_ACCESS_KEY"},
	}, refs)
	_, pod := auth.Input("spec.podIdentity")
	assert.False(t, pod)
	so := g.OnlyOfType(t, "kubernetes:keda.sh/v1alpha1:ScaledObject")
	assert.Equal(t, sqsURL, so.Str(t, "spec.triggers.0.metadata.queueURL"), "the trigger names the configured queue")
	assert.Equal(t, "http://127.0.0.1:4566", so.Str(t, "spec.triggers.0.metadata.awsEndpoint"))
	for _, w := range []struct{ typ, path string }{
		{"kubernetes:apps/v1:Deployment", "spec.template.spec.containers.0"},
		{"kubernetes:batch/v1:Job", "spec.template.spec.containers.0"},
	} {
		r := g.OnlyOfType(t, w.typ)
		from, _ := r.Plain(w.path + ".envFrom")
		assert.Equal(t, []any{map[string]any{"secretRef": map[string]any{"name": "edw-credentials"}}}, from, w.typ)
		env, _ := r.Plain(w.path + ".env")
		got := map[string]any{}
		for _, e := range env.([]any) {
			got[e.(map[string]any)["name"].(string)] = e.(map[string]any)["value"]
		}
		assert.Equal(t, sqsURL, got["EDW_QUEUE_URL"], w.typ)
		assert.Equal(t, "http://127.0.0.1:4566", got["AWS_ENDPOINT_URL"], w.typ)
		for name := range got {
			assert.NotContains(t, name, "SECRET", "%s: no credential is a plain env value", w.typ)
		}
	}
}

func TestKubernetesStackWithPodIdentityOnAzure(t *testing.T) {
	client := func(n string) string { return "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4" + n }
	g := runKubernetes(t, map[string]string{
		"edw:queueBackend": "azure", "edw:storageAccount": "edwstore", "edw:queueName": "work", "edw:tableName": "results",
		"edw:consumerIdentity": client("1"), "edw:producerIdentity": client("2"), "edw:kedaIdentity": client("3"), "edw:producer": "true",
	})
	sas := map[string]string{}
	for _, sa := range g.ByType("kubernetes:core/v1:ServiceAccount") {
		sas[sa.Str(t, "metadata.name")] = sa.Str(t, `metadata.annotations.azure\.workload\.identity/client-id`)
	}
	assert.Equal(t, map[string]string{"edw-consumer": client("1"), "edw-producer": client("2")}, sas)
	keda := releaseOfChart(t, g, "keda")
	assert.Equal(t, client("3"), keda.Str(t, `values.serviceAccount.operator.annotations.azure\.workload\.identity/client-id`))
	auth := g.OnlyOfType(t, "kubernetes:keda.sh/v1alpha1:TriggerAuthentication")
	assert.Equal(t, "azure-workload", auth.Str(t, "spec.podIdentity.provider"))
	assert.Equal(t, client("3"), auth.Str(t, "spec.podIdentity.identityId"))
	so := g.OnlyOfType(t, "kubernetes:keda.sh/v1alpha1:ScaledObject")
	assert.Equal(t, "work", so.Str(t, "spec.triggers.0.metadata.queueName"))
	assert.Equal(t, "edwstore", so.Str(t, "spec.triggers.0.metadata.accountName"))
	require.Len(t, g.ByType("kubernetes:core/v1:Namespace"), 1)
}

func TestKubernetesStackConfigErrors(t *testing.T) {
	base := map[string]string{"edw:cloud": "kubernetes", "edw:producerImage": prebuilt["edw:producerImage"], "edw:consumerImage": prebuilt["edw:consumerImage"]}
	aws := with(base, "edw:queueBackend", "aws", "edw:queueUrl", sqsURL, "edw:dlqUrl", sqsURL+"-dlq", "edw:tableName", "results", "edw:awsRegion", "us-east-1")
	cases := []struct {
		name string
		cfg  map[string]string
		want string
	}{
		{"no backend", base, `invalid stack config edw:queueBackend = "": want aws (SQS and DynamoDB) or azure (Storage queues and tables)`},
		{"no credentials", aws, `invalid stack config edw:consumerIdentity = "": set edw:consumerIdentity (pod identity) or edw:credentialsSecret (an existing Secret)`},
		{"both credentials", with(aws, "edw:credentialsSecret", "creds", "edw:createNamespace", "false", "edw:consumerIdentity", "arn:aws:iam::123456789012:role/c"),
			`invalid stack config edw:credentialsSecret = "creds": use either pod identity (edw:*Identity) or a Secret, not both`},
		{"secret in a namespace edw would create", with(aws, "edw:credentialsSecret", "creds"),
			`invalid stack config edw:createNamespace = "true": must be false with edw:credentialsSecret: create namespace edw with the Secret in it first`},
		{"bad queue url", with(aws, "edw:queueUrl", "work", "edw:credentialsSecret", "creds", "edw:createNamespace", "false"),
			`invalid stack config edw:queueUrl = "work": want an SQS queue URL such as https://sqs.us-west-2.amazonaws.com/123456789012/edw`},
		{"azure key on aws", with(aws, "edw:queueName", "work", "edw:credentialsSecret", "creds", "edw:createNamespace", "false"),
			`invalid stack config edw:queueName = "work": not used when edw:queueBackend is aws`},
		{"azure pod identity without account", with(base, "edw:queueBackend", "azure", "edw:queueName", "work", "edw:tableName", "results",
			"edw:consumerIdentity", "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"),
			`invalid stack config edw:storageAccount = "": required with pod identity (a connection string comes only from edw:credentialsSecret)`},
		{"producer without identity", with(aws, "edw:consumerIdentity", "arn:aws:iam::123456789012:role/c", "edw:producer", "true"),
			`invalid stack config edw:producerIdentity = "": required with edw:producer true and pod identity`},
		{"no images and no registry", with(aws, "edw:producerImage", "", "edw:consumerImage", "", "edw:credentialsSecret", "creds", "edw:createNamespace", "false"),
			`invalid stack config edw:registry = "": required when edw:producerImage and edw:consumerImage are not set: ko pushes the images there`},
		{"existing-cluster key on aws", map[string]string{"edw:cloud": "aws", "aws:region": "us-west-2", "edw:queueUrl": sqsURL},
			`invalid stack config edw:queueUrl = "` + sqsURL + `": only allowed when edw:cloud is kubernetes`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parse("k", c.cfg)
			require.Error(t, err)
			assert.Equal(t, c.want, err.Error())
		})
	}
	g, err := pulumitest.RunErr(Run, pulumitest.Stack("k"), pulumitest.Config(with(aws, "edw:queueUrl", "work")))
	require.Error(t, err)
	assert.Empty(t, g.Resources, "a bad key registers nothing")
}

// TestKubernetesStackFollowsItsConfig: the provider takes kubernetes:kubeconfig
// and kubernetes:context as given, edw:clusterReaders are bound as groups, the
// outputs name the backend's queue, and without prebuilt images ko pushes to
// edw:registry.
func TestKubernetesStackFollowsItsConfig(t *testing.T) {
	g, out := runStack(t, "kubernetes", with(with(awsWithSecret, flatten(prebuilt)...),
		"kubernetes:kubeconfig", "apiVersion: v1\nkind: Config\n", "kubernetes:context", "lab", "edw:clusterReaders", `["ci-readers"]`))
	provider := g.OnlyOfType(t, "pulumi:providers:kubernetes")
	assert.Equal(t, "apiVersion: v1\nkind: Config\n", provider.Str(t, "kubeconfig"))
	assert.Equal(t, "lab", provider.Str(t, "context"))
	subjects, _ := g.OnlyOfType(t, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding").Plain("subjects")
	assert.Equal(t, []any{map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "ci-readers"}}, subjects)
	assert.Equal(t, sqsURL, out["queueUrl"])
	assert.Equal(t, sqsURL+"-dlq", out["dlqUrl"])
	assert.Equal(t, "results", out["tableName"])
	assert.NotContains(t, out, "queueName")

	plain, _ := runStack(t, "kubernetes", with(awsWithSecret, flatten(prebuilt)...))
	p := plain.OnlyOfType(t, "pulumi:providers:kubernetes")
	for _, key := range []string{"kubeconfig", "context"} {
		_, set := p.Input(key)
		assert.False(t, set, "no %s unless given: the ambient kubeconfig applies", key)
	}
	assert.Empty(t, plain.ByType("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"), "no readers, no binding")

	azure := map[string]string{"edw:queueBackend": "azure", "edw:storageAccount": "edwstore", "edw:queueName": "work", "edw:tableName": "results",
		"edw:consumerIdentity": "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c41", "edw:producerIdentity": "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c42",
		"edw:kedaIdentity": "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c43"}
	_, out = runStack(t, "kubernetes", with(with(azure, flatten(prebuilt)...)))
	assert.Equal(t, "work", out["queueName"])
	assert.Equal(t, "work-poison", out["poisonQueueName"], "the poison queue defaults to <queueName>-poison")
	assert.NotContains(t, out, "queueUrl")
	_, out = runStack(t, "kubernetes", with(with(azure, flatten(prebuilt)...), "edw:poisonQueueName", "work-dead"))
	assert.Equal(t, "work-dead", out["poisonQueueName"])

	t.Chdir("..") // ko builds from the project directory, next to workload/
	built, _ := runStack(t, "kubernetes", with(awsWithSecret, "edw:registry", "registry.example/edw"), koPushes())
	repos := map[string]bool{}
	for _, c := range built.ByType("command:local:Command") {
		repos[c.Str(t, "environment.KO_DOCKER_REPO")] = true
	}
	assert.Equal(t, map[string]bool{"registry.example/edw/edw-consumer": true, "registry.example/edw/edw-producer": true}, repos)
	assert.True(t, strings.HasPrefix(built.OnlyOfType(t, "kubernetes:apps/v1:Deployment").Str(t, "spec.template.spec.containers.0.image"),
		"registry.example/edw/edw-consumer@sha256:"))
}

// TestKubernetesStackWithIRSAOnAWS: on an existing EKS cluster, each service
// account carries its own role and KEDA authenticates as the operator's.
func TestKubernetesStackWithIRSAOnAWS(t *testing.T) {
	role := func(n string) string { return "arn:aws:iam::123456789012:role/edw-" + n }
	g := runKubernetes(t, map[string]string{
		"edw:queueBackend": "aws", "edw:queueUrl": sqsURL, "edw:dlqUrl": sqsURL + "-dlq", "edw:tableName": "results", "edw:awsRegion": "us-east-1",
		"edw:consumerIdentity": role("consumer"), "edw:producerIdentity": role("producer"), "edw:kedaIdentity": role("keda"), "edw:producer": "true",
	})
	sas := map[string]string{}
	for _, sa := range g.ByType("kubernetes:core/v1:ServiceAccount") {
		sas[sa.Str(t, "metadata.name")] = sa.Str(t, `metadata.annotations.eks\.amazonaws\.com/role-arn`)
		_, labels := sa.Input(`metadata.labels.azure\.workload\.identity/use`)
		assert.False(t, labels)
	}
	assert.Equal(t, map[string]string{"edw-consumer": role("consumer"), "edw-producer": role("producer")}, sas)
	assert.Equal(t, role("keda"), releaseOfChart(t, g, "keda").Str(t, `values.serviceAccount.operator.annotations.eks\.amazonaws\.com/role-arn`))
	auth := g.OnlyOfType(t, "kubernetes:keda.sh/v1alpha1:TriggerAuthentication")
	assert.Equal(t, "aws", auth.Str(t, "spec.podIdentity.provider"))
	_, secret := g.OnlyOfType(t, "kubernetes:apps/v1:Deployment").Input("spec.template.spec.containers.0.envFrom")
	assert.False(t, secret, "pod identity: no Secret")
}

package kube_test

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/infra/kube"
	"github.com/edw-dev/edw/internal/pulumitest"
)

// deployAWS installs the workload for the aws-shaped target after change edits
// the args, and returns the graph and the workload NewWorkload returned.
func deployAWS(t *testing.T, change func(*kube.WorkloadArgs)) (*pulumitest.Graph, *kube.Workload) {
	t.Helper()
	var w *kube.Workload
	g := pulumitest.Run(t, deployWith(awsTarget, func(a *kube.WorkloadArgs, _ pulumi.Resource) { change(a) }, &w))
	return g, w
}

const (
	clusterRoleType = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
	bindingType     = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
	roleType        = "kubernetes:rbac.authorization.k8s.io/v1:Role"
	roleBindingType = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
)

// TestReadersGetReadOnlyAccessToWhatTheStackManages: groups and users become
// the binding's subjects, the ClusterRole reads every kind the layer creates
// (PodMonitors and the cloud's kinds included) and writes nothing, and each
// Helm release namespace gets a Role for its release Secrets.
func TestReadersGetReadOnlyAccessToWhatTheStackManages(t *testing.T) {
	g, w := deployAWS(t, func(a *kube.WorkloadArgs) {
		a.Target.Readers = kube.Readers{Groups: []string{"edw:readers"}, Users: []string{"ci-bot"},
			Kinds: []kube.Kind{{Group: "karpenter.sh", Resource: "nodepools"}}, ReleaseNamespaces: []string{"karpenter"}}
		a.PodMonitors = []kube.PodMonitor{{APIVersion: kube.PodMonitorAPI}}
		a.Producer = kube.ProducerSettings{Enabled: true, MessageCount: 10, Rate: 1}
	})
	require.NotNil(t, w, "NewWorkload returns the workload")
	role := g.OnlyOfType(t, clusterRoleType)
	rules, _ := role.Plain("rules")
	can := map[string][]any{}
	for _, r := range rules.([]any) {
		rule := r.(map[string]any)
		assert.ElementsMatch(t, []any{"get", "list", "watch"}, rule["verbs"])
		for _, grp := range rule["apiGroups"].([]any) {
			can[grp.(string)] = append(can[grp.(string)], rule["resources"].([]any)...)
		}
	}
	for _, k := range append(kube.ReadableKinds(), kube.Kind{Group: "karpenter.sh", Resource: "nodepools"},
		kube.Kind{Group: "monitoring.coreos.com", Resource: "podmonitors"}) {
		assert.Contains(t, can[k.Group], k.Resource, "readers can read %s/%s", k.Group, k.Resource)
	}
	subjects, _ := g.OnlyOfType(t, bindingType).Plain("subjects")
	assert.ElementsMatch(t, []any{
		map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "edw:readers"},
		map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "ci-bot"},
	}, subjects)
	namespaces := map[string]bool{}
	for _, r := range g.ByType(roleType) {
		namespaces[r.Str(t, "metadata.namespace")] = true
		verbs, _ := r.Plain("rules.0.verbs")
		assert.Equal(t, []any{"get", "list"}, verbs)
		assert.Equal(t, "secrets", r.Str(t, "rules.0.resources.0"))
	}
	assert.Equal(t, map[string]bool{"keda": true, "karpenter": true}, namespaces, "KEDA's release namespace and the cloud's")
	assert.Len(t, g.ByType(roleBindingType), 2)

	for _, readers := range []kube.Readers{{Users: []string{"ci-bot"}}, {Groups: []string{"edw:readers"}}} {
		g, _ := deployAWS(t, func(a *kube.WorkloadArgs) { a.Target.Readers = readers })
		assert.Len(t, g.ByType(bindingType), 1, "readers %v get access", readers)
	}
	none, _ := deployAWS(t, func(*kube.WorkloadArgs) {})
	assert.Empty(t, none.ByType(clusterRoleType), "no readers, no role")
}

// TestIncompleteTargetsNameWhatIsMissing: each half-built target fails before
// anything is registered, saying which workload and what it lacks.
func TestIncompleteTargetsNameWhatIsMissing(t *testing.T) {
	for _, c := range []struct {
		want   string
		change func(*kube.Target)
	}{
		{"target has no Kubernetes provider", func(t *kube.Target) { t.Provider = nil }},
		{`target cloud "gcp": want aws or azure`, func(t *kube.Target) { t.Cloud = "gcp" }},
		{"target trigger needs a type", func(t *kube.Target) { t.Trigger.Type = "" }},
		{"target trigger needs a pod identity", func(t *kube.Target) { t.Trigger.PodIdentity = "" }},
		{"target credentials Secret needs the", func(t *kube.Target) { t.CredentialsSecret = "creds" }},
		{"target needs consumer and producer images", func(t *kube.Target) { t.Images.Consumer = nil }},
		{"target needs consumer and producer images", func(t *kube.Target) { t.Images.Producer = nil }},
	} {
		g, err := pulumitest.RunErr(deployWith(awsTarget, func(a *kube.WorkloadArgs, _ pulumi.Resource) { c.change(&a.Target) }, nil))
		if assert.Error(t, err, c.want) {
			assert.Contains(t, err.Error(), "workload workload: "+c.want)
		}
		assert.Empty(t, g.ByType("edw:kube:Workload"), c.want)
	}
	// Either cloud and a Secret with its parameters are whole targets.
	_, w := deployAWS(t, func(a *kube.WorkloadArgs) {
		a.Target.Cloud = "azure"
		a.Target.Trigger.PodIdentity = ""
		a.Target.CredentialsSecret = "creds"
		a.Target.Trigger.SecretParams = map[string]string{"awsAccessKeyID": "AWS_ACCESS_KEY_ID"}
	})
	assert.NotNil(t, w)
}

// TestCredentialsSecretIsLoadedAsEnvironment: with a credentials Secret the
// pods load it whole and KEDA reads its keys; without one, neither happens.
func TestCredentialsSecretIsLoadedAsEnvironment(t *testing.T) {
	g, _ := deployAWS(t, func(a *kube.WorkloadArgs) {
		a.Target.Trigger.PodIdentity = ""
		a.Target.CredentialsSecret = "edw-creds"
		a.Target.Trigger.SecretParams = map[string]string{"awsAccessKeyID": "AWS_ACCESS_KEY_ID", "awsSecretAccessKey": "AWS_SECRET_ACCESS_KEY"}
		a.Producer = kube.ProducerSettings{Enabled: true, MessageCount: 1, Rate: 1}
	})
	for _, typ := range []string{deploymentType, jobType} {
		assert.Equal(t, "edw-creds", g.OnlyOfType(t, typ).Str(t, "spec.template.spec.containers.0.envFrom.0.secretRef.name"), typ)
	}
	refs, _ := g.OnlyOfType(t, triggerAuthType).Plain("spec.secretTargetRef")
	assert.Equal(t, []any{
		map[string]any{"parameter": "awsAccessKeyID", "name": "edw-creds", "key": "AWS_ACCESS_KEY_ID"},
		map[string]any{"parameter": "awsSecretAccessKey", "name": "edw-creds", "key": "AWS_SECRET_ACCESS_KEY"},
	}, refs, "sorted, so previews are stable")

	plain, _ := deployAWS(t, func(*kube.WorkloadArgs) {})
	_, has := plain.OnlyOfType(t, deploymentType).Input("spec.template.spec.containers.0.envFrom")
	assert.False(t, has, "pod identity: no Secret loaded")
}

// TestTolerationsCarryTheirValueOnlyWhenTheyHaveOne: an Equal toleration keeps
// its value, an Exists one has none, in the pod spec and in KEDA's Helm values.
func TestTolerationsCarryTheirValueOnlyWhenTheyHaveOne(t *testing.T) {
	g, _ := deployAWS(t, func(a *kube.WorkloadArgs) {
		tols := []kube.Toleration{
			{Key: "dedicated", Operator: "Equal", Value: "edw", Effect: "NoSchedule"},
			{Key: "CriticalAddonsOnly", Operator: "Exists", Effect: "NoSchedule"},
		}
		a.Target.System.Tolerations, a.Target.Workload.Tolerations = tols, tols
	})
	for _, at := range []struct {
		r    *pulumitest.Resource
		path string
	}{
		{g.OnlyOfType(t, releaseType), "values.tolerations"},
		{g.OnlyOfType(t, deploymentType), "spec.template.spec.tolerations"},
	} {
		got, _ := at.r.Plain(at.path)
		require.Len(t, got, 2, at.path)
		assert.Equal(t, "edw", got.([]any)[0].(map[string]any)["value"], at.path)
		assert.NotContains(t, got.([]any)[1].(map[string]any), "value", at.path)
	}
}

func TestServiceAccountSubject(t *testing.T) {
	assert.Equal(t, "system:serviceaccount:edw:edw-consumer", kube.ConsumerServiceAccount.Subject())
	assert.Equal(t, "system:serviceaccount:keda:keda-operator", kube.KedaServiceAccount.Subject())
}

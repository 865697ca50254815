package kube

import (
	"fmt"
	"sort"
	"time"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// nonRootUID is the distroless "nonroot" user the workload images run as.
const nonRootUID = 65532

// metricsPort serves /metrics, /healthz and /readyz in the workload binaries.
const metricsPort = 9090

// podSecurity is the restricted Pod Security Standard for the workload pods.
func podSecurity() *corev1.PodSecurityContextArgs {
	return &corev1.PodSecurityContextArgs{
		RunAsNonRoot:   pulumi.Bool(true),
		RunAsUser:      pulumi.Int(nonRootUID),
		RunAsGroup:     pulumi.Int(nonRootUID),
		SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
	}
}

func containerSecurity() *corev1.SecurityContextArgs {
	return &corev1.SecurityContextArgs{
		AllowPrivilegeEscalation: pulumi.Bool(false),
		ReadOnlyRootFilesystem:   pulumi.Bool(true),
		RunAsNonRoot:             pulumi.Bool(true),
		Capabilities:             &corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}},
	}
}

// envVars renders env in a stable order so previews never show a reordering diff.
func envVars(env map[string]pulumi.StringInput, extra map[string]string) corev1.EnvVarArray {
	all := map[string]pulumi.StringInput{}
	for k, v := range env {
		all[k] = v
	}
	for k, v := range extra {
		all[k] = pulumi.String(v)
	}
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := corev1.EnvVarArray{}
	for _, k := range keys {
		out = append(out, &corev1.EnvVarArgs{Name: pulumi.String(k), Value: all[k]})
	}
	return out
}

// secretEnv loads every key of the credentials Secret as environment.
func secretEnv(secret string) corev1.EnvFromSourceArray {
	if secret == "" {
		return nil
	}
	return corev1.EnvFromSourceArray{&corev1.EnvFromSourceArgs{
		SecretRef: &corev1.SecretEnvSourceArgs{Name: pulumi.String(secret)},
	}}
}

func tolerations(ts []Toleration) corev1.TolerationArray {
	out := corev1.TolerationArray{}
	for _, t := range ts {
		tol := &corev1.TolerationArgs{Key: pulumi.String(t.Key), Operator: pulumi.String(t.Operator), Effect: pulumi.String(t.Effect)}
		if t.Value != "" {
			tol.Value = pulumi.String(t.Value)
		}
		out = append(out, tol)
	}
	return out
}

// labels merges the app labels with the identity's pod labels; app labels win so an
// identity cannot break the selector.
func labels(app map[string]string, identity Identity) pulumi.StringMap {
	out := pulumi.StringMap{}
	for k, v := range identity.PodLabels {
		out[k] = pulumi.String(v)
	}
	for k, v := range app {
		out[k] = pulumi.String(v)
	}
	return out
}

// appLabels are the labels of one edw workload; the name label is its selector.
func appLabels(sa ServiceAccount) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":    sa.Name,
		"app.kubernetes.io/part-of": "edw",
	}
}

// newServiceAccount creates the service account a workload's federated identity
// trusts; its name must be exactly sa, which the cloud side was built for.
func newServiceAccount(ctx *pulumi.Context, name string, sa ServiceAccount, namespace pulumi.StringInput,
	identity Identity, parent pulumi.Resource) (*corev1.ServiceAccount, error) {
	account, err := corev1.NewServiceAccount(ctx, name, &corev1.ServiceAccountArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:        pulumi.String(sa.Name),
			Namespace:   namespace,
			Labels:      stringMap(appLabels(sa)),
			Annotations: identity.Annotations,
		},
	}, pulumi.Parent(parent))
	if err != nil {
		return nil, fmt.Errorf("service account %s: %w", sa.Subject(), err)
	}
	return account, nil
}

// FirstNodeWait bounds how long Pulumi waits for a workload's first pod. The
// Kubernetes provider gives a Deployment and a Job 10 minutes unless told
// otherwise (DefaultDeploymentTimeoutMins, DefaultJobTimeoutMins in
// pulumi-kubernetes' pkg/await), but the first consumer or producer pod of a
// scale-from-zero pool waits for Karpenter or NAP to launch a node, bootstrap
// it (on AKS, also until Cilium lifts its startup taint) and pull the image.
const FirstNodeWait = 20 * time.Minute

// WorkloadTimeouts are the create and update timeouts of a workload that may
// wait for its first node and then run for work (a Job's send time).
func WorkloadTimeouts(work time.Duration) *pulumi.CustomTimeouts {
	d := (FirstNodeWait + work).String()
	return &pulumi.CustomTimeouts{Create: d, Update: d}
}

package kube

import (
	"fmt"
	"slices"

	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	rbacv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/rbac/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Readers are the identities that may read, but never change, what edw put in
// the cluster: CI previews. The CI preview refreshes first (preview.yml), which
// reads every object the stack manages (and a Helm release's state, kept in
// Secrets of its namespace); a plain preview reads none. lab/engine proves both
// on the real engine: with these grants a reader's refresh succeeds, without any
// one of them it is denied, and a plain preview needs none.
type Readers struct {
	// Groups and Users are Kubernetes RBAC subjects as the cluster's
	// authenticator names them (an aws-auth group; Entra object ids on AKS).
	Groups []string
	Users  []string
	// Kinds are cloud-specific kinds the stack manages beyond the kube layer's
	// own (Karpenter's NodePool and node classes).
	Kinds []Kind
	// ReleaseNamespaces hold Helm releases the stack manages beyond KEDA's;
	// Helm keeps a release's state in Secrets of its namespace.
	ReleaseNamespaces []string
}

// Kind is an API group and resource (plural) the readers may get, list and watch.
type Kind struct {
	Group, Resource string
}

// Empty reports whether nobody is to be granted read access.
func (r Readers) Empty() bool { return len(r.Groups) == 0 && len(r.Users) == 0 }

// ReadableKinds are the kinds the kube layer creates, plus the RBAC objects that
// grant the readers their access (preview reads those too).
func ReadableKinds() []Kind {
	return []Kind{
		{"", "namespaces"}, {"", "serviceaccounts"},
		{"apps", "deployments"}, {"batch", "jobs"}, {"policy", "poddisruptionbudgets"},
		{"keda.sh", "scaledobjects"}, {"keda.sh", "triggerauthentications"},
		{"rbac.authorization.k8s.io", "clusterroles"}, {"rbac.authorization.k8s.io", "clusterrolebindings"},
		{"rbac.authorization.k8s.io", "roles"}, {"rbac.authorization.k8s.io", "rolebindings"},
	}
}

// ReaderAccess is the ClusterRole, its binding, and a Role per Helm release
// namespace for the release Secrets.
type ReaderAccess struct {
	pulumi.ResourceState
}

// newReaderAccess grants r read access; releaseNamespaces are where the stack's
// Helm releases live.
func newReaderAccess(ctx *pulumi.Context, name string, r Readers, releaseNamespaces []string, opts ...pulumi.ResourceOption) (*ReaderAccess, error) {
	a := &ReaderAccess{}
	if err := ctx.RegisterComponentResource("edw:kube:ReaderAccess", name, a, opts...); err != nil {
		return nil, err
	}
	child := append(slices.Clone(opts), pulumi.Parent(a))
	byGroup := map[string][]string{}
	for _, k := range append(ReadableKinds(), r.Kinds...) {
		byGroup[k.Group] = append(byGroup[k.Group], k.Resource)
	}
	groups := make([]string, 0, len(byGroup))
	for g := range byGroup {
		groups = append(groups, g)
	}
	slices.Sort(groups)
	read := pulumi.ToStringArray([]string{"get", "list", "watch"})
	var rules rbacv1.PolicyRuleArray
	for _, g := range groups {
		rules = append(rules, rbacv1.PolicyRuleArgs{
			ApiGroups: pulumi.ToStringArray([]string{g}), Resources: pulumi.ToStringArray(byGroup[g]), Verbs: read,
		})
	}
	role, err := rbacv1.NewClusterRole(ctx, name, &rbacv1.ClusterRoleArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("edw-reader")},
		Rules:    rules,
	}, child...)
	if err != nil {
		return nil, fmt.Errorf("reader cluster role %s: %w", name, err)
	}
	subjects := r.subjects()
	if _, err := rbacv1.NewClusterRoleBinding(ctx, name, &rbacv1.ClusterRoleBindingArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("edw-reader")},
		RoleRef: rbacv1.RoleRefArgs{
			ApiGroup: pulumi.String("rbac.authorization.k8s.io"), Kind: pulumi.String("ClusterRole"), Name: role.Metadata.Name().Elem(),
		},
		Subjects: subjects,
	}, child...); err != nil {
		return nil, fmt.Errorf("reader cluster role binding %s: %w", name, err)
	}
	for _, ns := range releaseNamespaces {
		secrets, err := rbacv1.NewRole(ctx, name+"-releases-"+ns, &rbacv1.RoleArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("edw-reader-releases"), Namespace: pulumi.String(ns)},
			Rules: rbacv1.PolicyRuleArray{rbacv1.PolicyRuleArgs{
				ApiGroups: pulumi.ToStringArray([]string{""}), Resources: pulumi.ToStringArray([]string{"secrets"}),
				Verbs: pulumi.ToStringArray([]string{"get", "list"}),
			}},
		}, child...)
		if err != nil {
			return nil, fmt.Errorf("reader release role in %s: %w", ns, err)
		}
		if _, err := rbacv1.NewRoleBinding(ctx, name+"-releases-"+ns, &rbacv1.RoleBindingArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("edw-reader-releases"), Namespace: pulumi.String(ns)},
			RoleRef: rbacv1.RoleRefArgs{
				ApiGroup: pulumi.String("rbac.authorization.k8s.io"), Kind: pulumi.String("Role"), Name: secrets.Metadata.Name().Elem(),
			},
			Subjects: subjects,
		}, child...); err != nil {
			return nil, fmt.Errorf("reader release role binding in %s: %w", ns, err)
		}
	}
	return a, ctx.RegisterResourceOutputs(a, pulumi.Map{})
}

func (r Readers) subjects() rbacv1.SubjectArray {
	var out rbacv1.SubjectArray
	add := func(kind string, names []string) {
		for _, n := range names {
			out = append(out, rbacv1.SubjectArgs{ApiGroup: pulumi.String("rbac.authorization.k8s.io"), Kind: pulumi.String(kind), Name: pulumi.String(n)})
		}
	}
	add("Group", r.Groups)
	add("User", r.Users)
	return out
}

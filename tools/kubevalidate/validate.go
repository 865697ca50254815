// Package kubevalidate strictly decodes rendered Kubernetes objects into the
// official Go API types — Kubernetes, KEDA and Karpenter — so a misspelt,
// misplaced or mistyped field is an error. It lives in its own module so those
// large dependency graphs stay out of the Pulumi program.
package kubevalidate

import (
	"encoding/json"
	"errors"
	"fmt"

	ec2v1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	sigsjson "sigs.k8s.io/json"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
)

// kinds maps "apiVersion/kind" to a new value of its Go type. An object of any
// other kind is rejected: an unvalidated kind must be a decision, not an accident.
var kinds = map[string]func() any{
	"v1/Namespace":                             func() any { return &corev1.Namespace{} },
	"v1/ServiceAccount":                        func() any { return &corev1.ServiceAccount{} },
	"v1/ConfigMap":                             func() any { return &corev1.ConfigMap{} },
	"v1/Service":                               func() any { return &corev1.Service{} },
	"apps/v1/Deployment":                       func() any { return &appsv1.Deployment{} },
	"policy/v1/PodDisruptionBudget":            func() any { return &policyv1.PodDisruptionBudget{} },
	"batch/v1/Job":                             func() any { return &batchv1.Job{} },
	"rbac.authorization.k8s.io/v1/Role":        func() any { return &rbacv1.Role{} },
	"rbac.authorization.k8s.io/v1/RoleBinding": func() any { return &rbacv1.RoleBinding{} },
	"keda.sh/v1alpha1/ScaledObject":            func() any { return &kedav1alpha1.ScaledObject{} },
	"keda.sh/v1alpha1/TriggerAuthentication":   func() any { return &kedav1alpha1.TriggerAuthentication{} },
	"karpenter.sh/v1/NodePool":                 func() any { return &karpv1.NodePool{} },
	"karpenter.k8s.aws/v1/EC2NodeClass":        func() any { return &ec2v1.EC2NodeClass{} },
	"monitoring.coreos.com/v1/PodMonitor":      func() any { return &monitoringv1.PodMonitor{} },
	// AKS's managed Prometheus serves the Prometheus Operator's PodMonitor
	// under its own group, with the same schema.
	"azmonitoring.coreos.com/v1/PodMonitor": func() any { return &monitoringv1.PodMonitor{} },
}

// Object validates one object given as JSON.
func Object(raw []byte) error {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return fmt.Errorf("not a Kubernetes object: %w", err)
	}
	id := head.APIVersion + "/" + head.Kind
	newObj, ok := kinds[id]
	if !ok {
		return fmt.Errorf("%s %q: kind has no Go API type registered for validation", id, head.Metadata.Name)
	}
	obj := newObj()
	strict, err := sigsjson.UnmarshalStrict(raw, obj)
	if err != nil {
		return fmt.Errorf("%s %q: %w", id, head.Metadata.Name, err)
	}
	if len(strict) > 0 {
		return fmt.Errorf("%s %q: %w", id, head.Metadata.Name, errors.Join(strict...))
	}
	if head.Metadata.Name == "" {
		return fmt.Errorf("%s: metadata.name is empty", id)
	}
	return nil
}

// Objects validates a JSON array of objects and returns every failure.
func Objects(raw []byte) error {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return fmt.Errorf("want a JSON array of objects: %w", err)
	}
	var errs []error
	for _, it := range items {
		if err := Object(it); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

//go:build tools

// Package kubernetes pins the Kubernetes commands the cluster lab builds.
package kubernetes

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)

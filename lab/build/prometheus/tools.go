//go:build tools

// Package prometheus pins what the cluster lab needs to serve the Prometheus
// Operator's PodMonitor: its API types, and controller-gen, which turns those
// types into the CRD (the operator's own CRD files are not in any module the
// proxy serves).
package prometheus

import (
	_ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
)

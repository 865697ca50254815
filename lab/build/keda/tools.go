//go:build tools

// Package keda pins the KEDA commands the cluster lab builds.
package keda

import (
	_ "github.com/kedacore/keda/v2/cmd/adapter"
	_ "github.com/kedacore/keda/v2/cmd/operator"
)

//go:build tools

// Package deps pins the SDK modules the infra packages use to the versions that
// build together (see DESIGN notes in README); the build tag keeps it out of builds.
package deps

import (
	_ "github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	_ "github.com/pulumi/pulumi-azure-native-sdk/authorization/v2"
	_ "github.com/pulumi/pulumi-azure-native-sdk/containerregistry/v2"
	_ "github.com/pulumi/pulumi-azure-native-sdk/containerservice/v2/v20240902preview"
	_ "github.com/pulumi/pulumi-azure-native-sdk/managedidentity/v2"
	_ "github.com/pulumi/pulumi-azure-native-sdk/resources/v2"
	_ "github.com/pulumi/pulumi-azure-native-sdk/storage/v2"
	_ "github.com/pulumi/pulumi-azure-native-sdk/v2"
	_ "github.com/pulumi/pulumi-command/sdk/go/command/local"
	_ "github.com/pulumi/pulumi-eks/sdk/v2/go/eks"
	_ "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
)

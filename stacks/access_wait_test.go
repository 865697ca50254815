package stacks

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/internal/pulumitest"
)

// Issue 21, item 14: the Kubernetes provider of the azure stack gets its
// kubeconfig only once the cluster allows the deployer. What the mocks cannot
// show is the real propagation delay; internal/clusteraccess's tests wait
// out a server that refuses first.
func TestTheAKSProviderWaitsUntilTheDeployerIsAllowed(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	wait := func(_ context.Context, kubeconfig string) error {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, kubeconfig)
		return nil
	}
	g, _ := runStackWaiting(t, "azure", prebuilt, wait, azureFakes()...)
	require.Len(t, asked, 1, "one wait, for the one cluster")
	provider := g.One(t, "pulumi:providers:kubernetes", "aks")
	assert.Equal(t, asked[0], provider.Str(t, "kubeconfig"), "the provider gets the kubeconfig that was checked")
	assert.Contains(t, asked[0], "azurecli", "the check signs in as the provider will")

	t.Run("a preview waits for nothing", func(t *testing.T) {
		asked = nil
		runStackWaiting(t, "azure", prebuilt, wait, append(azureFakes(), pulumitest.Preview())...)
		assert.Empty(t, asked)
	})

	t.Run("access never granted fails the up, naming why", func(t *testing.T) {
		refused := errors.New("create namespaces: not allowed: no RBAC policy matched")
		_, err := pulumitest.RunErr(program(seams{waitForAccess: func(context.Context, string) error { return refused }}),
			append([]pulumitest.Option{pulumitest.Stack("azure"), pulumitest.Config(with(stackFile(t, "azure"), flatten(prebuilt)...))}, azureFakes()...)...)
		require.Error(t, err)
		assert.ErrorContains(t, err, "deployer access to the cluster: create namespaces: not allowed: no RBAC policy matched")
	})

	t.Run("the aws stack does not wait", func(t *testing.T) {
		never := func(context.Context, string) error { t.Error("waited"); return nil }
		runStackWaiting(t, "aws", with(prebuilt, "aws:region", "eu-north-1"), never, awsFakes("eu-north-1", "edw-aws")...)
	})
}

package stacks

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Issue 21, item 11: the explicit azure-native provider honours the user's
// azure-native:* stack config, secrets staying secret.
func TestAzureProviderHonoursItsStackConfig(t *testing.T) {
	sub, tenant, client := "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d", "1a2b3c4d-5e6f-4a0b-9c1d-2e3f4a5b6c7d", "2b3c4d5e-6f70-4b1c-8d2e-3f4a5b6c7d8e"
	g, _ := runAzure(t, map[string]string{
		"azure-native:subscriptionId": sub, "azure-native:tenantId": tenant, "azure-native:clientId": client,
		"azure-native:clientSecret": "s3cret", "azure-native:environment": "usgovernment", "azure-native:useOidc": "true",
		"azure-native:auxiliaryTenantIds": `["` + sub + `"]`,
	})
	p := g.OnlyOfType(t, "pulumi:providers:azure-native")
	assertInputs(t, p, map[string]any{
		"subscriptionId": sub, "tenantId": tenant, "clientId": client, "clientSecret": "s3cret",
		"environment": "usgovernment", "useOidc": true, "auxiliaryTenantIds": []any{sub}, "location": "westus3",
	})
	secret, _ := p.Input("clientSecret")
	assert.True(t, secret.ContainsSecrets(), "the client secret stays secret in the provider's state")
	_, ok := p.Input("clientCertificatePath")
	assert.False(t, ok, "keys the user did not set are not invented")
}

func TestAzureProviderConfigOfTheWrongTypeIsOneClearLine(t *testing.T) {
	_, err := azureProviderArgs(func(k string) (string, bool) {
		v, ok := map[string]string{"azure-native:useMsi": "yes"}[k]
		return v, ok
	}, "westus3")
	require.EqualError(t, err, `invalid stack config azure-native:useMsi = "yes": want true or false`)
}

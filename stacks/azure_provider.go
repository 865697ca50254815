package stacks

import (
	"encoding/json"
	"errors"
	"strconv"

	azurenative "github.com/pulumi/pulumi-azure-native-sdk/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// azureProviderKeys are the azure-native provider's own settings (its
// configuration schema, provider.go of the SDK) that a user may put in stack
// config as azure-native:<key>. An explicit provider reads none of them by
// itself: each is handed on here, so azure-native:subscriptionId and the like
// mean on an edw stack what they mean on any other. location is edw's region.
var azureProviderKeys = []struct {
	key    string
	kind   string // string, bool or list
	secret bool
	set    func(a *azurenative.ProviderArgs, v pulumi.Input)
}{
	{"subscriptionId", "string", false, func(a *azurenative.ProviderArgs, v pulumi.Input) { a.SubscriptionId = v.(pulumi.StringInput) }},
	{"tenantId", "string", false, func(a *azurenative.ProviderArgs, v pulumi.Input) { a.TenantId = v.(pulumi.StringInput) }},
	{"auxiliaryTenantIds", "list", false, func(a *azurenative.ProviderArgs, v pulumi.Input) { a.AuxiliaryTenantIds = v.(pulumi.StringArrayInput) }},
	{"clientId", "string", false, func(a *azurenative.ProviderArgs, v pulumi.Input) { a.ClientId = v.(pulumi.StringInput) }},
	{"clientSecret", "string", true, func(a *azurenative.ProviderArgs, v pulumi.Input) { a.ClientSecret = v.(pulumi.StringInput) }},
	{"clientCertificatePath", "string", false, func(a *azurenative.ProviderArgs, v pulumi.Input) { a.ClientCertificatePath = v.(pulumi.StringInput) }},
	{"clientCertificatePassword", "string", true, func(a *azurenative.ProviderArgs, v pulumi.Input) {
		a.ClientCertificatePassword = v.(pulumi.StringInput)
	}},
	{"environment", "string", false, func(a *azurenative.ProviderArgs, v pulumi.Input) { a.Environment = v.(pulumi.StringInput) }},
	{"metadataHost", "string", false, func(a *azurenative.ProviderArgs, v pulumi.Input) { a.MetadataHost = v.(pulumi.StringInput) }},
	{"msiEndpoint", "string", false, func(a *azurenative.ProviderArgs, v pulumi.Input) { a.MsiEndpoint = v.(pulumi.StringInput) }},
	{"useMsi", "bool", false, func(a *azurenative.ProviderArgs, v pulumi.Input) { a.UseMsi = v.(pulumi.BoolInput) }},
	{"useOidc", "bool", false, func(a *azurenative.ProviderArgs, v pulumi.Input) { a.UseOidc = v.(pulumi.BoolInput) }},
	{"oidcToken", "string", true, func(a *azurenative.ProviderArgs, v pulumi.Input) { a.OidcToken = v.(pulumi.StringInput) }},
	{"oidcRequestToken", "string", true, func(a *azurenative.ProviderArgs, v pulumi.Input) { a.OidcRequestToken = v.(pulumi.StringInput) }},
	{"oidcRequestUrl", "string", false, func(a *azurenative.ProviderArgs, v pulumi.Input) { a.OidcRequestUrl = v.(pulumi.StringInput) }},
	{"partnerId", "string", false, func(a *azurenative.ProviderArgs, v pulumi.Input) { a.PartnerId = v.(pulumi.StringInput) }},
	{"disablePulumiPartnerId", "bool", false, func(a *azurenative.ProviderArgs, v pulumi.Input) {
		a.DisablePulumiPartnerId = v.(pulumi.BoolInput)
	}},
}

// azureProviderArgs builds the explicit provider's arguments from the stack's
// azure-native:* config; a value of the wrong type is a config error naming
// the key, before anything is registered.
func azureProviderArgs(get func(key string) (string, bool), location string) (*azurenative.ProviderArgs, error) {
	args := &azurenative.ProviderArgs{Location: pulumi.String(location)}
	r := &configReader{get: get}
	for _, k := range azureProviderKeys {
		key := "azure-native:" + k.key
		raw, set := r.str(key, "")
		if !set {
			continue
		}
		var v pulumi.Input
		switch k.kind {
		case "bool":
			b, err := strconv.ParseBool(raw)
			if err != nil {
				r.fail(key, raw, "want true or false")
				continue
			}
			v = pulumi.Bool(b)
		case "list":
			var ids []string
			if err := json.Unmarshal([]byte(raw), &ids); err != nil {
				r.fail(key, raw, "want a list of tenant ids")
				continue
			}
			v = pulumi.ToStringArray(ids)
		default:
			if k.secret {
				v = pulumi.ToSecret(pulumi.String(raw)).(pulumi.StringOutput)
			} else {
				v = pulumi.String(raw)
			}
		}
		k.set(args, v)
	}
	if len(r.errs) > 0 {
		return nil, errors.Join(r.errs...)
	}
	return args, nil
}

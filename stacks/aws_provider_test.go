package stacks

import (
	"reflect"
	"testing"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/internal/pulumitest"
)

// The explicit aws provider honours the user's aws:* stack config (the twin
// of item 11 on AWS): without it aws:profile was ignored and a stack could
// deploy into whichever account the shell's credentials named.
func TestAWSProviderHonoursItsStackConfig(t *testing.T) {
	g, _ := runAWS(t, map[string]string{
		"aws:profile": "edw-prod", "aws:sharedConfigFiles": `["/etc/aws/config"]`,
		"aws:allowedAccountIds": `["111122223333"]`, "aws:maxRetries": "7", "aws:skipMetadataApiCheck": "false",
		"aws:assumeRole":      `{"roleArn":"arn:aws:iam::111122223333:role/deployer","sessionName":"edw","externalId":"x-1"}`,
		"aws:secretKey":       "s3cret",
		"aws:retryMode":       "adaptive",
		"aws:stsRegion":       "eu-west-1",
		"aws:useFipsEndpoint": "true",
	})
	p := g.OnlyOfType(t, "pulumi:providers:aws")
	assertInputs(t, p, map[string]any{
		"profile": "edw-prod", "sharedConfigFiles": []any{"/etc/aws/config"}, "allowedAccountIds": []any{"111122223333"},
		"maxRetries": float64(7), "skipMetadataApiCheck": false, "secretKey": "s3cret", "retryMode": "adaptive",
		"stsRegion": "eu-west-1", "useFipsEndpoint": true, "region": "eu-north-1",
		"assumeRole": map[string]any{"roleArn": "arn:aws:iam::111122223333:role/deployer", "sessionName": "edw", "externalId": "x-1"},
	})
	secret, _ := p.Input("secretKey")
	assert.True(t, secret.ContainsSecrets(), "the secret key stays secret in the provider's state")
	tags, _ := p.Plain("defaultTags.tags")
	assert.Equal(t, "aws", tags.(map[string]any)["edw:stack"], "edw's own tags are still the default tags")
	_, ok := p.Input("accessKey")
	assert.False(t, ok, "keys the user did not set are not invented")
}

func TestAWSProviderConfigIsCheckedInOneLineEach(t *testing.T) {
	for _, c := range []struct{ key, value, want string }{
		{"aws:maxRetries", "many", `invalid stack config aws:maxRetries = "many": want a whole number`},
		{"aws:insecure", "yes", `invalid stack config aws:insecure = "yes": want true or false`},
		{"aws:sharedCredentialsFiles", "/root/.aws/credentials", `invalid stack config aws:sharedCredentialsFiles = "/root/.aws/credentials": want a JSON list of strings`},
		{"aws:assumeRole", `{"rolearn2":"arn"}`, `invalid stack config aws:assumeRole = "{\"rolearn2\":\"arn\"}": want an object with roleArn and the provider's other assumeRole keys: json: unknown field "rolearn2"`},
		{"aws:defaultTags", `{"tags":{"a":"b"}}`, `invalid stack config aws:defaultTags = "{\"tags\":{\"a\":\"b\"}}": edw tags every resource itself; put your tags in edw:tags`},
		{"aws:endpoints", `[{"sqs":"http://localhost"}]`, `invalid stack config aws:endpoints = "[{\"sqs\":\"http://localhost\"}]": edw does not pass it on: custom endpoints are for emulators, which edw's tests set up themselves`},
	} {
		_, err := awsProviderArgs(func(k string) (string, bool) {
			v, ok := map[string]string{c.key: c.value}[k]
			return v, ok
		}, "eu-north-1", nil)
		assert.EqualError(t, err, c.want)
	}
}

// Every setting of the provider is either handed on or refused with a
// reason: a provider upgrade that adds one of a new kind fails here, not
// silently in a user's account.
func TestEveryAWSProviderSettingIsHandedOnOrRefused(t *testing.T) {
	samples := map[reflect.Type]string{
		reflect.TypeFor[aws.ProviderAssumeRolePtrInput]():                `{"roleArn":"arn:aws:iam::1:role/r"}`,
		reflect.TypeFor[aws.ProviderAssumeRoleWithWebIdentityPtrInput](): `{"roleArn":"arn:aws:iam::1:role/r"}`,
	}
	typ := reflect.TypeFor[aws.ProviderArgs]()
	handed := 0
	for i := range typ.NumField() {
		f := typ.Field(i)
		key := lowerFirst(f.Name)
		if _, refused := awsRefusedKeys[key]; refused {
			continue
		}
		raw, ok := samples[f.Type]
		if !ok {
			raw = map[string]string{"pulumi.StringPtrInput": "x", "pulumi.BoolPtrInput": "true", "pulumi.IntPtrInput": "3",
				"pulumi.StringArrayInput": `["x"]`}[f.Type.String()]
		}
		in, _, err := awsProviderValue(key, f.Type, raw)
		require.NoError(t, err, "aws:%s (%s) is neither handed on nor refused", key, f.Type)
		assert.True(t, reflect.TypeOf(in).AssignableTo(f.Type), "aws:%s", key)
		handed++
	}
	assert.Greater(t, handed, 25)
}

// assertInputs checks that each key is an input of r with exactly that value.
func assertInputs(t *testing.T, r *pulumitest.Resource, want map[string]any) {
	t.Helper()
	for key, v := range want {
		got, ok := r.Plain(key)
		if assert.True(t, ok, "%s input %s", r, key) {
			assert.Equal(t, v, got, key)
		}
	}
}

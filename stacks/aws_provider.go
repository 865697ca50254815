package stacks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"unicode"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// An explicit provider reads none of the aws:* stack config by itself, so a
// user's aws:profile or aws:assumeRole would be ignored and the stack would
// deploy with whatever credentials the shell holds, maybe into another
// account. Every key of the provider's configuration (the fields of
// aws.ProviderArgs) is therefore handed on, or refused in one line where edw
// sets it itself.
var (
	// awsSecretKeys stay secret in the provider's inputs and the state.
	awsSecretKeys = []string{"accessKey", "secretKey", "token"}
	// awsRefusedKeys are the provider settings edw owns; the value says why.
	awsRefusedKeys = map[string]string{
		"region":      "edw's aws:region is the provider's region already",
		"defaultTags": "edw tags every resource itself; put your tags in edw:tags",
		"ignoreTags":  "edw does not pass it on: tags edw sets must be seen to be kept",
		"endpoints":   "edw does not pass it on: custom endpoints are for emulators, which edw's tests set up themselves",
	}
)

// awsProviderArgs builds the explicit provider's arguments from the stack's
// aws:* config; a value of the wrong type is a config error naming the key.
func awsProviderArgs(get func(key string) (string, bool), region string, tags pulumi.StringMap) (*aws.ProviderArgs, error) {
	args := &aws.ProviderArgs{Region: pulumi.String(region), DefaultTags: &aws.ProviderDefaultTagsArgs{Tags: tags}}
	r := &configReader{get: get}
	v := reflect.ValueOf(args).Elem()
	for i := range v.NumField() {
		key := lowerFirst(v.Type().Field(i).Name)
		raw, set := r.str("aws:"+key, "")
		if !set {
			continue
		}
		if why, refused := awsRefusedKeys[key]; refused {
			if key != "region" {
				r.fail("aws:"+key, raw, why)
			}
			continue
		}
		in, allowed, err := awsProviderValue(key, v.Field(i).Type(), raw)
		if err != nil {
			r.fail("aws:"+key, raw, allowed)
			continue
		}
		v.Field(i).Set(reflect.ValueOf(in))
	}
	if len(r.errs) > 0 {
		return nil, errors.Join(r.errs...)
	}
	return args, nil
}

// awsProviderValue is raw as the provider field's input type, or what is
// allowed instead.
func awsProviderValue(key string, field reflect.Type, raw string) (pulumi.Input, string, error) {
	switch field {
	case reflect.TypeFor[pulumi.StringPtrInput]():
		if slices.Contains(awsSecretKeys, key) {
			return secretStringPtr(raw), "", nil
		}
		return pulumi.StringPtr(raw), "", nil
	case reflect.TypeFor[pulumi.BoolPtrInput]():
		b, err := strconv.ParseBool(raw)
		return pulumi.BoolPtr(b), "want true or false", err
	case reflect.TypeFor[pulumi.IntPtrInput]():
		n, err := strconv.Atoi(raw)
		return pulumi.IntPtr(n), "want a whole number", err
	case reflect.TypeFor[pulumi.StringArrayInput]():
		var list []string
		err := strictJSON(raw, &list)
		return pulumi.ToStringArray(list), "want a JSON list of strings", err
	case reflect.TypeFor[aws.ProviderAssumeRolePtrInput]():
		var p aws.ProviderAssumeRole
		if err := strictJSON(raw, &p); err != nil {
			return nil, "want an object with roleArn and the provider's other assumeRole keys: " + err.Error(), err
		}
		a := &aws.ProviderAssumeRoleArgs{
			Duration: pulumi.StringPtrFromPtr(p.Duration), ExternalId: pulumi.StringPtrFromPtr(p.ExternalId),
			Policy: pulumi.StringPtrFromPtr(p.Policy), RoleArn: pulumi.StringPtrFromPtr(p.RoleArn),
			SessionName: pulumi.StringPtrFromPtr(p.SessionName), SourceIdentity: pulumi.StringPtrFromPtr(p.SourceIdentity),
			PolicyArns: optionalStrings(p.PolicyArns), TransitiveTagKeys: optionalStrings(p.TransitiveTagKeys),
		}
		if p.Tags != nil {
			a.Tags = pulumi.ToStringMap(p.Tags)
		}
		return a, "", nil
	case reflect.TypeFor[aws.ProviderAssumeRoleWithWebIdentityPtrInput]():
		var p aws.ProviderAssumeRoleWithWebIdentity
		if err := strictJSON(raw, &p); err != nil {
			return nil, "want an object with roleArn and the provider's other assumeRoleWithWebIdentity keys: " + err.Error(), err
		}
		a := &aws.ProviderAssumeRoleWithWebIdentityArgs{
			Duration: pulumi.StringPtrFromPtr(p.Duration), Policy: pulumi.StringPtrFromPtr(p.Policy),
			RoleArn: pulumi.StringPtrFromPtr(p.RoleArn), SessionName: pulumi.StringPtrFromPtr(p.SessionName),
			WebIdentityTokenFile: pulumi.StringPtrFromPtr(p.WebIdentityTokenFile), PolicyArns: optionalStrings(p.PolicyArns),
		}
		if p.WebIdentityToken != nil {
			a.WebIdentityToken = secretStringPtr(*p.WebIdentityToken)
		}
		return a, "", nil
	}
	err := fmt.Errorf("aws:%s: no conversion for %s", key, field)
	return nil, err.Error(), err
}

// optionalStrings is list as an input, or no input at all when it is unset,
// so the provider is not handed an empty list the user never wrote.
func optionalStrings(list []string) pulumi.StringArrayInput {
	if list == nil {
		return nil
	}
	return pulumi.ToStringArray(list)
}

// secretStringPtr is s as an input that stays secret in the state.
func secretStringPtr(s string) pulumi.StringPtrOutput {
	return pulumi.ToSecret(pulumi.StringPtr(s).ToStringPtrOutput()).(pulumi.StringPtrOutput)
}

// strictJSON decodes raw into v and refuses keys v does not have, so a
// misspelt roleArn is an error, not a role never assumed.
func strictJSON(raw string, v any) error {
	dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToLower(r[0])
	return string(r)
}

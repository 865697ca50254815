package aws

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Statement is one IAM policy statement.
type Statement struct {
	Sid       string         `json:"Sid,omitempty"`
	Effect    string         `json:"Effect"`
	Principal map[string]any `json:"Principal,omitempty"`
	Action    []string       `json:"Action"`
	Resource  []string       `json:"Resource,omitempty"`
	Condition map[string]any `json:"Condition,omitempty"`
}

// Document renders statements as a policy document.
func Document(statements ...Statement) (string, error) {
	for i := range statements {
		if statements[i].Effect == "" {
			statements[i].Effect = "Allow"
		}
	}
	b, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": statements})
	if err != nil {
		return "", fmt.Errorf("render policy: %w", err)
	}
	return string(b), nil
}

// DocumentOf renders a policy whose statements need resolved values (ARNs).
func DocumentOf(values []pulumi.StringInput, build func(v []string) []Statement) pulumi.StringOutput {
	inputs := make([]any, len(values))
	for i, v := range values {
		inputs[i] = v
	}
	return pulumi.All(inputs...).ApplyT(func(resolved []any) (string, error) {
		v := make([]string, len(resolved))
		for i, r := range resolved {
			v[i], _ = r.(string)
		}
		return Document(build(v)...)
	}).(pulumi.StringOutput)
}

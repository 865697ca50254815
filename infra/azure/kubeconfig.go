package azure

import (
	"errors"
	"fmt"
	"slices"

	"gopkg.in/yaml.v3"
)

// AzureCLILogin rewrites an Entra ID (exec) kubeconfig, as listClusterUserCredential
// returns it, so kubelogin takes its token from the Azure CLI's login: the
// same command then works for a person after `az login` and for CI after
// azure/login with OIDC, with no device-code prompt and no stored secret.
func AzureCLILogin(kubeconfig string) (string, error) {
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(kubeconfig), &doc); err != nil {
		return "", fmt.Errorf("parse kubeconfig: %w", err)
	}
	users, _ := doc["users"].([]any)
	rewritten := false
	for _, u := range users {
		user, _ := u.(map[string]any)["user"].(map[string]any)
		exec, _ := user["exec"].(map[string]any)
		if exec == nil || exec["command"] != "kubelogin" {
			continue
		}
		args, _ := exec["args"].([]any)
		serverID := flagValue(args, "--server-id")
		if serverID == "" {
			return "", errors.New("kubeconfig: kubelogin user has no --server-id")
		}
		exec["args"] = []any{"get-token", "--login", "azurecli", "--server-id", serverID}
		rewritten = true
	}
	if !rewritten {
		return "", errors.New("kubeconfig: no kubelogin exec user; is the cluster's Entra ID integration on?")
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("render kubeconfig: %w", err)
	}
	return string(out), nil
}

func flagValue(args []any, flag string) string {
	i := slices.IndexFunc(args, func(a any) bool { return a == flag })
	if i < 0 || i+1 >= len(args) {
		return ""
	}
	v, _ := args[i+1].(string)
	return v
}

package stacks

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// DefaultControlPlaneLogRetentionDays keeps the EKS control-plane logs (audit
// included) for three months: long enough to investigate, bounded in cost.
const DefaultControlPlaneLogRetentionDays = 90

// oneOf reads an integer that must be one of allowed (a fixed set the cloud
// accepts, such as CloudWatch Logs retention periods).
func (r *configReader) oneOf(key string, def int, allowed []int) int {
	raw, set := r.str(key, "")
	if !set {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(raw))
	if err != nil || !slices.Contains(allowed, n) {
		s := make([]string, len(allowed))
		for i, a := range allowed {
			s[i] = strconv.Itoa(a)
		}
		r.fail(key, raw, fmt.Sprintf("want one of %s", strings.Join(s, ", ")))
		return def
	}
	return n
}

// azureForbiddenTagKeyChars are the characters Azure refuses in a tag name
// (https://learn.microsoft.com/azure/azure-resource-manager/management/tag-resources#limitations).
const azureForbiddenTagKeyChars = `<>%&\?/`

// azureTagKeys rejects tag keys Azure would refuse on every resource.
func (r *configReader) azureTagKeys(key string, tags map[string]string) {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if strings.ContainsAny(k, azureForbiddenTagKeyChars) {
			raw, _ := r.str(key, "")
			r.fail(key, raw, fmt.Sprintf("tag %q: Azure tag names cannot contain any of %s", k, azureForbiddenTagKeyChars))
			return
		}
	}
}

// physicalNames rejects names that pass their own key's pattern but would
// make a physical name a cloud refuses (the rules are in names_test.go):
// a cluster name with "--" makes an ECR repository name ECR refuses, and a
// stack name can make a resource group name Azure refuses.
func (r *configReader) physicalNames(c *Config, stack string) {
	if strings.Contains(c.ClusterName, "--") {
		key := "edw:clusterName"
		if _, set := r.str(key, ""); !set {
			r.fail(key, c.ClusterName, "the stack name does not make a valid cluster name; set edw:clusterName without repeated hyphens (ECR repository names refuse them)")
		} else {
			r.fail(key, c.ClusterName, "want no repeated hyphens: the ECR repositories are named after the cluster and ECR refuses them")
		}
	}
	if c.Cloud == Azure && c.ResourceGroup == "" {
		if derived := DefaultResourceGroup(stack); !resourceGroupRE.MatchString(derived) {
			r.fail("edw:resourceGroupName", derived, "the stack name does not make a valid resource group name (1-90 letters, digits, -_.() not ending in a period); set edw:resourceGroupName")
		}
	}
}

// DefaultResourceGroup is the Azure resource group edw creates when
// edw:resourceGroupName is not set.
func DefaultResourceGroup(stack string) string { return "edw-" + stack }

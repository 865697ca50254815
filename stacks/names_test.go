package stacks

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/infra/azure"
	"github.com/edw-dev/edw/internal/pulumitest"
)

// nameRule is what a cloud accepts for one name edw sets physically (issue
// 21, item 16): length, characters, and where it must be unique.
type nameRule struct {
	Cloud    Cloud
	Type     string
	Path     string
	Min, Max int
	Pattern  *regexp.Regexp
	Scope    string
	Source   string
}

var nameRules = []nameRule{
	{AWS, awsEKS, "name", 1, 100, regexp.MustCompile(`^[0-9A-Za-z][A-Za-z0-9_-]*$`), "account and region",
		"https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateCluster.html"},
	{AWS, awsQueue, "name", 1, 80, regexp.MustCompile(`^[A-Za-z0-9_-]+$`), "account and region",
		"https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html"},
	{AWS, awsAlarm, "name", 1, 255, regexp.MustCompile(`^[^\x00-\x1f]+$`), "account and region",
		"https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html"},
	{AWS, awsDashboard, "dashboardName", 1, 255, regexp.MustCompile(`^[A-Za-z0-9_-]+$`), "account (global)",
		"https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutDashboard.html"},
	{AWS, awsRepo, "name", 2, 256, regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`), "account and region",
		"https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_CreateRepository.html"},
	{AWS, awsLogGroup, "name", 1, 512, regexp.MustCompile(`^[\.\-_/#A-Za-z0-9]+$`), "account and region",
		"https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html"},
	{Azure, azRG, "resourceGroupName", 1, 90, regexp.MustCompile(`^[-\w.()]*[-\w()]$`), "subscription",
		"https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftresources"},
	{Azure, azCluster, "resourceName", 1, 63, regexp.MustCompile(`^[a-zA-Z0-9]([-_a-zA-Z0-9]*[a-zA-Z0-9])?$`), "resource group",
		"https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftcontainerservice"},
	{Azure, azCluster, "dnsPrefix", 1, 54, regexp.MustCompile(`^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$`), "region",
		"https://learn.microsoft.com/rest/api/aks/managed-clusters/create-or-update"},
	{Azure, "azure-native:operationalinsights:Workspace", "workspaceName", 4, 63, regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]$`), "resource group",
		"https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftoperationalinsights"},
}

// tagRules: AWS tag keys 1-128, values 0-256; Azure tag names 1-512 without
// <>%&\?/, values 0-256.
// https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html
// https://learn.microsoft.com/azure/azure-resource-manager/management/tag-resources#limitations
func tagProblems(cloud Cloud, tags map[string]any) []string {
	var out []string
	for k, v := range tags {
		val, _ := v.(string)
		switch cloud {
		case AWS:
			if len(k) < 1 || len(k) > 128 || len(val) > 256 || strings.HasPrefix(strings.ToLower(k), "aws:") {
				out = append(out, fmt.Sprintf("aws tag %q=%q", k, val))
			}
		case Azure:
			if len(k) < 1 || len(k) > 512 || len(val) > 256 || strings.ContainsAny(k, azureForbiddenTagKeyChars) {
				out = append(out, fmt.Sprintf("azure tag %q=%q", k, val))
			}
		}
	}
	return out
}

// validClusterNames samples the accepted cluster names: both length bounds,
// every allowed character, and random names in between (fixed seed).
func validClusterNames(n int) []string {
	return sampleDNSLabels([]string{"ab", "a0", "a-0", "a" + strings.Repeat("b-", 15) + "9", "z" + strings.Repeat("9", 31)},
		n, 2, 32, 5, 16)
}

// sampleDNSLabels returns the extremes, then random DNS labels of minLen to
// maxLen characters (a letter first, a hyphen one time in hyphenOdds and never
// two in a row or last) until there are n, from a fixed seed.
func sampleDNSLabels(extremes []string, n, minLen, maxLen, hyphenOdds int, seed uint64) []string {
	names := slices.Clone(extremes)
	const first, rest = "abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxyz0123456789"
	rng := rand.New(rand.NewPCG(21, seed))
	for len(names) < n {
		b := []byte{first[rng.IntN(len(first))]}
		for l := minLen + rng.IntN(maxLen-minLen+1); len(b) < l; {
			if len(b) < l-1 && b[len(b)-1] != '-' && rng.IntN(hyphenOdds) == 0 {
				b = append(b, '-')
				continue
			}
			b = append(b, rest[rng.IntN(len(rest))])
		}
		names = append(names, string(b))
	}
	return names
}

// TestGeneratedNamesSatisfyTheirClouds: for cluster names across the accepted
// range, every physical name edw sets and every tag satisfies the cloud's rule.
func TestGeneratedNamesSatisfyTheirClouds(t *testing.T) {
	names := validClusterNames(12)
	for _, n := range names {
		_, err := parse("x", with(stackFile(t, "aws"), "edw:clusterName", n))
		require.NoError(t, err, "%q is a name the validation accepts", n)
	}
	for _, cloud := range []Cloud{AWS, Azure} {
		for _, name := range names {
			t.Run(string(cloud)+"/"+name, func(t *testing.T) {
				extra := map[string]string{"edw:clusterName": name, "edw:alertEmails": `["ops@example.com"]`, "edw:tags": `{"team":"platform"}`}
				var g *pulumitest.Graph
				if cloud == AWS {
					g, _ = runAWS(t, extra)
				} else {
					extra["edw:containerInsights"], extra["edw:managedPrometheus"] = "true", "true"
					g, _ = runAzure(t, extra)
				}
				assert.Positive(t, checkNamesAndTags(t, cloud, g))
			})
		}
	}
}

// checkNamesAndTags asserts every physical name edw sets in g against its
// rule, and every tag; it returns how many names it checked.
func checkNamesAndTags(t *testing.T, cloud Cloud, g *pulumitest.Graph) int {
	t.Helper()
	checked := 0
	for _, rule := range nameRules {
		if rule.Cloud != cloud {
			continue
		}
		for _, r := range g.ByType(rule.Type) {
			v, ok := r.Plain(rule.Path)
			s, isStr := v.(string)
			if !ok || !isStr {
				continue // not set: the provider names it
			}
			checked++
			assert.True(t, len(s) >= rule.Min && len(s) <= rule.Max && rule.Pattern.MatchString(s),
				"%s %s = %q breaks %d-%d %s (%s)", r, rule.Path, s, rule.Min, rule.Max, rule.Pattern, rule.Source)
		}
	}
	for _, r := range g.Resources {
		for _, path := range []string{"tags", "defaultTags.tags"} {
			if tags, ok := r.Plain(path); ok {
				if m, ok := tags.(map[string]any); ok {
					assert.Empty(t, tagProblems(cloud, m), r.String())
				}
			}
		}
	}
	return checked
}

// Issue 21, item 12: the names the rules found wrong are fixed or refused.
func TestNamesTheCloudsRefuse(t *testing.T) {
	for _, n := range []string{"ab", "abc", "abcd", strings.Repeat("a", 32)} {
		ws := azure.LogWorkspaceName(n)
		assert.True(t, len(ws) >= 4 && len(ws) <= 63, "%q → %q", n, ws)
	}
	assert.Equal(t, "abcd", azure.LogWorkspaceName("abcd"), "existing workspaces keep their names")

	_, err := parse("x", with(stackFile(t, "azure"), "edw:tags", `{"cost/center":"42"}`))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `invalid stack config edw:tags = "{\"cost/center\":\"42\"}": tag "cost/center": Azure tag names cannot contain any of <>%&\?/`)
	_, err = parse("x", with(stackFile(t, "aws"), "edw:tags", `{"cost/center":"42"}`))
	assert.NoError(t, err, "AWS allows / in tag keys")

	_, err = parse("x", with(stackFile(t, "aws"), "edw:clusterName", "edw--prod"))
	assert.EqualError(t, err, `invalid stack config edw:clusterName = "edw--prod": want no repeated hyphens: the ECR repositories are named after the cluster and ECR refuses them`)

	_, err = parse("prod.", with(stackFile(t, "azure"), "edw:clusterName", "edw-prod"))
	assert.EqualError(t, err, `invalid stack config edw:resourceGroupName = "edw-prod.": the stack name does not make a valid resource group name (1-90 letters, digits, -_.() not ending in a period); set edw:resourceGroupName`)
}

// validStackNames samples what Pulumi accepts as a stack name (1-100
// letters, digits, _ . and -; tokens.ParseStackName is the judge): both
// length bounds, the lengths where edw's derived names stop fitting (28 and 29
// for "edw-" + 28 = 32, the cluster name's limit; 86 and 87 for the
// resource group's 90), every allowed character, then random names.
func validStackNames(t *testing.T, n int) []string {
	t.Helper()
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
	names := []string{"a", "Z", "_", "-", ".", "prod", "Prod_EU.1", "dev.", "a--b",
		strings.Repeat("s", 28), strings.Repeat("s", 29), strings.Repeat("r", 86), strings.Repeat("r", 87),
		strings.Repeat("x", 99) + ".", strings.Repeat("9", 100)}
	rng := rand.New(rand.NewPCG(21, 17))
	for len(names) < n {
		b := make([]byte, 1+rng.IntN(100))
		for i := range b {
			b[i] = chars[rng.IntN(len(chars))]
		}
		names = append(names, string(b))
	}
	for _, s := range names {
		_, err := tokens.ParseStackName(s)
		require.NoError(t, err, "%q is a stack name Pulumi accepts", s)
	}
	return names
}

// TestStackNamesSatisfyTheirClouds (issue 21, item 16): for every stack name
// Pulumi accepts, edw either deploys with names and tags its clouds accept, or
// refuses with one line naming a key the user can set instead; set, the stack
// deploys.
func TestStackNamesSatisfyTheirClouds(t *testing.T) {
	fixes := map[string]string{"edw:clusterName": "edw-fixed", "edw:resourceGroupName": "rg-edw-fixed"}
	refused := map[string]int{}
	for _, stack := range validStackNames(t, 40) {
		for _, cloud := range []Cloud{AWS, Azure} {
			t.Run(string(cloud)+"/"+stack, func(t *testing.T) {
				cfg := with(stackFile(t, string(cloud)), append(flatten(prebuilt), "edw:alertEmails", `["ops@example.com"]`)...)
				if _, err := parse(stack, cfg); err != nil {
					require.NotEmpty(t, configErrors(err), "stack %q: %v is not a config error", stack, err)
					for _, e := range configErrors(err) {
						fix, ok := fixes[e.Key]
						require.True(t, ok, "stack %q: %v names no key that fixes it", stack, e)
						assert.Contains(t, e.Error(), "set "+e.Key, "the line says which key to set")
						cfg[e.Key] = fix
						refused[e.Key]++
					}
					_, err := parse(stack, cfg)
					require.NoError(t, err, "with the keys the refusal named set")
				}
				opts := []pulumitest.Option{pulumitest.Stack(stack)}
				if cloud == AWS {
					cluster := "edw-" + strings.ToLower(stack)
					if c, ok := cfg["edw:clusterName"]; ok {
						cluster = c
					}
					opts = append(opts, awsFakes(cfg["aws:region"], cluster)...)
				} else {
					opts = append(opts, azureFakes()...)
				}
				g, _ := runStack(t, string(cloud), cfg, opts...)
				assert.Positive(t, checkNamesAndTags(t, cloud, g))
				for _, r := range g.Resources {
					if tags, ok := r.Plain("tags"); ok {
						if m, ok := tags.(map[string]any); ok && m["edw:stack"] != nil {
							assert.Equal(t, stack, m["edw:stack"], "%s is tagged with its stack", r)
						}
					}
				}
			})
		}
	}
	// The sample reaches both refusals, so the fix path above is exercised.
	assert.Positive(t, refused["edw:clusterName"])
	assert.Positive(t, refused["edw:resourceGroupName"])
}

// configErrors unpacks the one-line errors a config parse joined.
func configErrors(err error) []*ConfigError {
	var out []*ConfigError
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			out = append(out, configErrors(e)...)
		}
		return out
	}
	var ce *ConfigError
	if errors.As(err, &ce) {
		out = append(out, ce)
	}
	return out
}

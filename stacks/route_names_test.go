package stacks

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// autoNameSuffix is what Pulumi's default autonaming appends to a logical name
// when a resource's name is not set: "-" and seven random characters.
// https://www.pulumi.com/docs/iac/concepts/resources/names/#autonaming
const autoNameSuffix = 8

// routeNameRules: what each cloud accepts for the names a route gives its
// resources (issue 21, item 16, for routes). Named means edw sets the name at
// Path; otherwise Pulumi autonames from the logical name.
var routeNameRules = []struct {
	Cloud   Cloud
	Type    string
	Path    string // "" when autonamed
	Min     int
	Max     int
	Pattern *regexp.Regexp
	Source  string
}{
	{AWS, awsQueue, "", 1, 80, regexp.MustCompile(`^[A-Za-z0-9_-]+$`),
		"https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html"},
	{AWS, awsRule, "", 1, 64, regexp.MustCompile(`^[.\-_A-Za-z0-9]+$`),
		"https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutRule.html"},
	{Azure, azEventSub, "eventSubscriptionName", 3, 64, regexp.MustCompile(`^[A-Za-z0-9-]+$`),
		"https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsofteventgrid"},
	{Azure, azQueue, "queueName", 3, 63, regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`),
		"https://learn.microsoft.com/rest/api/storageservices/naming-queues-and-metadata"},
	// Kubernetes objects are the same on both clouds: a Deployment's name is
	// its pods' label prefix, kept to a DNS label as edw's other objects are.
	{AWS, k8sDeployment, "metadata.name", 1, 63, regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`),
		"https://kubernetes.io/docs/concepts/overview/working-with-objects/names/#dns-label-names"},
	{Azure, k8sScaled, "metadata.name", 1, 63, regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`),
		"https://kubernetes.io/docs/concepts/overview/working-with-objects/names/#dns-label-names"},
}

// validRouteNames samples the route names edw:routes accepts (DNS labels of
// 1 to 40 characters), the extremes first.
func validRouteNames(n int) []string {
	return sampleDNSLabels([]string{"a", "a0", strings.Repeat("z", 40), "a" + strings.Repeat("-b", 19) + "c"}, n, 1, 40, 4, 20)
}

// TestRouteNamesSatisfyTheirClouds: for route names across the accepted range,
// every name a route's resources get, set by edw or autonamed by Pulumi from the
// logical name, satisfies its cloud's rule.
func TestRouteNamesSatisfyTheirClouds(t *testing.T) {
	names := validRouteNames(12)
	for i := 0; i < len(names); i += 3 {
		batch := names[i:min(i+3, len(names))]
		var routes []testRoute
		for _, n := range batch {
			routes = append(routes, testRoute{Name: n})
		}
		extra := map[string]string{"edw:routes": routesJSON(t, routes)}
		_, err := parse("x", with(stackFile(t, "aws"), flatten(extra)...))
		require.NoError(t, err, "%v are route names the validation accepts", batch)
		for _, cloud := range []Cloud{AWS, Azure} {
			t.Run(string(cloud)+"/"+strings.Join(batch, ","), func(t *testing.T) {
				g, _ := runAWSRoutes(t, extra)
				if cloud == Azure {
					g, _ = runAzureRoutes(t, extra)
				}
				checked := 0
				for _, rule := range routeNameRules {
					if rule.Cloud != cloud {
						continue
					}
					for _, r := range g.ByType(rule.Type) {
						name, ok := r.Name, true
						if rule.Path != "" {
							var v any
							v, ok = r.Plain(rule.Path)
							name, _ = v.(string)
						}
						if !ok || !anyContains(name, batch) {
							continue // not a route's
						}
						checked++
						length := len(name)
						if rule.Path == "" {
							length += autoNameSuffix
						}
						assert.True(t, length >= rule.Min && length <= rule.Max && rule.Pattern.MatchString(name),
							"%s: name %q (%d characters as the cloud sees it) breaks %d-%d %s (%s)", r, name, length, rule.Min, rule.Max, rule.Pattern, rule.Source)
					}
				}
				assert.GreaterOrEqual(t, checked, len(batch)*2, "every route's names were checked")
			})
		}
	}
}

func anyContains(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

package stacks

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	infraaws "github.com/edw-dev/edw/infra/aws"
)

// upstreamKarpenter is Karpenter's own setup for the pinned chart version, kept
// as test data (infra/aws/testdata) with the upstream path it came from.
type upstreamKarpenter struct {
	Upstream   string
	Statements []struct {
		Sid       string
		Action    []string
		Resource  []string
		Condition map[string]map[string]any
	}
	InterruptionRules []struct {
		Source, DetailType string
	}
	NodeRoleManagedPolicies []string
}

func loadUpstreamKarpenter(t *testing.T, vars map[string]string) upstreamKarpenter {
	t.Helper()
	path := "../infra/aws/testdata/karpenter-v" + DefaultKarpenterChartVersion + "-controller-policy.json"
	raw, err := os.ReadFile(path)
	require.NoError(t, err, "upstream data for the pinned Karpenter version: bumping edw:karpenterChartVersion needs its policy")
	text := string(raw)
	for k, v := range vars {
		text = strings.ReplaceAll(text, "${"+k+"}", v)
	}
	var u upstreamKarpenter
	require.NoError(t, json.Unmarshal([]byte(text), &u))
	require.Contains(t, u.Upstream, DefaultKarpenterChartVersion)
	return u
}

// TestKarpenterPolicyMatchesUpstream: every upstream statement is present under
// its own Sid with the same actions and resources, and conditions at least as
// narrow (every upstream key, values a subset of upstream's); nothing is granted
// that upstream does not grant.
func TestKarpenterPolicyMatchesUpstream(t *testing.T) {
	for _, region := range []string{"eu-north-1", "cn-north-1", "us-gov-west-1"} {
		t.Run(region, func(t *testing.T) {
			g, _ := runAWS(t, map[string]string{"aws:region": region})
			policy := g.One(t, awsPolicy, "edw-karpenter-controller")
			partition := partitionOf(region)
			u := loadUpstreamKarpenter(t, map[string]string{
				"Partition": partition.name, "Region": region, "AccountId": fakeAccount, "ClusterName": "edw-aws",
				"NodeRoleArn":          g.One(t, awsRole, "edw-karpenter-node").State["arn"].StringValue(),
				"InterruptionQueueArn": g.One(t, awsQueue, "edw-karpenter-interruption").State["arn"].StringValue(),
			})
			ours := map[string]map[string]any{}
			for _, st := range policyDoc(t, policy, "policy") {
				ours[st["Sid"].(string)] = st
			}
			upstreamSids := map[string]bool{}
			for _, up := range u.Statements {
				upstreamSids[up.Sid] = true
				st, ok := ours[up.Sid]
				if !assert.True(t, ok, "statement %s missing", up.Sid) {
					continue
				}
				assert.ElementsMatch(t, up.Action, strs(st["Action"]), up.Sid)
				assert.ElementsMatch(t, up.Resource, strs(st["Resource"]), up.Sid)
				cond, _ := st["Condition"].(map[string]any)
				for op, keys := range up.Condition {
					got, _ := cond[op].(map[string]any)
					for key, want := range keys {
						values := strs(got[key])
						assert.NotEmpty(t, values, "%s: condition %s %s dropped", up.Sid, op, key)
						for _, v := range values {
							assert.Contains(t, strs(want), v, "%s: condition %s %s is wider than upstream", up.Sid, op, key)
						}
					}
				}
			}
			for sid := range ours {
				assert.True(t, upstreamSids[sid], "statement %s is not in upstream's policy", sid)
			}
			// IAM caps a role's inline policies at 10,240 characters, whitespace
			// excluded; mocks never see the limit, a real account does.
			assert.LessOrEqual(t, len(policy.Str(t, "policy")), 10240)
		})
	}
}

// partitionInfo is what getPartition answers in a region.
type partitionInfo struct{ name, dnsSuffix string }

func partitionOf(region string) partitionInfo {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return partitionInfo{"aws-cn", "amazonaws.com.cn"}
	case strings.HasPrefix(region, "us-gov-"):
		return partitionInfo{"aws-us-gov", "amazonaws.com"}
	}
	return partitionInfo{"aws", "amazonaws.com"}
}

func TestInterruptionRulesMatchUpstream(t *testing.T) {
	g, _ := runAWS(t, nil)
	u := loadUpstreamKarpenter(t, nil)
	var got []string
	for _, r := range g.ByType(awsRule) {
		var p struct {
			Source     []string `json:"source"`
			DetailType []string `json:"detail-type"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.Str(t, "eventPattern")), &p))
		require.Len(t, p.Source, 1)
		require.Len(t, p.DetailType, 1)
		got = append(got, p.Source[0]+" "+p.DetailType[0])
		assert.NotEmpty(t, r.Str(t, "description"))
	}
	var want []string
	for _, r := range u.InterruptionRules {
		want = append(want, r.Source+" "+r.DetailType)
	}
	assert.ElementsMatch(t, want, got)
	assert.Len(t, g.ByType(awsTarget), len(want), "each rule feeds the interruption queue")
}

func TestNodeRolesCarryUpstreamsManagedPolicies(t *testing.T) {
	u := loadUpstreamKarpenter(t, nil)
	assert.ElementsMatch(t, u.NodeRoleManagedPolicies, infraaws.NodeManagedPolicies())
	g, _ := runAWS(t, nil)
	for _, name := range []string{"edw-system-node", "edw-karpenter-node"} {
		role := g.One(t, awsRole, name)
		var attached []string
		for _, a := range grantsOf(g, role) {
			arn := a.Str(t, "policyArn")
			attached = append(attached, arn[strings.LastIndex(arn, "/")+1:])
		}
		slices.Sort(attached)
		want := slices.Clone(u.NodeRoleManagedPolicies)
		slices.Sort(want)
		assert.Equal(t, want, attached, name)
	}
}

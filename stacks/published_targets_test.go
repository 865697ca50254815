package stacks

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	infraaws "github.com/edw-dev/edw/infra/aws"
	"github.com/edw-dev/edw/internal/pulumitest"
)

// Issue 21, item 17: every topic or queue a cloud service publishes to is
// encrypted, if at all, with a key that service may use, and its resource
// policy grants exactly that service, scoped to the publishing resources.
// Publishers and targets are found in the graph through the tables below,
// never by name, so a new route's queue is checked the day it is added.

// publisher is a resource type whose existence makes an AWS service publish.
type publisher struct {
	Type string
	// Service is the publishing service (its principal carries the partition's DNS suffix).
	Service string
	// Action is what the resource policy must allow the service, for each target type.
	Action map[string]string
	// KeyScoped: the service's KMS requests carry aws:SourceArn/aws:SourceAccount,
	// so a key grant to it can be scoped and must be.
	KeyScoped bool
	// Source is the documentation the entry follows.
	Source string
	// Edges gives, for one resource of Type, the ARNs it publishes to and the
	// ARN of the publishing resource (what AWS sends as aws:SourceArn).
	Edges func(g *pulumitest.Graph, r *pulumitest.Resource, acct infraaws.Account) (targets []string, source string)
}

// publishedTarget is a resource type a service may publish to.
type publishedTarget struct {
	Type string
	// ServiceSSE is the input that turns on encryption with a key the
	// receiving service owns (SSE-SQS), which every publisher may use.
	ServiceSSE string
	// PolicyType is the separate policy resource, PolicyRef its input naming
	// the target, and RefState the target's output that input holds.
	PolicyType, PolicyRef, RefState string
}

var publishers = []publisher{{
	Type: awsAlarm, Service: "cloudwatch", KeyScoped: true,
	Action: map[string]string{awsTopic: "sns:Publish"},
	Source: "https://repost.aws/knowledge-center/cloudwatch-configure-alarm-sns",
	Edges: func(_ *pulumitest.Graph, r *pulumitest.Resource, acct infraaws.Account) ([]string, string) {
		var to []string
		for _, k := range []string{"alarmActions", "okActions", "insufficientDataActions"} {
			v, _ := r.Plain(k)
			to = append(to, strs(v)...)
		}
		name, _ := r.Plain("name")
		n, _ := name.(string)
		return to, infraaws.AlarmARN(acct, n)
	},
}, {
	Type: awsTarget, Service: "events",
	Action: map[string]string{awsQueue: "sqs:SendMessage", awsTopic: "sns:Publish"},
	// The key-side conditions are not listed for delivery to targets, only for buses.
	Source: "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html",
	Edges: func(g *pulumitest.Graph, r *pulumitest.Resource, _ infraaws.Account) ([]string, string) {
		arn, _ := r.Plain("arn")
		rule, _ := r.Plain("rule")
		bus, _ := r.Plain("eventBusName")
		for _, er := range g.ByType(awsRule) {
			if er.State["name"].V == rule && busOf(er.State["eventBusName"].V) == busOf(bus) {
				return strs(arn), er.State["arn"].StringValue()
			}
		}
		return strs(arn), ""
	},
}, {
	Type: "aws:sns/topicSubscription:TopicSubscription", Service: "sns", KeyScoped: true,
	Action: map[string]string{awsQueue: "sqs:SendMessage"},
	Source: "https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html",
	Edges: func(_ *pulumitest.Graph, r *pulumitest.Resource, _ infraaws.Account) ([]string, string) {
		if p, _ := r.Plain("protocol"); p != "sqs" {
			return nil, ""
		}
		to, _ := r.Plain("endpoint")
		topic, _ := r.Plain("topic")
		s, _ := topic.(string)
		return strs(to), s
	},
}}

var publishedTargets = []publishedTarget{
	{Type: awsTopic, PolicyType: "aws:sns/topicPolicy:TopicPolicy", PolicyRef: "arn", RefState: "arn"},
	{Type: awsQueue, ServiceSSE: "sqsManagedSseEnabled", PolicyType: "aws:sqs/queuePolicy:QueuePolicy", PolicyRef: "queueUrl", RefState: "url"},
}

// busOf is an event bus's name from its name or ARN ("" and "default" alike).
func busOf(v any) string {
	s, _ := v.(string)
	if i := strings.LastIndex(s, "event-bus/"); i >= 0 {
		s = s[i+len("event-bus/"):]
	}
	if s == "" {
		return "default"
	}
	return s
}

// eventRuleState is what EventBridge answers for a rule: its name (the given
// one, or the logical name as Pulumi's auto-name stands in) and its ARN under its bus.
func eventRuleState(a pulumi.MockResourceArgs, arn func(service, kind, name string) string) resource.PropertyMap {
	out := a.Inputs.Copy()
	name := a.Name
	if n, ok := a.Inputs["name"]; ok && n.IsString() {
		name = n.StringValue()
	}
	out["name"] = resource.NewStringProperty(name)
	bus := ""
	if b, ok := a.Inputs["eventBusName"]; ok && b.IsString() {
		bus = b.StringValue()
	}
	if bus = busOf(bus); bus != "default" {
		name = bus + "/" + name
	}
	out["arn"] = resource.NewStringProperty(arn("events", "rule/", name))
	return out
}

// delivery is one service publishing to one target on behalf of one resource.
type delivery struct{ service, source, action string }

// publishedTargetProblems checks every service-published target in g and
// returns how many it checked and one line per problem.
func publishedTargetProblems(g *pulumitest.Graph, acct infraaws.Account) (int, []string) {
	byARN := map[string]*pulumitest.Resource{}
	kindOf := map[*pulumitest.Resource]publishedTarget{}
	for _, k := range publishedTargets {
		for _, r := range g.ByType(k.Type) {
			if a, ok := r.State["arn"]; ok && a.IsString() {
				byARN[a.StringValue()] = r
				kindOf[r] = k
			}
		}
	}
	var problems []string
	into := map[*pulumitest.Resource][]delivery{}
	for _, p := range publishers {
		for _, r := range g.ByType(p.Type) {
			targets, source := p.Edges(g, r, acct)
			for _, to := range targets {
				t, ok := byARN[to]
				if !ok {
					continue // not a topic or queue this stack created
				}
				if source == "" {
					problems = append(problems, fmt.Sprintf("%s publishes to %s but its own ARN is not in the graph", r, t))
					continue
				}
				into[t] = append(into[t], delivery{p.Service, source, p.Action[t.Type]})
			}
		}
	}
	targets := make([]*pulumitest.Resource, 0, len(into))
	for t := range into {
		targets = append(targets, t)
	}
	sort.Slice(targets, func(i, j int) bool { return targets[i].URN < targets[j].URN })
	for _, t := range targets {
		problems = append(problems, targetProblems(g, acct, t, kindOf[t], into[t])...)
	}
	return len(targets), problems
}

func targetProblems(g *pulumitest.Graph, acct infraaws.Account, t *pulumitest.Resource, kind publishedTarget, ds []delivery) []string {
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, t.String()+": "+fmt.Sprintf(format, a...)) }
	sources := map[string][]string{} // service principal → publishing ARNs
	actions := map[string]string{}
	keyScoped := map[string]bool{}
	for _, d := range ds {
		sp := acct.ServicePrincipal(d.service)
		sources[sp] = append(sources[sp], d.source)
		actions[sp] = d.action
		for _, p := range publishers {
			if p.Service == d.service {
				keyScoped[sp] = p.KeyScoped
			}
		}
	}
	for sp := range sources {
		slices.Sort(sources[sp])
		sources[sp] = slices.Compact(sources[sp])
	}

	// Encryption: none, the receiving service's own SSE, or a customer-managed
	// key of this stack whose policy lets each publisher use it.
	if key, _ := t.Plain("kmsMasterKeyId"); key != nil && key != "" {
		id, _ := key.(string)
		var k *pulumitest.Resource
		for _, r := range g.ByType("aws:kms/key:Key") {
			if r.State["arn"].V == id || r.State["keyId"].V == id || r.ID == id {
				k = r
			}
		}
		switch {
		case strings.HasPrefix(id, "alias/aws/") || strings.Contains(id, ":alias/aws/"):
			bad("encrypted with the AWS-managed key %s, whose policy no publishing service can be added to", id)
		case k == nil:
			bad("encrypted with %s, which is not a key this stack creates, so its policy is unchecked", id)
		default:
			stmts := allowStatements(k, "policy")
			for sp, src := range sources {
				ok := false
				for _, st := range stmts {
					if !slices.Equal(principals(st, "Service"), []string{sp}) || !coversActions(st, "kms:Decrypt", "kms:GenerateDataKey") {
						continue
					}
					if !keyScoped[sp] || scopedTo(st, acct, src) == "" {
						ok = true
					}
				}
				if !ok {
					bad("key %s does not let %s decrypt and generate data keys (scoped to %v when the service sends the source)", k, sp, src)
				}
			}
		}
	} else if kind.ServiceSSE != "" {
		if sse, _ := t.Plain(kind.ServiceSSE); sse != true {
			bad("%s is not on and no key is set: say how it is encrypted", kind.ServiceSSE)
		}
	}

	// The resource policy: its own input and any separate policy resource.
	var stmts []map[string]any
	if _, ok := t.Input("policy"); ok {
		stmts = append(stmts, allowStatements(t, "policy")...)
	}
	ref := t.State[resource.PropertyKey(kind.RefState)]
	for _, p := range g.ByType(kind.PolicyType) {
		if v, _ := p.Plain(kind.PolicyRef); ref.IsString() && v == ref.StringValue() {
			stmts = append(stmts, allowStatements(p, "policy")...)
		}
	}
	granted := map[string]bool{}
	for _, st := range stmts {
		for _, sp := range principals(st, "Service") {
			granted[sp] = true
			src, ok := sources[sp]
			if !ok {
				bad("policy grants %s, which publishes nothing here", sp)
				continue
			}
			if a := strs(st["Action"]); !slices.Equal(a, []string{actions[sp]}) {
				bad("policy grants %s %v, want exactly [%s]", sp, a, actions[sp])
			}
			if why := scopedTo(st, acct, src); why != "" {
				bad("policy grant to %s: %s", sp, why)
			}
		}
		for _, p := range principals(st, "AWS") {
			if p == "*" {
				bad("policy allows every AWS principal")
			}
		}
		if st["Principal"] == "*" {
			bad("policy allows every principal")
		}
	}
	for sp, src := range sources {
		if !granted[sp] {
			bad("%s publishes here for %v but the policy does not grant it", sp, src)
		}
	}
	return problems
}

// allowStatements are the Allow statements of the policy document at input key.
func allowStatements(r *pulumitest.Resource, key string) []map[string]any {
	raw, _ := r.Plain(key)
	text, _ := raw.(string)
	var doc struct{ Statement []map[string]any }
	if json.Unmarshal([]byte(text), &doc) != nil {
		return []map[string]any{{"Effect": "Allow", "Principal": "*", "Sid": "unparseable policy on " + r.String()}}
	}
	var out []map[string]any
	for _, st := range doc.Statement {
		if st["Effect"] == "Allow" {
			out = append(out, st)
		}
	}
	return out
}

func principals(st map[string]any, kind string) []string {
	p, ok := st["Principal"].(map[string]any)
	if !ok {
		return nil
	}
	out := strs(p[kind])
	slices.Sort(out)
	return out
}

func coversActions(st map[string]any, want ...string) bool {
	have := strs(st["Action"])
	for _, w := range want {
		if !slices.ContainsFunc(have, func(a string) bool {
			return a == w || a == w+"*" || a == "kms:*"
		}) {
			return false
		}
	}
	return true
}

// scopedTo says why st is not scoped to exactly the publishing resources in
// this account ("" when it is): aws:SourceArn lists exactly them, and
// aws:SourceAccount, if given, is the account.
func scopedTo(st map[string]any, acct infraaws.Account, sources []string) string {
	cond, _ := st["Condition"].(map[string]any)
	var arns []string
	for _, op := range []string{"ArnLike", "ArnEquals", "StringEquals", "StringLike"} {
		if m, ok := cond[op].(map[string]any); ok {
			arns = append(arns, strs(m["aws:SourceArn"])...)
			if a, ok := m["aws:SourceAccount"]; ok && !slices.Equal(strs(a), []string{acct.ID}) {
				return fmt.Sprintf("aws:SourceAccount is %v, not the stack's account", a)
			}
		}
	}
	slices.Sort(arns)
	if !slices.Equal(arns, sources) {
		return fmt.Sprintf("aws:SourceArn is %v, want exactly the publishers %v", arns, sources)
	}
	return ""
}

func testAccount(region string) infraaws.Account {
	part := partitionOf(region)
	return infraaws.Account{ID: fakeAccount, Partition: part.name, Region: region, DNSSuffix: part.dnsSuffix}
}

// TestServicePublishedTargetsAreUsableAndScoped runs the invariant over the
// whole aws stack, in the commercial and the China partition.
func TestServicePublishedTargetsAreUsableAndScoped(t *testing.T) {
	for _, region := range []string{"eu-north-1", "cn-north-1"} {
		t.Run(region, func(t *testing.T) {
			g, _ := runAWS(t, map[string]string{"aws:region": region, "edw:alertEmails": `["ops@example.com"]`})
			checked, problems := publishedTargetProblems(g, testAccount(region))
			assert.Empty(t, problems)
			// The alert topic (CloudWatch) and the interruption queue (EventBridge), at least.
			assert.GreaterOrEqual(t, checked, 2, "the invariant found the service-published targets")
		})
	}
}

// TestAlertTopicIsUsableByCloudWatch: item 1. The alert topic's key is this
// stack's own, rotated, and lets CloudWatch use it only for this stack's alarms.
func TestAlertTopicIsUsableByCloudWatch(t *testing.T) {
	g, _ := runAWS(t, nil)
	topic := g.OnlyOfType(t, awsTopic)
	keyARN := topic.Str(t, "kmsMasterKeyId")
	assert.NotContains(t, keyARN, "alias/aws/")
	var key *pulumitest.Resource
	for _, k := range g.ByType("aws:kms/key:Key") {
		if k.State["arn"].StringValue() == keyARN {
			key = k
		}
	}
	require.NotNil(t, key, "the topic's key is one this stack creates")
	rot, _ := key.Plain("enableKeyRotation")
	assert.Equal(t, true, rot)
	var alarms []string
	for _, a := range g.ByType(awsAlarm) {
		alarms = append(alarms, "arn:aws:cloudwatch:eu-north-1:"+fakeAccount+":alarm:"+a.Str(t, "name"))
	}
	slices.Sort(alarms)
	require.Len(t, alarms, 3)
	var cw map[string]any
	for _, st := range policyDoc(t, key, "policy") {
		if p, _ := st["Principal"].(map[string]any); p["Service"] == "cloudwatch.amazonaws.com" {
			cw = st
		}
		if p, _ := st["Principal"].(map[string]any); p["AWS"] != nil {
			assert.Equal(t, "arn:aws:iam::"+fakeAccount+":root", p["AWS"], "only the account administers the key")
		}
	}
	require.NotNil(t, cw, "the key policy lets CloudWatch use the key")
	assert.ElementsMatch(t, []string{"kms:Decrypt", "kms:GenerateDataKey*"}, strs(cw["Action"]))
	assert.Empty(t, scopedTo(cw, testAccount("eu-north-1"), alarms))
}

// The checker itself, on small programs that get each rule wrong once.
func TestPublishedTargetCheckerFindsEachKindOfMistake(t *testing.T) {
	acct := testAccount("eu-north-1")
	queueARN := "arn:aws:sqs:eu-north-1:" + fakeAccount + ":q"
	ruleARN := "arn:aws:events:eu-north-1:" + fakeAccount + ":rule/r"
	grant := func(principal, action string, sources ...string) infraaws.Statement {
		return infraaws.Statement{Sid: "S", Principal: map[string]any{"Service": principal}, Action: []string{action},
			Resource: []string{queueARN}, Condition: map[string]any{"ArnEquals": map[string]any{"aws:SourceArn": sources}}}
	}
	ok := grant("events.amazonaws.com", "sqs:SendMessage", ruleARN)
	cases := map[string]struct {
		queue  pulumi.Map
		policy []infraaws.Statement
		want   string
	}{
		"fine":                  {pulumi.Map{"sqsManagedSseEnabled": pulumi.Bool(true)}, []infraaws.Statement{ok}, ""},
		"aws-managed key":       {pulumi.Map{"kmsMasterKeyId": pulumi.String("alias/aws/sqs")}, []infraaws.Statement{ok}, "AWS-managed key"},
		"foreign key":           {pulumi.Map{"kmsMasterKeyId": pulumi.String("arn:aws:kms:eu-north-1:111122223333:key/x")}, []infraaws.Statement{ok}, "not a key this stack creates"},
		"no policy":             {pulumi.Map{"sqsManagedSseEnabled": pulumi.Bool(true)}, nil, "does not grant it"},
		"unscoped":              {pulumi.Map{"sqsManagedSseEnabled": pulumi.Bool(true)}, []infraaws.Statement{grant("events.amazonaws.com", "sqs:SendMessage")}, "aws:SourceArn"},
		"extra service":         {pulumi.Map{"sqsManagedSseEnabled": pulumi.Bool(true)}, []infraaws.Statement{ok, grant("sqs.amazonaws.com", "sqs:SendMessage", ruleARN)}, "publishes nothing here"},
		"wrong action":          {pulumi.Map{"sqsManagedSseEnabled": pulumi.Bool(true)}, []infraaws.Statement{grant("events.amazonaws.com", "sqs:*", ruleARN)}, "want exactly"},
		"encryption left vague": {pulumi.Map{}, []infraaws.Statement{ok}, "sqsManagedSseEnabled is not on"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			g := pulumitest.Run(t, func(ctx *pulumi.Context) error {
				var q struct{ pulumi.CustomResourceState }
				if err := ctx.RegisterResource(awsQueue, "q", c.queue, &q); err != nil {
					return err
				}
				var r struct{ pulumi.CustomResourceState }
				if err := ctx.RegisterResource(awsRule, "r", pulumi.Map{}, &r); err != nil {
					return err
				}
				var tgt struct{ pulumi.CustomResourceState }
				if err := ctx.RegisterResource(awsTarget, "t", pulumi.Map{"rule": pulumi.String("r"), "arn": pulumi.String(queueARN)}, &tgt); err != nil {
					return err
				}
				if c.policy != nil {
					doc, err := infraaws.Document(c.policy...)
					if err != nil {
						return err
					}
					var p struct{ pulumi.CustomResourceState }
					return ctx.RegisterResource("aws:sqs/queuePolicy:QueuePolicy", "p", pulumi.Map{
						"queueUrl": pulumi.String("https://sqs.eu-north-1.amazonaws.com/" + fakeAccount + "/q"), "policy": pulumi.String(doc),
					}, &p)
				}
				return nil
			}, append(awsFakes("eu-north-1", "edw-aws"), pulumitest.FakeResource(awsQueue, func(a pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
				out := a.Inputs.Copy()
				out["arn"] = resource.NewStringProperty(queueARN)
				out["url"] = resource.NewStringProperty("https://sqs.eu-north-1.amazonaws.com/" + fakeAccount + "/q")
				return "q", out, nil
			}))...)
			checked, problems := publishedTargetProblems(g, acct)
			assert.Equal(t, 1, checked)
			if c.want == "" {
				assert.Empty(t, problems)
				return
			}
			require.NotEmpty(t, problems)
			assert.Contains(t, strings.Join(problems, "\n"), c.want)
		})
	}
}

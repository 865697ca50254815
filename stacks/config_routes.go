package stacks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	infraaws "github.com/edw-dev/edw/infra/aws"
)

// Route is one filter on the stack's router and the pipeline behind it: its
// own queue, dead-letter queue, consumer Deployment and ScaledObject.
type Route struct {
	// Name is a DNS label that names everything the route owns.
	Name string
	// Sources and Types are exact event sources and types; empty matches all.
	Sources []string
	Types   []string
	// Overrides of the stack's consumer settings; nil means the stack's value.
	MessagesPerPod, MinReplicas, MaxReplicas, MaxReceiveCount *int
	// The route's existing queues, kubernetes stacks only: SQS URLs on the
	// aws backend, Storage queue names on the azure backend.
	QueueURL, DLQURL           string
	QueueName, PoisonQueueName string
}

// Scaling is the route's consumer settings: the stack's, with the route's
// overrides applied.
func (rt Route) Scaling(c ConsumerConfig) ConsumerConfig {
	if rt.MessagesPerPod != nil {
		c.MessagesPerPod = *rt.MessagesPerPod
	}
	if rt.MinReplicas != nil {
		c.MinReplicas = *rt.MinReplicas
	}
	if rt.MaxReplicas != nil {
		c.MaxReplicas = *rt.MaxReplicas
	}
	if rt.MaxReceiveCount != nil {
		c.MaxReceiveCount = *rt.MaxReceiveCount
	}
	return c
}

// The router's limits, from the clouds' published quotas (docs/routes.md cites
// each). A route is one EventBridge rule or one Event Grid subscription.
const (
	// MaxRoutesAWS: EventBridge's default quota of rules per event bus.
	MaxRoutesAWS = 300
	// MaxRoutesAzure: Event Grid's event subscriptions per custom topic (not adjustable).
	MaxRoutesAzure = 500
	// MaxEventPatternSize: EventBridge's event pattern size, in characters.
	MaxEventPatternSize = 2048
	// MaxSourceFilterValues: Event Grid's filter values across a subscription's
	// advanced filters; the sources are one StringIn filter.
	MaxSourceFilterValues = 25
	// MaxFilterValueLength: Event Grid's characters per advanced filter string.
	MaxFilterValueLength = 512
	// MaxRouteNameLength keeps every name built from a route within its
	// service's limit: the Deployment's app label edw-consumer-<route> (63),
	// the poison queue edw-<route>-poison (63), the rule <route> plus Pulumi's
	// suffix (64).
	MaxRouteNameLength = 40
	// MaxArchiveDays is edw's own cap (ten years); EventBridge has none.
	MaxArchiveDays = 3650
)

// routeNameRE: a DNS label that is also a valid Azure queue name fragment (no
// double hyphen), starting with a letter.
var routeNameRE = regexp.MustCompile(`^[a-z]([a-z0-9]|-[a-z0-9]){0,39}$`)

const routeNameAllowed = "want 1-40 lower-case letters, digits and single hyphens, starting with a letter (it names the route's queues, rule and Deployment)"

// routeFields are the keys a route may have; anything else is a typo.
var routeFields = []string{"name", "sources", "types", "messagesPerPod", "minReplicas", "maxReplicas", "maxReceiveCount",
	"queueUrl", "dlqUrl", "queueName", "poisonQueueName"}

// routes reads edw:routes. Each bad route field is one line naming the route,
// the field, the value and what is allowed.
func (r *configReader) routes(c *Config) []Route {
	raw, set := r.str("edw:routes", "")
	if !set || strings.TrimSpace(raw) == "[]" {
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal([]byte(raw), &items); err != nil {
		r.fail("edw:routes", raw, "want a list of routes, each an object with a name and optional sources, types and overrides")
		return nil
	}
	switch limit := maxRoutes(c.Cloud); {
	case c.Cloud == AWS && len(items) > limit:
		r.fail("edw:routes", fmt.Sprintf("%d routes", len(items)), fmt.Sprintf("want at most %d on aws: each route is an EventBridge rule and a bus takes %d by default", limit, limit))
		return nil
	case c.Cloud == Azure && len(items) > limit:
		r.fail("edw:routes", fmt.Sprintf("%d routes", len(items)), fmt.Sprintf("want at most %d on azure: each route is an Event Grid subscription and a topic takes %d", limit, limit))
		return nil
	}
	var out []Route
	names := map[string]int{}
	queues := map[string]string{}
	if e := c.Existing; e != nil {
		queues[e.QueueURL+e.QueueName] = "the stack's own queue"
	}
	for i, item := range items {
		rt, ok := r.route(c, i, item, names)
		if !ok {
			continue
		}
		if c.Existing != nil {
			q := rt.QueueURL + rt.QueueName
			field := map[bool]string{true: "queueUrl", false: "queueName"}[rt.QueueURL != ""]
			if other, dup := queues[q]; dup && q != "" {
				r.fail(routeKey(rt.Name, field), q, "already "+other+": each route needs its own queue")
			}
			queues[q] = "the queue of route " + rt.Name
		}
		out = append(out, rt)
	}
	return out
}

func maxRoutes(c Cloud) int {
	if c == Azure {
		return MaxRoutesAzure
	}
	return MaxRoutesAWS
}

func routeKey(route, field string) string {
	return fmt.Sprintf("edw:routes[%s].%s", route, field)
}

// route reads one route; ok is false when it has errors (already recorded).
func (r *configReader) route(c *Config, i int, item json.RawMessage, names map[string]int) (Route, bool) {
	before := len(r.errs)
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(item, &fields); err != nil {
		r.fail(fmt.Sprintf("edw:routes[%d]", i), string(item), "want an object with a name and optional sources, types and overrides")
		return Route{}, false
	}
	rt := Route{}
	label := strconv.Itoa(i)
	var name string
	if err := json.Unmarshal(fields["name"], &name); err != nil || !routeNameRE.MatchString(name) {
		r.fail(routeKey(label, "name"), rawString(fields["name"]), routeNameAllowed)
	} else if first, dup := names[name]; dup {
		r.fail(routeKey(label, "name"), name, fmt.Sprintf("already the name of route %d: route names must be unique", first))
	} else {
		names[name], label, rt.Name = i, name, name
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(routeFields, k) {
			r.fail(routeKey(label, k), rawString(fields[k]), "unknown field; a route has "+strings.Join(routeFields, ", "))
		}
	}

	rt.Sources = r.filterValues(c, label, "sources", fields["sources"])
	rt.Types = r.filterValues(c, label, "types", fields["types"])

	rt.MessagesPerPod = r.routeInt(label, "messagesPerPod", fields, 1, 100000)
	rt.MinReplicas = r.routeInt(label, "minReplicas", fields, 0, 1000)
	rt.MaxReplicas = r.routeInt(label, "maxReplicas", fields, 1, 1000)
	// SQS caps maxReceiveCount at 1000, as for edw:maxReceiveCount.
	rt.MaxReceiveCount = r.routeInt(label, "maxReceiveCount", fields, 1, 1000)
	if s := rt.Scaling(c.Consumer); s.MaxReplicas < s.MinReplicas {
		r.fail(routeKey(label, "maxReplicas"), strconv.Itoa(s.MaxReplicas), fmt.Sprintf("must be at least the route's minReplicas (%d)", s.MinReplicas))
	}

	r.routeQueues(c, label, fields, &rt)

	if c.Cloud == AWS && len(r.errs) == before {
		if p, err := infraaws.PatternOf(rt.Sources, rt.Types); err == nil && len(p) > MaxEventPatternSize {
			r.fail(routeKey(label, "sources"), fmt.Sprintf("%d sources and %d types", len(rt.Sources), len(rt.Types)),
				fmt.Sprintf("the route's event pattern is %d characters; EventBridge takes at most %d", len(p), MaxEventPatternSize))
		}
	}
	return rt, len(r.errs) == before
}

// rawString shows a field's value as written, strings without their quotes.
func rawString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// filterValues reads sources or types: exact, non-empty, distinct strings.
func (r *configReader) filterValues(c *Config, route, field string, raw json.RawMessage) []string {
	if raw == nil {
		return nil
	}
	if c.Cloud == Kubernetes {
		r.fail(routeKey(route, field), string(raw), "not used on kubernetes stacks: the route's queue exists and whatever fills it does the filtering")
		return nil
	}
	want := "want a list of distinct, non-empty strings without surrounding spaces, each an exact event " + strings.TrimSuffix(field, "s")
	var values []string
	if err := json.Unmarshal(raw, &values); err != nil {
		r.fail(routeKey(route, field), string(raw), want)
		return nil
	}
	seen := map[string]bool{}
	for _, v := range values {
		switch {
		case v == "" || strings.TrimSpace(v) != v || seen[v]:
			r.fail(routeKey(route, field), v, want)
			return nil
		case c.Cloud == Azure && len(v) > MaxFilterValueLength:
			r.fail(routeKey(route, field), v, fmt.Sprintf("want at most %d characters: Event Grid compares no more", MaxFilterValueLength))
			return nil
		}
		seen[v] = true
	}
	if c.Cloud == Azure && field == "sources" && len(values) > MaxSourceFilterValues {
		r.fail(routeKey(route, field), fmt.Sprintf("%d sources", len(values)),
			fmt.Sprintf("want at most %d: Event Grid takes %d filter values per subscription", MaxSourceFilterValues, MaxSourceFilterValues))
		return nil
	}
	return values
}

// routeInt reads an optional integer override.
func (r *configReader) routeInt(route, field string, fields map[string]json.RawMessage, lo, hi int) *int {
	raw, ok := fields[field]
	if !ok {
		return nil
	}
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	v, err := int64(0), dec.Decode(&n)
	if err == nil {
		v, err = n.Int64()
	}
	if err != nil || v < int64(lo) || v > int64(hi) {
		r.fail(routeKey(route, field), rawString(raw), fmt.Sprintf("want an integer from %d to %d", lo, hi))
		return nil
	}
	i := int(v)
	return &i
}

// routeQueues reads a kubernetes stack route's existing queues, named as the
// stack's own queue is (edw:queueUrl, edw:queueName, ...), and rejects them
// elsewhere.
func (r *configReader) routeQueues(c *Config, route string, fields map[string]json.RawMessage, rt *Route) {
	str := func(field string) (string, bool) {
		raw, ok := fields[field]
		if !ok {
			return "", false
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			r.fail(routeKey(route, field), string(raw), "want a string")
			return "", false
		}
		return s, true
	}
	reject := func(why string, keys ...string) {
		for _, k := range keys {
			if v, ok := fields[k]; ok {
				r.fail(routeKey(route, k), rawString(v), why)
			}
		}
	}
	e := c.Existing
	if e == nil {
		reject("only on kubernetes stacks: the "+string(c.Cloud)+" stack creates each route's queues", "queueUrl", "dlqUrl", "queueName", "poisonQueueName")
		return
	}
	get := func(field string, re *regexp.Regexp, allowed string, required bool) string {
		v, ok := str(field)
		switch {
		case !ok && required:
			r.fail(routeKey(route, field), "", "required on kubernetes stacks with edw:queueBackend "+string(e.Backend)+": the route's existing queue")
		case ok && !re.MatchString(v):
			r.fail(routeKey(route, field), v, allowed)
		case ok:
			return v
		}
		return ""
	}
	switch e.Backend {
	case AWS:
		rt.QueueURL = get("queueUrl", sqsURLRE, "want an SQS queue URL such as https://sqs.us-west-2.amazonaws.com/123456789012/orders", true)
		rt.DLQURL = get("dlqUrl", sqsURLRE, "want an SQS queue URL such as https://sqs.us-west-2.amazonaws.com/123456789012/orders-dlq", true)
		reject("not used when edw:queueBackend is aws", "queueName", "poisonQueueName")
	case Azure:
		queue := "want a queue name: 3-63 lower-case letters, digits and single hyphens"
		rt.QueueName = get("queueName", azureQueueRE, queue, true)
		rt.PoisonQueueName = get("poisonQueueName", azureQueueRE, queue, false)
		if rt.PoisonQueueName == "" && rt.QueueName != "" {
			rt.PoisonQueueName = rt.QueueName + "-poison"
		}
		reject("not used when edw:queueBackend is azure", "queueUrl", "dlqUrl")
	}
}

// routerArchiveDays reads edw:routerArchiveDays (aws only): 0 keeps no archive.
func (r *configReader) routerArchiveDays(c *Config) int {
	r.onlyOn("edw:routerArchiveDays", c.Cloud, AWS)
	if c.Cloud != AWS {
		return 0
	}
	days := r.intIn("edw:routerArchiveDays", 0, 0, MaxArchiveDays)
	if days > 0 && len(c.Routes) == 0 {
		r.fail("edw:routerArchiveDays", strconv.Itoa(days), "needs edw:routes: without routes the stack has no router whose events to archive")
	}
	return days
}

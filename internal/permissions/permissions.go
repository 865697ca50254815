// Package permissions is the table of every cloud API call edw's workload and
// KEDA make and the permission each needs, on which resource. The stacks render
// their workload grants from it; tests check it against the calls the real
// binaries make and against the clouds' own role definitions.
package permissions

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
)

//go:embed calls.json
var callsJSON []byte

// Need is one call and the permission it needs.
type Need struct {
	// Call is the operation as it appears on the wire: the X-Amz-Target of an
	// AWS JSON call, or the Azure Storage REST operation name.
	Call string `json:"call"`
	// Action is the IAM action or Azure (data) action that authorizes it.
	Action string `json:"action"`
	// On names the stack resource it touches: queue, dlq, poison, table, or
	// the router (bus, topic), which exists only with routes.
	On     string `json:"on"`
	Source string `json:"source"`
}

// Table maps cloud → identity (consumer, producer, keda) → needs.
type Table map[string]map[string][]Need

// Load reads the table.
func Load() (Table, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(callsJSON, &raw); err != nil {
		return nil, fmt.Errorf("permissions table: %w", err)
	}
	t := Table{}
	for _, cloud := range []string{"aws", "azure"} {
		var ids map[string][]Need
		if err := json.Unmarshal(raw[cloud], &ids); err != nil {
			return nil, fmt.Errorf("permissions table, %s: %w", cloud, err)
		}
		t[cloud] = ids
	}
	return t, nil
}

// Actions are the distinct actions identity needs on resource on, sorted.
func (t Table) Actions(cloud, identity, on string) []string {
	var out []string
	for _, n := range t[cloud][identity] {
		if n.On == on && !slices.Contains(out, n.Action) {
			out = append(out, n.Action)
		}
	}
	slices.Sort(out)
	return out
}

// Resources are the resources identity touches, sorted.
func (t Table) Resources(cloud, identity string) []string {
	var out []string
	for _, n := range t[cloud][identity] {
		if !slices.Contains(out, n.On) {
			out = append(out, n.On)
		}
	}
	slices.Sort(out)
	return out
}

package aws

import "encoding/json"

// InterruptionRule is one EventBridge rule feeding Karpenter's interruption queue.
type InterruptionRule struct {
	Name, Description  string
	Source, DetailType string
}

// Pattern is the rule's event pattern.
func (r InterruptionRule) Pattern() string {
	b, _ := json.Marshal(map[string][]string{"source": {r.Source}, "detail-type": {r.DetailType}})
	return string(b)
}

// InterruptionRules are the rules Karpenter v1.12's own setup creates
// (cloudformation.yaml of the pinned version): every event its interruption
// controller acts on.
func InterruptionRules() []InterruptionRule {
	return []InterruptionRule{
		{"health", "AWS Health scheduled changes for Karpenter's instances", "aws.health", "AWS Health Event"},
		{"spot", "Spot interruption warnings", "aws.ec2", "EC2 Spot Instance Interruption Warning"},
		{"rebalance", "Spot rebalance recommendations", "aws.ec2", "EC2 Instance Rebalance Recommendation"},
		{"statechange", "Instance state changes (stopping, terminated)", "aws.ec2", "EC2 Instance State-change Notification"},
		{"capacityreservation", "Capacity reservation interruption warnings", "aws.ec2", "EC2 Capacity Reservation Instance Interruption Warning"},
	}
}

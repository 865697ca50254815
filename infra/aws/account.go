package aws

import (
	"fmt"
	"slices"
)

// Account is where the stack runs, from aws.getCallerIdentity / getPartition /
// getRegion: nothing in a policy is hard-coded, so aws-cn and aws-us-gov
// regions get their own ARNs and service principals.
type Account struct {
	ID, Partition, Region string
	// DNSSuffix is the partition's (amazonaws.com, amazonaws.com.cn, …); service
	// principals carry it.
	DNSSuffix string
}

// ServicePrincipal is the principal of an AWS service in this partition:
// service.amazonaws.com in every partition, except where partitionalPrincipals
// says the partition's DNS suffix is part of it (ec2.amazonaws.com.cn).
func (a Account) ServicePrincipal(service string) string {
	if slices.Contains(partitionalPrincipals[a.Partition], service) {
		return service + "." + a.DNSSuffix
	}
	return service + ".amazonaws.com"
}

// partitionalPrincipals lists, per partition, the services whose principal
// carries the partition's DNS suffix. The global form is correct from within
// any region for every other service (AWS CDK region-info, Default.servicePrincipal:
// "the global service principal is always correct"); in aws-cn EventBridge,
// CloudWatch, SQS and SNS are events/cloudwatch/sqs/sns.amazonaws.com, as
// Karpenter's own template writes them. EC2 keeps the suffix there, as that
// template (ec2.${AWS::URLSuffix}) and older CDK releases do; IAM accepts it.
var partitionalPrincipals = map[string][]string{
	"aws-cn": {"ec2"},
}

// ARN builds an ARN in this partition.
func (a Account) ARN(service, region, account, resource string) string {
	return fmt.Sprintf("arn:%s:%s:%s:%s:%s", a.Partition, service, region, account, resource)
}

package aws

import "fmt"

// Account is where the stack runs, from aws.getCallerIdentity / getPartition /
// getRegion: nothing in a policy is hard-coded, so aws-cn and aws-us-gov
// regions get their own ARNs and service principals.
type Account struct {
	ID, Partition, Region string
	// DNSSuffix is the partition's (amazonaws.com, amazonaws.com.cn, …); service
	// principals carry it.
	DNSSuffix string
}

// ServicePrincipal is the principal of an AWS service in this partition, such as
// ec2.amazonaws.com or ec2.amazonaws.com.cn.
func (a Account) ServicePrincipal(service string) string {
	return service + "." + a.DNSSuffix
}

// ARN builds an ARN in this partition.
func (a Account) ARN(service, region, account, resource string) string {
	return fmt.Sprintf("arn:%s:%s:%s:%s:%s", a.Partition, service, region, account, resource)
}

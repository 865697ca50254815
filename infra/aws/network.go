// Package aws holds edw's AWS components: network, EKS cluster (pulumi-eks wrapped
// with plain outputs), Karpenter, queue, table, IRSA roles and the registry.
package aws

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// EKSUnsupportedZoneIDs are zones where EKS cannot place a control plane's
// network interfaces (EKS user guide, "Subnet requirements").
func EKSUnsupportedZoneIDs() []string { return []string{"use1-az3", "usw1-az2", "cac1-az3"} }

// DiscoveryTag marks the subnets and security group Karpenter may use.
const DiscoveryTag = "karpenter.sh/discovery"

// Network is a VPC across availability zones with public and private subnets and
// one NAT gateway, or an existing VPC passed through.
type Network struct {
	pulumi.ResourceState
	VPCID            pulumi.StringOutput      `pulumi:"vpcId"`
	PrivateSubnetIDs pulumi.StringArrayOutput `pulumi:"privateSubnetIds"`
	PublicSubnetIDs  pulumi.StringArrayOutput `pulumi:"publicSubnetIds"`
}

// NetworkArgs: Zones from aws.getAvailabilityZones; ExistingVPCID with subnet
// ids to use a VPC the stack does not own.
type NetworkArgs struct {
	ClusterName              string
	Zones                    []string
	ExistingVPCID            string
	ExistingPrivateSubnetIDs []string
	ExistingPublicSubnetIDs  []string
	Tags                     pulumi.StringMap
}

// NewNetwork creates (or adopts) the network.
func NewNetwork(ctx *pulumi.Context, name string, args NetworkArgs, opts ...pulumi.ResourceOption) (*Network, error) {
	n := &Network{}
	if err := ctx.RegisterComponentResource("edw:aws:Network", name, n, opts...); err != nil {
		return nil, err
	}
	if args.ExistingVPCID != "" {
		n.VPCID = pulumi.String(args.ExistingVPCID).ToStringOutput()
		n.PrivateSubnetIDs = pulumi.ToStringArray(args.ExistingPrivateSubnetIDs).ToStringArrayOutput()
		n.PublicSubnetIDs = pulumi.ToStringArray(args.ExistingPublicSubnetIDs).ToStringArrayOutput()
		return n, ctx.RegisterResourceOutputs(n, pulumi.Map{"vpcId": n.VPCID})
	}
	if len(args.Zones) < 2 {
		return nil, fmt.Errorf("network %s: need at least 2 availability zones, got %v", name, args.Zones)
	}
	zones := args.Zones[:min(3, len(args.Zones))]
	tags := func(extra map[string]string) pulumi.StringMap {
		out := pulumi.StringMap{}
		for k, v := range args.Tags {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = pulumi.String(v)
		}
		return out
	}
	child := pulumi.Parent(n)
	vpc, err := ec2.NewVpc(ctx, name, &ec2.VpcArgs{
		CidrBlock: pulumi.String("10.0.0.0/16"), EnableDnsHostnames: pulumi.Bool(true), EnableDnsSupport: pulumi.Bool(true),
		Tags: tags(map[string]string{"Name": args.ClusterName}),
	}, child)
	if err != nil {
		return nil, fmt.Errorf("vpc %s: %w", name, err)
	}
	igw, err := ec2.NewInternetGateway(ctx, name, &ec2.InternetGatewayArgs{VpcId: vpc.ID(), Tags: tags(nil)}, child)
	if err != nil {
		return nil, fmt.Errorf("internet gateway %s: %w", name, err)
	}
	publicRT, err := ec2.NewRouteTable(ctx, name+"-public", &ec2.RouteTableArgs{
		VpcId:  vpc.ID(),
		Routes: ec2.RouteTableRouteArray{&ec2.RouteTableRouteArgs{CidrBlock: pulumi.String("0.0.0.0/0"), GatewayId: igw.ID()}},
		Tags:   tags(nil),
	}, child)
	if err != nil {
		return nil, fmt.Errorf("public route table %s: %w", name, err)
	}
	var public, private pulumi.StringArray
	var firstPublic *ec2.Subnet
	for i, zone := range zones {
		sub, err := ec2.NewSubnet(ctx, fmt.Sprintf("%s-public-%d", name, i), &ec2.SubnetArgs{
			VpcId: vpc.ID(), AvailabilityZone: pulumi.String(zone), CidrBlock: pulumi.Sprintf("10.0.%d.0/20", i*16),
			MapPublicIpOnLaunch: pulumi.Bool(true),
			Tags:                tags(map[string]string{"kubernetes.io/role/elb": "1"}),
		}, child)
		if err != nil {
			return nil, fmt.Errorf("public subnet in %s: %w", zone, err)
		}
		if _, err := ec2.NewRouteTableAssociation(ctx, fmt.Sprintf("%s-public-%d", name, i), &ec2.RouteTableAssociationArgs{
			SubnetId: sub.ID(), RouteTableId: publicRT.ID(),
		}, child); err != nil {
			return nil, fmt.Errorf("public route in %s: %w", zone, err)
		}
		if firstPublic == nil {
			firstPublic = sub
		}
		public = append(public, sub.ID())
	}
	// One NAT gateway keeps the idle cost down; a zone outage then cuts egress
	// for the other zones' nodes, acceptable for this workload.
	eip, err := ec2.NewEip(ctx, name+"-nat", &ec2.EipArgs{Domain: pulumi.String("vpc"), Tags: tags(nil)}, child)
	if err != nil {
		return nil, fmt.Errorf("nat address %s: %w", name, err)
	}
	nat, err := ec2.NewNatGateway(ctx, name, &ec2.NatGatewayArgs{AllocationId: eip.ID(), SubnetId: firstPublic.ID(), Tags: tags(nil)},
		child, pulumi.DependsOn([]pulumi.Resource{igw}))
	if err != nil {
		return nil, fmt.Errorf("nat gateway %s: %w", name, err)
	}
	privateRT, err := ec2.NewRouteTable(ctx, name+"-private", &ec2.RouteTableArgs{
		VpcId:  vpc.ID(),
		Routes: ec2.RouteTableRouteArray{&ec2.RouteTableRouteArgs{CidrBlock: pulumi.String("0.0.0.0/0"), NatGatewayId: nat.ID()}},
		Tags:   tags(nil),
	}, child)
	if err != nil {
		return nil, fmt.Errorf("private route table %s: %w", name, err)
	}
	for i, zone := range zones {
		sub, err := ec2.NewSubnet(ctx, fmt.Sprintf("%s-private-%d", name, i), &ec2.SubnetArgs{
			VpcId: vpc.ID(), AvailabilityZone: pulumi.String(zone), CidrBlock: pulumi.Sprintf("10.0.%d.0/20", 128+i*16),
			Tags: tags(map[string]string{"kubernetes.io/role/internal-elb": "1", DiscoveryTag: args.ClusterName}),
		}, child)
		if err != nil {
			return nil, fmt.Errorf("private subnet in %s: %w", zone, err)
		}
		if _, err := ec2.NewRouteTableAssociation(ctx, fmt.Sprintf("%s-private-%d", name, i), &ec2.RouteTableAssociationArgs{
			SubnetId: sub.ID(), RouteTableId: privateRT.ID(),
		}, child); err != nil {
			return nil, fmt.Errorf("private route in %s: %w", zone, err)
		}
		private = append(private, sub.ID())
	}
	n.VPCID = vpc.ID().ToStringOutput()
	n.PrivateSubnetIDs = private.ToStringArrayOutput()
	n.PublicSubnetIDs = public.ToStringArrayOutput()
	return n, ctx.RegisterResourceOutputs(n, pulumi.Map{
		"vpcId": n.VPCID, "privateSubnetIds": n.PrivateSubnetIDs, "publicSubnetIds": n.PublicSubnetIDs,
	})
}

package azure

import (
	"fmt"

	"github.com/pulumi/pulumi-azure-native-sdk/insights/v2"
	"github.com/pulumi/pulumi-azure-native-sdk/operationalinsights/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// LogWorkspace is the Log Analytics workspace Container Insights writes to. It
// exists before the cluster, whose monitoring add-on names it.
type LogWorkspace struct {
	pulumi.ResourceState
	ID pulumi.StringOutput `pulumi:"workspaceId"`
}

// LogWorkspaceArgs place and name the workspace.
type LogWorkspaceArgs struct {
	ResourceGroupName pulumi.StringInput
	// Name is unique per stack (the cluster name).
	Name string
	Tags pulumi.StringMap
}

// LogWorkspaceName is the workspace's name for a cluster name: the cluster
// name itself, unless it is shorter than the 4 characters a Log Analytics
// workspace name needs (4-63 letters, digits and hyphens); then it is
// suffixed, so longer names, and existing workspaces, keep theirs.
func LogWorkspaceName(cluster string) string {
	if len(cluster) < 4 {
		return cluster + "-logs"
	}
	return cluster
}

// NewLogWorkspace creates a pay-per-GB workspace that keeps 30 days, the
// retention included in the ingestion price.
func NewLogWorkspace(ctx *pulumi.Context, name string, args LogWorkspaceArgs, opts ...pulumi.ResourceOption) (*LogWorkspace, error) {
	w := &LogWorkspace{}
	if err := ctx.RegisterComponentResource("edw:azure:LogWorkspace", name, w, opts...); err != nil {
		return nil, err
	}
	ws, err := operationalinsights.NewWorkspace(ctx, name, &operationalinsights.WorkspaceArgs{
		ResourceGroupName: args.ResourceGroupName,
		WorkspaceName:     pulumi.String(LogWorkspaceName(args.Name)),
		Sku:               &operationalinsights.WorkspaceSkuArgs{Name: pulumi.String("PerGB2018")},
		RetentionInDays:   pulumi.Int(30),
		Tags:              args.Tags,
	}, pulumi.Parent(w))
	if err != nil {
		return nil, fmt.Errorf("log analytics workspace %s: %w", name, err)
	}
	w.ID = ws.ID().ToStringOutput()
	return w, ctx.RegisterResourceOutputs(w, pulumi.Map{"workspaceId": w.ID})
}

// ClusterTelemetry is what carries the cluster's metrics and logs to Azure
// Monitor: managed Prometheus (an Azure Monitor workspace, and the data
// collection endpoint, rule and association that feed it) and Container
// Insights (a rule and association that feed the Log Analytics workspace).
type ClusterTelemetry struct {
	pulumi.ResourceState
	// PrometheusWorkspaceID is the Azure Monitor workspace; empty without
	// managed Prometheus.
	PrometheusWorkspaceID pulumi.StringOutput `pulumi:"prometheusWorkspaceId"`
	// Prometheus is what must exist before managed Prometheus scrapes
	// anything: objects for it (a PodMonitor) depend on it.
	Prometheus []pulumi.Resource
}

// ClusterTelemetryArgs name the cluster and what to collect.
type ClusterTelemetryArgs struct {
	ResourceGroupName pulumi.StringInput
	// Location is the cluster's region; the workspace, endpoint and rules go
	// there too, so no cross-region endpoint is needed.
	Location string
	// ClusterName is unique per stack; ClusterID is the cluster's resource id.
	ClusterName string
	ClusterID   pulumi.StringInput
	// Prometheus turns on managed Prometheus.
	Prometheus bool
	// LogWorkspaceID, when set, turns on Container Insights into that workspace.
	LogWorkspaceID pulumi.StringInput
	Tags           pulumi.StringMap
}

// The names Azure's own onboarding templates give these rules, capped at the
// lengths the resource provider allows.
func prometheusRuleName(location, cluster string) string {
	return clip("MSProm-"+location+"-"+cluster, 64)
}

func insightsRuleName(location, cluster string) string {
	return clip("MSCI-"+location+"-"+cluster, 64)
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// collect creates a data collection rule and associates it with the cluster:
// the agent on the cluster collects what the rule says once the association
// exists.
func collect(ctx *pulumi.Context, name string, clusterID pulumi.StringInput, association, description string,
	rule *insights.DataCollectionRuleArgs, opts ...pulumi.ResourceOption) (*insights.DataCollectionRuleAssociation, error) {
	r, err := insights.NewDataCollectionRule(ctx, name, rule, opts...)
	if err != nil {
		return nil, fmt.Errorf("data collection rule %s: %w", name, err)
	}
	a, err := insights.NewDataCollectionRuleAssociation(ctx, name, &insights.DataCollectionRuleAssociationArgs{
		ResourceUri:          clusterID,
		AssociationName:      pulumi.String(association),
		DataCollectionRuleId: r.ID(),
		Description:          pulumi.String(description),
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("data collection rule association %s: %w", name, err)
	}
	return a, nil
}

// monitorWorkspace is Microsoft.Monitor/accounts. The azure-native SDK's
// monitor module is not served where edw is built, so the resource is
// registered by its token with the same provider plugin as every other
// azure-native resource; accountId is the one output edw reads.
type monitorWorkspace struct {
	pulumi.CustomResourceState
	AccountID pulumi.StringOutput `pulumi:"accountId"`
}

// monitorWorkspaceType is the azure-native token for an Azure Monitor workspace.
const monitorWorkspaceType = "azure-native:monitor:AzureMonitorWorkspace"

// NewClusterTelemetry creates the collection for what args turn on. The cluster
// itself must enable the matching add-ons (ClusterArgs.ManagedPrometheus and
// LogWorkspaceID); the associations are created after it, as Azure's own
// templates do, and the agents pick their rules up once they exist.
func NewClusterTelemetry(ctx *pulumi.Context, name string, args ClusterTelemetryArgs, opts ...pulumi.ResourceOption) (*ClusterTelemetry, error) {
	t := &ClusterTelemetry{}
	if err := ctx.RegisterComponentResource("edw:azure:ClusterTelemetry", name, t, opts...); err != nil {
		return nil, err
	}
	child := pulumi.Parent(t)
	t.PrometheusWorkspaceID = pulumi.String("").ToStringOutput()
	if args.Prometheus {
		ws := &monitorWorkspace{}
		if err := ctx.RegisterResource(monitorWorkspaceType, name+"-prometheus", pulumi.Map{
			"resourceGroupName":         args.ResourceGroupName,
			"azureMonitorWorkspaceName": pulumi.String(args.ClusterName),
			"location":                  pulumi.String(args.Location),
			"tags":                      args.Tags,
		}, ws, child); err != nil {
			return nil, fmt.Errorf("azure monitor workspace %s: %w", name, err)
		}
		endpoint, err := insights.NewDataCollectionEndpoint(ctx, name+"-prometheus", &insights.DataCollectionEndpointArgs{
			ResourceGroupName:          args.ResourceGroupName,
			DataCollectionEndpointName: pulumi.String(clip(prometheusRuleName(args.Location, args.ClusterName), 44)),
			Location:                   pulumi.String(args.Location),
			Kind:                       pulumi.String("Linux"),
			Tags:                       args.Tags,
		}, child)
		if err != nil {
			return nil, fmt.Errorf("prometheus data collection endpoint %s: %w", name, err)
		}
		const stream, destination = "Microsoft-PrometheusMetrics", "MonitoringAccount1"
		assoc, err := collect(ctx, name+"-prometheus", args.ClusterID, prometheusRuleName(args.Location, args.ClusterName),
			"Sends the cluster's Prometheus metrics to its Azure Monitor workspace.", &insights.DataCollectionRuleArgs{
				ResourceGroupName:        args.ResourceGroupName,
				DataCollectionRuleName:   pulumi.String(prometheusRuleName(args.Location, args.ClusterName)),
				Location:                 pulumi.String(args.Location),
				Kind:                     pulumi.String("Linux"),
				Description:              pulumi.String("Managed Prometheus for edw cluster " + args.ClusterName),
				DataCollectionEndpointId: endpoint.ID(),
				DataSources: &insights.DataCollectionRuleDataSourcesArgs{
					PrometheusForwarder: insights.PrometheusForwarderDataSourceArray{insights.PrometheusForwarderDataSourceArgs{
						Name: pulumi.String("PrometheusDataSource"), Streams: pulumi.ToStringArray([]string{stream}),
					}},
				},
				Destinations: &insights.DataCollectionRuleDestinationsArgs{
					MonitoringAccounts: insights.MonitoringAccountDestinationArray{insights.MonitoringAccountDestinationArgs{
						Name: pulumi.String(destination), AccountResourceId: ws.ID(),
					}},
				},
				DataFlows: insights.DataFlowArray{insights.DataFlowArgs{
					Streams: pulumi.ToStringArray([]string{stream}), Destinations: pulumi.ToStringArray([]string{destination}),
				}},
				Tags: args.Tags,
			}, child)
		if err != nil {
			return nil, err
		}
		t.Prometheus = []pulumi.Resource{assoc}
		t.PrometheusWorkspaceID = ws.ID().ToStringOutput()
	}
	if args.LogWorkspaceID != nil {
		const destination = "ciworkspace"
		streams := pulumi.ToStringArray([]string{"Microsoft-ContainerInsights-Group-Default"})
		if _, err := collect(ctx, name+"-insights", args.ClusterID, "ContainerInsightsExtension",
			"Sends the cluster's container logs and inventory to its Log Analytics workspace.", &insights.DataCollectionRuleArgs{
				ResourceGroupName:      args.ResourceGroupName,
				DataCollectionRuleName: pulumi.String(insightsRuleName(args.Location, args.ClusterName)),
				Location:               pulumi.String(args.Location),
				Kind:                   pulumi.String("Linux"),
				Description:            pulumi.String("Container Insights for edw cluster " + args.ClusterName),
				DataSources: &insights.DataCollectionRuleDataSourcesArgs{
					Extensions: insights.ExtensionDataSourceArray{insights.ExtensionDataSourceArgs{
						Name: pulumi.String("ContainerInsightsExtension"), ExtensionName: pulumi.String("ContainerInsights"),
						Streams: streams,
						ExtensionSettings: pulumi.Map{"dataCollectionSettings": pulumi.Map{
							"interval": pulumi.String("1m"), "namespaceFilteringMode": pulumi.String("Off"),
							"enableContainerLogV2": pulumi.Bool(true),
						}},
					}},
				},
				Destinations: &insights.DataCollectionRuleDestinationsArgs{
					LogAnalytics: insights.LogAnalyticsDestinationArray{insights.LogAnalyticsDestinationArgs{
						Name: pulumi.String(destination), WorkspaceResourceId: args.LogWorkspaceID,
					}},
				},
				DataFlows: insights.DataFlowArray{insights.DataFlowArgs{
					Streams: streams, Destinations: pulumi.ToStringArray([]string{destination}),
				}},
				Tags: args.Tags,
			}, child); err != nil {
			return nil, err
		}
	}
	return t, ctx.RegisterResourceOutputs(t, pulumi.Map{"prometheusWorkspaceId": t.PrometheusWorkspaceID})
}

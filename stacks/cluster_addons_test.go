package stacks

import (
	"fmt"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	infraaws "github.com/edw-dev/edw/infra/aws"
	"github.com/edw-dev/edw/internal/pulumitest"
)

const (
	awsAddon    = "aws:eks/addon:Addon"
	awsLogGroup = "aws:cloudwatch/logGroup:LogGroup"
)

// addonVersionAnswer is EKS's default version of an add-on for a Kubernetes
// version, spelled so a test can tell which Kubernetes version it came from.
func addonVersionAnswer(a pulumi.MockCallArgs) (resource.PropertyMap, error) {
	name, k8s := a.Args["addonName"].StringValue(), a.Args["kubernetesVersion"].StringValue()
	return resource.NewPropertyMapFromMap(map[string]any{
		"addonName": name, "kubernetesVersion": k8s, "id": name, "version": fakeAddonVersion(name, k8s),
	}), nil
}

func fakeAddonVersion(addon, k8s string) string {
	return fmt.Sprintf("v%s.0-%s-eksbuild.1", k8s, addon)
}

// Issue 21, items 2 and 3: pulumi-eks does not apply its bundled CNI, and
// vpc-cni, kube-proxy and CoreDNS are EKS add-ons at the version EKS pairs
// with the configured Kubernetes version, created (and upgraded) after the
// control plane; CoreDNS waits for nodes to run on.
func TestEKSAddonsFollowTheClusterVersion(t *testing.T) {
	for _, version := range []string{DefaultKubernetesVersion, "1.33"} {
		t.Run(version, func(t *testing.T) {
			g, _ := runAWS(t, map[string]string{"edw:kubernetesVersion": version})
			eks := g.OnlyOfType(t, awsEKS)
			cni, _ := eks.Plain("useDefaultVpcCni")
			assert.Equal(t, true, cni, "pulumi-eks must not apply its bundled VPC CNI manifest")
			_, opts := eks.Input("vpcCniOptions")
			assert.False(t, opts, "vpcCniOptions would bring pulumi-eks's CNI back")

			byName := map[string]*pulumitest.Resource{}
			for _, a := range g.ByType(awsAddon) {
				byName[a.Str(t, "addonName")] = a
			}
			var want []string
			for _, a := range infraaws.ManagedAddons() {
				want = append(want, a.Name)
			}
			assert.ElementsMatch(t, []string{"vpc-cni", "kube-proxy", "coredns"}, want)
			require.Len(t, byName, len(want))
			for name, a := range byName {
				assert.Equal(t, fakeAddonVersion(name, version), a.Str(t, "addonVersion"), "%s follows Kubernetes %s", name, version)
				assert.Equal(t, "edw-aws", a.Str(t, "clusterName"))
				assert.True(t, g.DependsOn(a, eks), "%s is created and upgraded after the control plane", name)
				assert.Equal(t, "OVERWRITE", a.Str(t, "resolveConflictsOnCreate"), "%s adopts what EKS bootstrapped", name)
				keep, _ := a.Plain("preserve")
				assert.Equal(t, true, keep, "deleting %s must not take DNS or pod networking from Karpenter's finalizers", name)
			}
			assert.True(t, g.DependsOn(byName["coredns"], g.OnlyOfType(t, awsNodeGroup)), "CoreDNS needs nodes to become healthy")
			calls := g.Invoked("aws:eks/getAddonVersion:getAddonVersion")
			require.Len(t, calls, len(want))
			for _, c := range calls {
				assert.Equal(t, version, c.Args["kubernetesVersion"].StringValue())
				assert.Equal(t, resource.NewBoolProperty(false), c.Args["mostRecent"], "EKS's default for the version, not whatever was published last")
				assert.Contains(t, c.Provider, "::pulumi:providers:aws::aws::", "looked up in the stack's region and account")
			}
		})
	}
}

// Issue 21, item 5: the stack owns the control-plane log group, made before
// the cluster so EKS writes into it, with the configured retention; it goes
// with the stack unless data is retained.
func TestControlPlaneLogGroupIsOwned(t *testing.T) {
	g, _ := runAWS(t, nil)
	eks := g.OnlyOfType(t, awsEKS)
	lg := g.OnlyOfType(t, awsLogGroup)
	assert.Equal(t, "/aws/eks/"+eks.Str(t, "name")+"/cluster", lg.Str(t, "name"), "the name EKS writes to")
	days, _ := lg.Plain("retentionInDays")
	assert.Equal(t, float64(DefaultControlPlaneLogRetentionDays), days)
	assert.True(t, g.DependsOnDirectly(eks, lg), "the cluster is created after its log group")
	assert.False(t, lg.RetainOnDelete)
	assert.Contains(t, lg.Provider, "::pulumi:providers:aws::aws::")

	g, _ = runAWS(t, map[string]string{"edw:retainData": "true", "edw:controlPlaneLogRetentionDays": "3653"})
	lg = g.OnlyOfType(t, awsLogGroup)
	assert.True(t, lg.RetainOnDelete, "retained data keeps the audit trail too")
	days, _ = lg.Plain("retentionInDays")
	assert.Equal(t, 3653.0, days)
}

// Issue 21, item 6: edw:clusterAdmins on AWS are mapped to system:masters,
// readers stay readers.
func TestClusterAdminsAreMappedToSystemMasters(t *testing.T) {
	admin, reader := "arn:aws:iam::"+fakeAccount+":role/deploy", "arn:aws:iam::"+fakeAccount+":role/ci"
	g, _ := runAWS(t, map[string]string{"edw:clusterAdmins": `["` + admin + `"]`, "edw:clusterReaders": `["` + reader + `"]`})
	mappings, _ := g.OnlyOfType(t, awsEKS).Plain("roleMappings")
	groups := map[string][]string{}
	for _, m := range mappings.([]any) {
		mm := m.(map[string]any)
		groups[mm["roleArn"].(string)] = strs(mm["groups"])
	}
	assert.Equal(t, map[string][]string{admin: {infraaws.AdminGroup}, reader: {readerGroup}}, groups)
	assert.Equal(t, "system:masters", infraaws.AdminGroup)
}

package stacks

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/internal/pulumitest"
)

// grantTypes are the resources that give an identity a permission, and the
// input that names the identity.
var grantTypes = map[string]string{
	awsPolicy: "role",
	"aws:iam/rolePolicyAttachment:RolePolicyAttachment": "role",
	azFIC:  "resourceName",
	azRole: "principalId",
}

// identityTypes are the resources whose permissions grants carry.
var identityTypes = []string{awsRole, azIdentity, azCluster}

// stackModes are every shape of both stacks.
func stackModes(t *testing.T) map[string]*pulumitest.Graph {
	t.Helper()
	modes := map[string]*pulumitest.Graph{}
	modes["aws"], _ = runAWS(t, map[string]string{"edw:producer": "true", "edw:clusterReaders": `["arn:aws:iam::444455556666:role/ci-preview"]`})
	modes["azure nap"], _ = runAzure(t, map[string]string{"edw:producer": "true"})
	modes["azure cluster-autoscaler"], _ = runAzure(t, map[string]string{"edw:producer": "true", "edw:nodeProvisioning": "cluster-autoscaler"})
	return modes
}

// grantsOf finds, from the graph, every grant whose identity input comes from id.
func grantsOf(g *pulumitest.Graph, id *pulumitest.Resource) []*pulumitest.Resource {
	var out []*pulumitest.Resource
	for _, r := range g.Resources {
		key, ok := grantTypes[r.Type]
		if !ok {
			continue
		}
		for _, urn := range r.PropertyDependencies[key] {
			if urn == id.URN {
				out = append(out, r)
			}
		}
	}
	return out
}

// TestGrantsAreCreatedBeforeAndDeletedAfterTheirUsers: anything that uses an
// identity at run time (found as a resource built from the identity, other than
// its own grants) depends on every grant of that identity, so `pulumi up` never
// starts it without its permissions and `pulumi destroy` never removes a
// permission while it still runs. A new role or identity is covered by default.
func TestGrantsAreCreatedBeforeAndDeletedAfterTheirUsers(t *testing.T) {
	for mode, g := range stackModes(t) {
		checked := 0
		for _, typ := range identityTypes {
			for _, id := range g.ByType(typ) {
				grants := grantsOf(g, id)
				if len(grants) == 0 {
					continue
				}
				for _, user := range g.Resources {
					if _, isGrant := grantTypes[user.Type]; isGrant || user == id || !g.DependsOnDirectly(user, id) {
						continue
					}
					if typ == azCluster {
						// The cluster's kubelet identity is only a value of the cluster;
						// what uses it is whatever pulls images: the workload.
						if user.Type != "kubernetes:apps/v1:Deployment" && user.Type != "kubernetes:batch/v1:Job" {
							continue
						}
					}
					for _, grant := range grants {
						checked++
						assert.True(t, g.DependsOn(user, grant), "%s: %s uses %s but does not depend on its grant %s", mode, user, id, grant)
					}
				}
				if typ == azCluster {
					for _, w := range append(g.ByType("kubernetes:apps/v1:Deployment"), g.ByType("kubernetes:batch/v1:Job")...) {
						for _, grant := range grants {
							checked++
							assert.True(t, g.DependsOn(w, grant), "%s: %s pulls images without depending on %s", mode, w, grant)
						}
					}
				}
			}
		}
		assert.Greater(t, checked, 10, "%s: the invariant found users and grants to check", mode)
	}
}

// TestEveryIdentityHasGrants keeps the invariant above from passing vacuously:
// each role and identity the stacks create is found with its grants.
func TestEveryIdentityHasGrants(t *testing.T) {
	for mode, g := range stackModes(t) {
		for _, typ := range []string{awsRole, azIdentity} {
			for _, id := range g.ByType(typ) {
				assert.NotEmpty(t, grantsOf(g, id), "%s: %s has no grants", mode, id)
			}
		}
	}
	g, _ := runAWS(t, nil)
	ng := g.OnlyOfType(t, awsNodeGroup)
	role := g.One(t, awsRole, "edw-system-node")
	require.Len(t, grantsOf(g, role), 4)
	for _, a := range grantsOf(g, role) {
		assert.True(t, g.DependsOn(ng, a), "system nodes start only with %s attached", a)
	}
}

// TestAWSPolicyDocumentsRender writes the workload roles' policy documents,
// exactly as the stack renders them, with the ARN each resource role stands
// for, to $EDW_RENDER_DIR/aws-policies.json. The workload's IAM test loads
// them into moto, which enforces them on the real binaries.
func TestAWSPolicyDocumentsRender(t *testing.T) {
	g, _ := runAWS(t, nil)
	out := renderPolicies(t, g, nil)
	for _, identity := range []string{"consumer", "producer", "keda"} {
		for _, st := range policyDoc(t, g.One(t, awsPolicy, "edw-"+identity), "policy") {
			for _, res := range strs(st["Resource"]) {
				assert.Contains(t, out.Resources, resourceRole(out.Resources, res), "%s names only the stack's resources", identity)
			}
		}
	}
	out.write(t, "aws-policies.json")
}

// policyRender is what the workload's IAM tests load: each workload role's
// policy document as the stack renders it, and the ARN each resource role
// (queue, dlq, table, and what extra adds) stands for.
type policyRender struct {
	Resources map[string]string          `json:"resources"`
	Policies  map[string]json.RawMessage `json:"policies"`
}

func renderPolicies(t *testing.T, g *pulumitest.Graph, extra map[string]string) policyRender {
	t.Helper()
	out := policyRender{
		Resources: map[string]string{
			"queue": g.One(t, awsQueue, "edw").State["arn"].StringValue(),
			"dlq":   g.One(t, awsQueue, "edw-dlq").State["arn"].StringValue(),
			"table": g.OnlyOfType(t, awsTable).State["arn"].StringValue(),
		},
		Policies: map[string]json.RawMessage{},
	}
	maps.Copy(out.Resources, extra)
	for _, identity := range []string{"consumer", "producer", "keda"} {
		out.Policies[identity] = json.RawMessage(g.One(t, awsPolicy, "edw-"+identity).Str(t, "policy"))
	}
	return out
}

// write puts the render in $EDW_RENDER_DIR/file, when the test command set it.
func (p policyRender) write(t *testing.T, file string) {
	t.Helper()
	dir := os.Getenv(pulumitest.RenderDirEnv)
	if dir == "" {
		return
	}
	b, err := json.MarshalIndent(p, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, file), b, 0o644))
}

func resourceRole(resources map[string]string, arn string) string {
	for role, a := range resources {
		if a == arn {
			return role
		}
	}
	return ""
}

package stacks

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edw-dev/edw/infra/kube"
)

// providerDefaultWait is what pulumi-kubernetes waits for a Deployment or a Job
// without customTimeouts (DefaultDeploymentTimeoutMins, DefaultJobTimeoutMins
// in its pkg/await).
const providerDefaultWait = 10 * time.Minute

// TestWorkloadWaitsOutlastAFirstNode: the consumer Deployment and the producer
// Job wait longer than the provider's default, enough for Karpenter or NAP to
// launch the first node, and the Job also for its messages at its rate.
func TestWorkloadWaitsOutlastAFirstNode(t *testing.T) {
	const count, rate = 60000, 50 // 20 minutes of sending
	g, _ := runAzure(t, map[string]string{"edw:producer": "true", "edw:producerMessageCount": "60000", "edw:producerRate": "50"})
	wait := func(s string) time.Duration {
		d, err := time.ParseDuration(s)
		require.NoError(t, err, s)
		return d
	}
	dep := g.OnlyOfType(t, "kubernetes:apps/v1:Deployment")
	job := g.OnlyOfType(t, "kubernetes:batch/v1:Job")
	for _, r := range []struct {
		typ  string
		want time.Duration
	}{{dep.Type, kube.FirstNodeWait}, {job.Type, kube.FirstNodeWait + count/rate*time.Second}} {
		res := g.OnlyOfType(t, r.typ)
		assert.Greater(t, kube.FirstNodeWait, providerDefaultWait)
		assert.GreaterOrEqual(t, wait(res.TimeoutCreate), r.want, "%s create", res)
		assert.GreaterOrEqual(t, wait(res.TimeoutUpdate), r.want, "%s update", res)
	}
}

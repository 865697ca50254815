package cost

import (
	"fmt"
	"math"
	"time"

	"github.com/edw-dev/edw/workload/internal/autoscale"
)

// The stack's scaling defaults (stacks/config.go; TestScalingDefaultsAreTheStacks
// keeps these the same), which the scale-to-zero section simulates.
const (
	DefaultMinReplicas    = 0
	DefaultMaxReplicas    = 10
	DefaultMessagesPerPod = 50
	DefaultPolling        = 15 * time.Second
	DefaultCooldown       = 120 * time.Second
)

// DefaultRule is the ScaledObject edw deploys by default.
func DefaultRule() autoscale.Rule {
	return autoscale.Rule{MinReplicas: DefaultMinReplicas, MaxReplicas: DefaultMaxReplicas,
		Target: DefaultMessagesPerPod, Cooldown: DefaultCooldown}
}

// Headroom over the measured figures, for what the benchmark does not show:
// larger bodies, a slower backend keeping more in flight, GC timing.
const (
	// memoryHeadroom is over the peak RSS at the default receivers.
	memoryHeadroom = 1.5
	// limitHeadroom is over the peak RSS at the largest receivers the flags allow.
	limitHeadroom = 1.5
	cpuStepMilli  = 50
	memoryStepMi  = 16
)

// Requests are the consumer's CPU and memory requests and its memory limit as
// Kubernetes quantities, derived from the measurements.
type Requests struct {
	CPU, Memory, MemoryLimit string
	// The figures they came from: CPU cores at the default receivers with a
	// backlog, peak RSS at the default and at the largest receivers (MiB), the
	// largest over both clouds.
	Cores, RSS, MaxRSS float64
}

// Derive sizes the consumer from its runs at the default setting and the
// largest. With the default messagesPerPod (50) KEDA keeps a backlog of about
// 50 messages per pod, more than the default 4 receivers × a batch of 10 hold,
// so at that load a pod works flat out, as in the benchmark's default run:
// its CPU request is the CPU it used there, per second of wall time, and its
// memory request that run's peak RSS with headroom. The memory limit must hold
// whatever the flags allow, so it is the peak RSS at --receivers 100 with
// headroom.
func Derive(m Measurements) (Requests, error) {
	var r Requests
	for cloud := range Targets {
		def, err := m.Find(cloud, "consumer", "default")
		if err != nil {
			return r, err
		}
		big, err := m.Find(cloud, "consumer", "max")
		if err != nil {
			return r, err
		}
		r.Cores, r.RSS, r.MaxRSS = max(r.Cores, def.Cores), max(r.RSS, def.RSSMiB), max(r.MaxRSS, big.RSSMiB)
	}
	r.CPU = fmt.Sprintf("%dm", roundUp(r.Cores*1000, cpuStepMilli))
	r.Memory = fmt.Sprintf("%dMi", roundUp(r.RSS*memoryHeadroom, memoryStepMi))
	r.MemoryLimit = fmt.Sprintf("%dMi", roundUp(r.MaxRSS*limitHeadroom, memoryStepMi))
	return r, nil
}

func roundUp(v float64, step int) int {
	return int(math.Ceil(v/float64(step))) * step
}

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

// MaxReceivers is the most receive loops the consumer's --receivers allows
// (cmd/consumer; TestMaxReceiversIsTheFlags keeps it the same).
const MaxReceivers = 100

// Requests are the consumer's CPU and memory requests and its memory limit as
// Kubernetes quantities, derived from the measurements.
type Requests struct {
	CPU, Memory, MemoryLimit string
	// The figures they came from, the largest over both clouds: CPU cores at
	// the default receivers with a backlog, peak RSS at the default receivers,
	// and peak RSS with the most in flight the flags allow (MiB).
	Cores, RSS, MaxRSS float64
	// Worst is, per cloud, the peak RSS with MaxReceivers full batches in
	// flight and whether it was extrapolated from the runs rather than measured.
	Worst map[string]Worst
}

// Worst is the peak RSS with the most in flight the flags allow.
type Worst struct {
	InFlight     int
	RSS          float64
	Extrapolated bool
	// Missing: the benchmark has no run at the largest setting on this cloud.
	Missing bool
	// PerMessage is the RSS one more message in flight adds (MiB), from the
	// default and the largest runs.
	PerMessage float64
}

// worst is the peak RSS with MaxReceivers full batches in flight. When the
// emulator could not hold that many (Azurite stalls well before 100 × 32), it
// is extrapolated linearly from the two runs: what a message in flight costs
// (its goroutines, its requests' buffers and connections) does not depend on
// how many others there are.
func worst(def, big Run) Worst {
	w := Worst{InFlight: MaxReceivers * big.Batch, RSS: big.RSSMiB}
	if big.InFlight > def.InFlight {
		w.PerMessage = (big.RSSMiB - def.RSSMiB) / float64(big.InFlight-def.InFlight)
	}
	if big.InFlight < w.InFlight {
		w.Extrapolated = true
		w.RSS = big.RSSMiB + w.PerMessage*float64(w.InFlight-big.InFlight)
	}
	return w
}

// Derive sizes the consumer from its runs at the default setting and the
// largest. With the default messagesPerPod (50) KEDA keeps a backlog of about
// 50 messages per pod, more than the default 4 receivers × a batch of 10 hold,
// so at that load a pod works flat out, as in the benchmark's default run:
// its CPU request is the CPU it used there, per second of wall time, and its
// memory request that run's peak RSS with headroom. The memory limit must hold
// whatever the flags allow, so it is the peak RSS with --receivers 100 full
// batches in flight, with headroom.
func Derive(m Measurements) (Requests, error) {
	r := Requests{Worst: map[string]Worst{}}
	for cloud := range Targets {
		def, err := m.Find(cloud, "consumer", "default")
		if err != nil {
			return r, err
		}
		big, err := m.Find(cloud, "consumer", "max")
		if err != nil {
			// Not measured (Azurite stalled under the largest setting): the
			// limit then rests on the other cloud, and the docs say so.
			r.Worst[cloud] = Worst{Missing: true}
			r.Cores, r.RSS = max(r.Cores, def.Cores), max(r.RSS, def.RSSMiB)
			continue
		}
		w := worst(def, big)
		r.Worst[cloud] = w
		r.Cores, r.RSS, r.MaxRSS = max(r.Cores, def.Cores), max(r.RSS, def.RSSMiB), max(r.MaxRSS, w.RSS)
	}
	if r.MaxRSS == 0 {
		return r, fmt.Errorf("measured.json has no consumer run at the max setting on any cloud: the memory limit needs one")
	}
	r.CPU = fmt.Sprintf("%dm", roundUp(r.Cores*1000, cpuStepMilli))
	r.Memory = fmt.Sprintf("%dMi", roundUp(r.RSS*memoryHeadroom, memoryStepMi))
	r.MemoryLimit = fmt.Sprintf("%dMi", roundUp(r.MaxRSS*limitHeadroom, memoryStepMi))
	return r, nil
}

func roundUp(v float64, step int) int {
	return int(math.Ceil(v/float64(step))) * step
}

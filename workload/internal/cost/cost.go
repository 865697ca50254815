// Package cost turns what the resource benchmark measured
// (docs/cost/measured.json) and a file of list prices (docs/cost/prices.json)
// into the cost tables of README.md and docs/cost.md: what a million messages
// cost per cloud, the consumer's requests, and what scale-to-zero saves. The
// tables are generated, and a test fails when a document differs from them, so
// the documents cannot drift from the figures.
package cost

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Prices are list prices for one region per cloud, as of a stated date.
type Prices struct {
	AsOf     string      `json:"asOf"`
	Source   string      `json:"source"`
	SpotNote string      `json:"spotNote"`
	AWS      AWSPrices   `json:"aws"`
	Azure    AzurePrices `json:"azure"`
}

// AWSPrices are SQS, DynamoDB on-demand, EventBridge and EC2 in one region.
type AWSPrices struct {
	Region string `json:"region"`
	// SQS bills every started SQSChunkBytes of a request's payload as one request.
	SQSPerMillion float64 `json:"sqsPerMillionRequests"`
	SQSChunkBytes int     `json:"sqsChunkBytes"`
	// A write unit covers an item of up to DynamoWriteUnitBytes.
	DynamoPerMillionWrites float64 `json:"dynamodbPerMillionWriteUnits"`
	DynamoWriteUnitBytes   int     `json:"dynamodbWriteUnitBytes"`
	EventBridgePerMillion  float64 `json:"eventbridgePerMillionEvents"`
	EventBridgeChunkBytes  int     `json:"eventbridgeChunkBytes"`
	SpotFraction           float64 `json:"spotFraction"`
	Nodes                  []Node  `json:"nodes"`
}

// AzurePrices are Storage queues and tables (general-purpose v2, LRS), Event
// Grid and VMs in one region.
type AzurePrices struct {
	Region              string  `json:"region"`
	QueuePer10k         float64 `json:"queuePerTenThousandOperations"`
	QueueMaxBatch       int     `json:"queueMaxBatch"`
	TablePer10k         float64 `json:"tablePerTenThousandTransactions"`
	EventGridPerMillion float64 `json:"eventGridPerMillionOperations"`
	EventGridChunkBytes int     `json:"eventGridChunkBytes"`
	SpotFraction        float64 `json:"spotFraction"`
	Nodes               []Node  `json:"nodes"`
}

// Node is an instance type or VM size the node provisioner may pick.
type Node struct {
	Type           string  `json:"type"`
	Arch           string  `json:"arch"`
	VCPU           int     `json:"vcpu"`
	MemoryGiB      float64 `json:"memoryGiB"`
	OnDemandHourly float64 `json:"onDemandHourly"`
}

// PerVCPUHour is the node's on-demand price of one vCPU for an hour; a family's
// sizes share it, so one size stands for the family.
func (n Node) PerVCPUHour() float64 { return n.OnDemandHourly / float64(n.VCPU) }

// Measurements are the resource benchmark's figures
// (workload/integration/resources_bench_test.go writes them).
type Measurements struct {
	Measured string `json:"measured"`
	Machine  string `json:"machine"`
	Runs     []Run  `json:"runs"`
}

// Run is one side at one setting on one pair of emulators.
type Run struct {
	Side      string  `json:"side"`
	Target    string  `json:"target"`
	Setting   string  `json:"setting"`
	Loops     int     `json:"loops"`
	Batch     int     `json:"batch"`
	Messages  int     `json:"messages"`
	InFlight  int     `json:"inFlight"`
	BodyBytes int     `json:"bodyBytes"`
	CPUms     float64 `json:"cpuMsPer1000"`
	BareCPUms float64 `json:"bareCpuMsPer1000"`
	RSSMiB    float64 `json:"peakRssMiB"`
	BareRSS   float64 `json:"barePeakRssMiB"`
	CPURatio  float64 `json:"cpuRatio"`
	Rate      float64 `json:"msgPerSecond"`
	Cores     float64 `json:"cores"`
}

// Targets name the emulators each cloud was measured on.
var Targets = map[string]string{"aws": "aws-fauxqs-dynalite", "azure": "azure-azurite"}

// Find returns the run of side at setting on cloud's emulators.
func (m Measurements) Find(cloud, side, setting string) (Run, error) {
	for _, r := range m.Runs {
		if r.Target == Targets[cloud] && r.Side == side && r.Setting == setting {
			return r, nil
		}
	}
	return Run{}, fmt.Errorf("measured.json has no %s run at the %s setting on %s", side, setting, Targets[cloud])
}

// Load reads docs/cost/prices.json and docs/cost/measured.json under root, the
// repository's top directory.
func Load(root string) (Prices, Measurements, error) {
	var p Prices
	var m Measurements
	if err := readJSON(filepath.Join(root, "docs", "cost", "prices.json"), &p); err != nil {
		return p, m, err
	}
	if err := readJSON(filepath.Join(root, "docs", "cost", "measured.json"), &m); err != nil {
		return p, m, err
	}
	return p, m, nil
}

func readJSON(path string, v any) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	return nil
}

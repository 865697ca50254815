package cost

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const root = "../../.."

// TestDocumentsAreGenerated: README.md's cost table and docs/cost.md's are what
// the measurements and the prices give, so neither can drift from them.
func TestDocumentsAreGenerated(t *testing.T) {
	p, m, err := Load(root)
	require.NoError(t, err)
	sections, err := Sections(p, m)
	require.NoError(t, err)
	for _, d := range Documents {
		raw, err := os.ReadFile(filepath.Join(root, d.Path))
		require.NoError(t, err)
		want, err := ApplyTo(string(raw), d, sections)
		require.NoError(t, err)
		if want != string(raw) {
			t.Errorf("%s's generated cost sections differ from docs/cost/measured.json and prices.json: run `cd workload && go run ./cmd/cost -write`", d.Path)
		}
	}
}

// stacksConsts reads the string or integer constants of stacks/config.go: the
// stacks live in the root module, which this one cannot import.
func stacksConsts(t *testing.T) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(root, "stacks", "config.go"), nil, 0)
	require.NoError(t, err)
	out := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		spec, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range spec.Names {
			if i < len(spec.Values) {
				if lit, ok := spec.Values[i].(*ast.BasicLit); ok {
					v := lit.Value
					if lit.Kind == token.STRING {
						v, _ = strconv.Unquote(v)
					}
					out[name.Name] = v
				}
			}
		}
		return true
	})
	return out
}

// TestStackDefaultsAreTheMeasuredOnes: the consumer's default requests and
// memory limit in stacks/config.go are the ones Derive gives from the benchmark.
func TestStackDefaultsAreTheMeasuredOnes(t *testing.T) {
	_, m, err := Load(root)
	require.NoError(t, err)
	r, err := Derive(m)
	require.NoError(t, err)
	c := stacksConsts(t)
	assert.Equal(t, r.CPU, c["DefaultConsumerCPU"], "stacks.DefaultConsumerCPU")
	assert.Equal(t, r.Memory, c["DefaultConsumerMemory"], "stacks.DefaultConsumerMemory")
	assert.Equal(t, r.MemoryLimit, c["DefaultConsumerMemoryLimit"], "stacks.DefaultConsumerMemoryLimit")
}

// TestScalingDefaultsAreTheStacks: the scale-to-zero section simulates the
// ScaledObject edw deploys by default.
func TestScalingDefaultsAreTheStacks(t *testing.T) {
	c := stacksConsts(t)
	for name, want := range map[string]int{
		"DefaultMinReplicas": DefaultMinReplicas, "DefaultMaxReplicas": DefaultMaxReplicas,
		"DefaultMessagesPerPod": DefaultMessagesPerPod, "DefaultPollingSeconds": int(DefaultPolling / time.Second),
		"DefaultCooldownSeconds": int(DefaultCooldown / time.Second),
	} {
		assert.Equal(t, strconv.Itoa(want), c[name], "stacks.%s", name)
	}
}

// fixture is a consumer and a producer measured on both clouds; on Azure the
// largest run held fewer messages in flight than the flags allow.
func fixture(body int) Measurements {
	return Measurements{Runs: []Run{
		{Side: "consumer", Target: Targets["aws"], Setting: "default", Batch: 10, InFlight: 40, BodyBytes: body, CPUms: 600, RSSMiB: 32.1, Cores: 0.21},
		{Side: "consumer", Target: Targets["aws"], Setting: "max", Batch: 10, InFlight: 1000, BodyBytes: body, CPUms: 900, RSSMiB: 134.4, Cores: 0.5},
		{Side: "producer", Target: Targets["aws"], Setting: "default", BodyBytes: body, CPUms: 60},
		{Side: "consumer", Target: Targets["azure"], Setting: "default", Batch: 32, InFlight: 128, BodyBytes: body, CPUms: 1400, RSSMiB: 30, Cores: 0.15},
		{Side: "consumer", Target: Targets["azure"], Setting: "max", Batch: 32, InFlight: 640, BodyBytes: body, CPUms: 1500, RSSMiB: 81.2, Cores: 0.3},
		{Side: "producer", Target: Targets["azure"], Setting: "default", BodyBytes: body, CPUms: 100},
	}}
}

var testPrices = Prices{
	AWS: AWSPrices{SQSPerMillion: 0.40, SQSChunkBytes: 65536, DynamoPerMillionWrites: 0.625, DynamoWriteUnitBytes: 1024,
		EventBridgePerMillion: 1, EventBridgeChunkBytes: 65536, SpotFraction: 0.5,
		Nodes: []Node{{Type: "dear", VCPU: 2, OnDemandHourly: 0.2}, {Type: "cheap-per-vcpu", VCPU: 4, OnDemandHourly: 0.36}, {Type: "small", VCPU: 1, OnDemandHourly: 0.1}}},
	Azure: AzurePrices{QueuePer10k: 0.004, QueueMaxBatch: 32, TablePer10k: 0.00036, EventGridPerMillion: 0.6, EventGridChunkBytes: 65536, SpotFraction: 0.5,
		Nodes: []Node{{Type: "d", VCPU: 2, OnDemandHourly: 0.072}}},
}

func items(b Bill) map[string]Item {
	out := map[string]Item{}
	for _, it := range b.Items {
		out[it.Label] = it
	}
	return out
}

func TestAWSBillCountsBatchesOfTenAndChunks(t *testing.T) {
	b, err := AWSBill(testPrices.AWS, fixture(90))
	require.NoError(t, err)
	it := items(b)
	for _, label := range []string{"queue: send", "queue: receive", "queue: delete"} {
		assert.Equal(t, 100_000.0, it[label].Count, label)
	}
	assert.InDelta(t, 0.04, it["queue: send"].Dollars, 1e-9)
	assert.Equal(t, 1_000_000.0, it["table writes"].Count)
	assert.InDelta(t, 0.625, it["table writes"].Dollars, 1e-9)

	// 7,000-byte bodies: a batch of 10 is 70,000 bytes, two 64 KiB chunks to
	// send and to receive (a delete carries no bodies), and a row of two KiB.
	big, err := AWSBill(testPrices.AWS, fixture(7000))
	require.NoError(t, err)
	it = items(big)
	assert.Equal(t, 200_000.0, it["queue: send"].Count)
	assert.Equal(t, 200_000.0, it["queue: receive"].Count)
	assert.Equal(t, 100_000.0, it["queue: delete"].Count)
	assert.Equal(t, 7_000_000.0, it["table writes"].Count)
}

func TestAzureBillHasNoBatchSendOrDelete(t *testing.T) {
	b, err := AzureBill(testPrices.Azure, fixture(90))
	require.NoError(t, err)
	it := items(b)
	assert.Equal(t, 1_000_000.0, it["queue: send"].Count)
	assert.Equal(t, 31_250.0, it["queue: receive"].Count)
	assert.Equal(t, 1_000_000.0, it["queue: delete"].Count)
	assert.InDelta(t, 0.4, it["queue: send"].Dollars, 1e-9)
	assert.InDelta(t, 0.036, it["table writes"].Dollars, 1e-9)
	assert.True(t, it["router events (only with routes)"].Optional)
	assert.Equal(t, 2_000_000.0, it["router events (only with routes)"].Count, "a publish and a delivery per event")
}

func TestComputeIsMeasuredCPUOnTheCheapestVCPU(t *testing.T) {
	b, err := AWSBill(testPrices.AWS, fixture(90))
	require.NoError(t, err)
	assert.Equal(t, "cheap-per-vcpu", b.Node.Type, "cheapest per vCPU, not per node")
	// 600 CPU-ms per 1,000 messages is 600 CPU-seconds per million, at $0.09
	// per vCPU-hour.
	assert.InDelta(t, 600*0.09/3600, b.OnDemand.Consumer, 1e-12)
	assert.InDelta(t, 600*0.045/3600, b.Spot.Consumer, 1e-12)
	var requests float64
	for _, it := range b.Items {
		if !it.Optional {
			requests += it.Dollars
		}
	}
	assert.InDelta(t, requests+b.OnDemand.Consumer+b.OnDemand.Producer, b.Total(b.OnDemand), 1e-12, "router events stay out of the total")
}

func TestMissingRunIsAnError(t *testing.T) {
	m := fixture(90)
	m.Runs = m.Runs[:3] // aws only
	_, err := AzureBill(testPrices.Azure, m)
	assert.ErrorContains(t, err, "no consumer run at the default setting on azure-azurite")
}

func TestDeriveRoundsUpWithHeadroom(t *testing.T) {
	r, err := Derive(fixture(90))
	require.NoError(t, err)
	assert.Equal(t, "250m", r.CPU, "aws's 0.21 cores, the larger, up to the next 50m")
	assert.Equal(t, "64Mi", r.Memory, "aws's 32.1 MiB × 1.5 = 48.2, up to the next 16Mi")
	// aws held 100 × 10 in flight: measured. Azure held 640 of 100 × 32: from
	// 128 to 640 in flight RSS grew 51.2 MiB, 0.1 MiB a message, so 3,200 in
	// flight is 81.2 + 0.1 × 2,560 = 337.2 MiB; × 1.5 = 505.8, up to 512Mi.
	assert.False(t, r.Worst["aws"].Extrapolated)
	assert.InDelta(t, 134.4, r.Worst["aws"].RSS, 1e-9)
	assert.True(t, r.Worst["azure"].Extrapolated)
	assert.Equal(t, 3200, r.Worst["azure"].InFlight)
	assert.InDelta(t, 337.2, r.Worst["azure"].RSS, 1e-9)
	assert.Equal(t, "512Mi", r.MemoryLimit)
}

func TestDeriveSaysWhenACloudsLargestRunIsMissing(t *testing.T) {
	m := fixture(90)
	m.Runs = append(m.Runs[:4], m.Runs[5:]...) // no azure max
	r, err := Derive(m)
	require.NoError(t, err)
	assert.True(t, r.Worst["azure"].Missing)
	assert.Equal(t, "208Mi", r.MemoryLimit, "aws's 134.4 MiB × 1.5, up to 208Mi")
	assert.Contains(t, defaultsText(r), "azure: **not measured**")

	m.Runs = m.Runs[:2:2] // aws default and max: azure has no default run either
	_, err = Derive(m)
	assert.ErrorContains(t, err, "no consumer run at the default setting on azure-azurite")
}

// TestMaxReceiversIsTheFlags: the limit is sized for the most receivers the
// consumer's flags accept.
func TestMaxReceiversIsTheFlags(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "../../cmd/consumer/flags.go", nil, 0)
	require.NoError(t, err)
	found := false
	ast.Inspect(f, func(n ast.Node) bool {
		if spec, ok := n.(*ast.ValueSpec); ok {
			for i, name := range spec.Names {
				if name.Name == "maxReceiverLoops" {
					found = true
					assert.Equal(t, strconv.Itoa(MaxReceivers), spec.Values[i].(*ast.BasicLit).Value)
				}
			}
		}
		return true
	})
	assert.True(t, found, "cmd/consumer/flags.go has no maxReceiverLoops")
}

func TestSimulatedBurstScalesToZeroAfterTheCooldown(t *testing.T) {
	b := Burst{Messages: 10_000, Rule: DefaultRule(), Polling: DefaultPolling, PerPod: 30}
	tl := Simulate(b)
	assert.Equal(t, DefaultMaxReplicas, tl.Peak, "10,000 messages want 200 pods: capped at the maximum")
	after := tl.Zero - tl.Drained
	// The cooldown counts from the last poll that saw messages, up to one
	// polling interval before the drain ends, and zero comes at a poll.
	assert.GreaterOrEqual(t, after, DefaultCooldown-DefaultPolling, "not to zero before the cooldown")
	assert.LessOrEqual(t, after, DefaultCooldown+DefaultPolling, "to zero at the first poll after it")
	// The peak is held until zero: the tail is peak × time after the drain.
	assert.InDelta(t, float64(tl.Peak)*after.Seconds(), tl.TailSeconds, float64(tl.Peak))

	longer := b
	longer.Rule.Cooldown = 300 * time.Second
	lt := Simulate(longer)
	assert.InDelta(t, tl.TailSeconds+float64(tl.Peak)*180, lt.TailSeconds, float64(tl.Peak)*DefaultPolling.Seconds(),
		"each second of cooldown costs the peak count a second")

	fewer := b
	fewer.Rule.MaxReplicas = 3
	ft := Simulate(fewer)
	assert.Equal(t, 3, ft.Peak)
	assert.Greater(t, ft.Drained, tl.Drained, "fewer consumers drain for longer")
}

func TestApplyToNeedsEveryMarker(t *testing.T) {
	d := Document{Path: "x.md", Sections: []string{"a", "b"}}
	doc := "intro\n<!-- cost:a:begin -->\nold\n<!-- cost:a:end -->\nmiddle\n<!-- cost:b:begin -->\n<!-- cost:b:end -->\n"
	got, err := ApplyTo(doc, d, map[string]string{"a": "new a\n", "b": "new b\n"})
	require.NoError(t, err)
	assert.Equal(t, "intro\n<!-- cost:a:begin -->\nnew a\n<!-- cost:a:end -->\nmiddle\n<!-- cost:b:begin -->\nnew b\n<!-- cost:b:end -->\n", got)

	_, err = ApplyTo(strings.Replace(doc, "<!-- cost:b:end -->", "", 1), d, map[string]string{"a": "", "b": ""})
	assert.ErrorContains(t, err, "<!-- cost:b:begin --> has no matching <!-- cost:b:end -->")
	_, err = ApplyTo("no markers", d, map[string]string{"a": "", "b": ""})
	assert.ErrorContains(t, err, "no <!-- cost:a:begin --> marker")
}

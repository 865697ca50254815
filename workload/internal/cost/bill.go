package cost

import (
	"cmp"
	"fmt"
	"slices"
)

// Million is how many messages a bill is for.
const Million = 1_000_000

// sqsBatch is SQS's largest batch, which the producer's sends, the consumer's
// receives and its deletes all use.
const sqsBatch = 10

// Item is one line of a bill: what is counted, how many, and what it costs.
type Item struct {
	// Label is the same on both clouds; Detail says which calls are counted.
	Label, Detail string
	Count         float64
	Unit          string
	Dollars       float64
	// Optional items (router events) are not in the totals: only stacks with
	// routes pay them.
	Optional bool
}

// Bill is what a million messages of BodyBytes cost on one cloud.
type Bill struct {
	Cloud, Region string
	BodyBytes     int
	Items         []Item
	// Compute is the consumer's and the producer's CPU on the node the
	// provisioner would pick first (the cheapest per vCPU), on-demand and spot.
	Node                       Node
	ConsumerCPUs, ProducerCPUs float64 // CPU-seconds for a million messages
	OnDemand, Spot             Compute
}

// Compute is the price of the bill's CPU-seconds at one capacity type.
type Compute struct {
	PerVCPUHour        float64
	Consumer, Producer float64
}

// Total is the requests plus the compute at c, without optional items.
func (b Bill) Total(c Compute) float64 {
	t := c.Consumer + c.Producer
	for _, it := range b.Items {
		if !it.Optional {
			t += it.Dollars
		}
	}
	return t
}

// chunks is how many units of chunk bytes a payload of n bytes is billed as.
func chunks(n, chunk int) float64 {
	return float64(max(1, (n+chunk-1)/chunk))
}

// AWSBill: the producer sends batches of 10 (SendMessageBatch); the consumer
// receives batches of 10 (ReceiveMessage, long polls that find a full queue
// return full batches), writes each message as one conditional PutItem (one
// write unit per started KiB of the row, which is about the body's size plus
// its attribute names), and deletes batches of 10 (DeleteMessageBatch). SQS
// bills each started 64 KiB of a batch's payload as a request.
func AWSBill(p AWSPrices, m Measurements) (Bill, error) {
	cons, prod, err := measured(m, "aws")
	if err != nil {
		return Bill{}, err
	}
	body := cons.BodyBytes
	batches := float64(Million) / sqsBatch
	perBatch := chunks(body*sqsBatch, p.SQSChunkBytes)
	req := func(n float64) float64 { return n * p.SQSPerMillion / Million }
	wcu := float64(Million) * chunks(body+rowOverhead, p.DynamoWriteUnitBytes)
	events := float64(Million) * chunks(body, p.EventBridgeChunkBytes)
	b := Bill{Cloud: "aws", Region: p.Region, BodyBytes: body, Items: []Item{
		{Label: "queue: send", Detail: "SendMessageBatch of 10", Count: batches * perBatch, Unit: "requests", Dollars: req(batches * perBatch)},
		{Label: "queue: receive", Detail: "ReceiveMessage, batches of 10", Count: batches * perBatch, Unit: "requests", Dollars: req(batches * perBatch)},
		{Label: "queue: delete", Detail: "DeleteMessageBatch of 10", Count: batches, Unit: "requests", Dollars: req(batches)},
		{Label: "table writes", Detail: "one conditional PutItem per message", Count: wcu, Unit: "write units", Dollars: wcu * p.DynamoPerMillionWrites / Million},
		{Label: "router events (only with routes)", Detail: "EventBridge PutEvents", Count: events, Unit: "events", Dollars: events * p.EventBridgePerMillion / Million, Optional: true},
	}}
	b.compute(p.Nodes, p.SpotFraction, cons, prod)
	return b, nil
}

// rowOverhead is what a result row holds besides the body's fields: its seven
// attribute names (66 bytes), a second stamp, the processing time and receive
// count (about 45) and processedBy, a pod name (up to about 40), counted from
// store.DynamoDB's item. It decides only when a row passes 1 KiB.
const rowOverhead = 150

// AzureBill: Storage queues have no batch send, so the producer puts one
// message per call; the consumer gets up to 32 per call, writes one entity per
// message and deletes each message with its own call. Event Grid counts a
// published event and its delivery as an operation each.
func AzureBill(p AzurePrices, m Measurements) (Bill, error) {
	cons, prod, err := measured(m, "azure")
	if err != nil {
		return Bill{}, err
	}
	ops := func(n float64) float64 { return n * p.QueuePer10k / 10_000 }
	gets := float64((Million + p.QueueMaxBatch - 1) / p.QueueMaxBatch)
	gridOps := 2 * float64(Million) * chunks(cons.BodyBytes, p.EventGridChunkBytes)
	b := Bill{Cloud: "azure", Region: p.Region, BodyBytes: cons.BodyBytes, Items: []Item{
		{Label: "queue: send", Detail: "Put Message, one per message", Count: Million, Unit: "operations", Dollars: ops(Million)},
		{Label: "queue: receive", Detail: fmt.Sprintf("Get Messages, batches of %d", p.QueueMaxBatch), Count: gets, Unit: "operations", Dollars: ops(gets)},
		{Label: "queue: delete", Detail: "Delete Message, one per message", Count: Million, Unit: "operations", Dollars: ops(Million)},
		{Label: "table writes", Detail: "Insert Entity, one per message", Count: Million, Unit: "transactions", Dollars: Million * p.TablePer10k / 10_000},
		{Label: "router events (only with routes)", Detail: "Event Grid publish + delivery", Count: gridOps, Unit: "operations", Dollars: gridOps * p.EventGridPerMillion / Million, Optional: true},
	}}
	b.compute(p.Nodes, p.SpotFraction, cons, prod)
	return b, nil
}

// measured returns cloud's consumer and producer runs at the default setting,
// which is what a deployed consumer and producer run with.
func measured(m Measurements, cloud string) (cons, prod Run, err error) {
	if cons, err = m.Find(cloud, "consumer", "default"); err != nil {
		return cons, prod, err
	}
	prod, err = m.Find(cloud, "producer", "default")
	return cons, prod, err
}

// compute prices the measured CPU on the cheapest node per vCPU: Karpenter and
// NAP launch the cheapest type that fits the pending pods, and the consumer's
// pods are small enough to fit any allowed type. CPU-milliseconds per 1,000
// messages are CPU-seconds per million.
func (b *Bill) compute(nodes []Node, spotFraction float64, cons, prod Run) {
	b.Node = Cheapest(nodes)
	b.ConsumerCPUs, b.ProducerCPUs = cons.CPUms, prod.CPUms
	at := func(perHour float64) Compute {
		return Compute{PerVCPUHour: perHour, Consumer: b.ConsumerCPUs * perHour / 3600, Producer: b.ProducerCPUs * perHour / 3600}
	}
	b.OnDemand = at(b.Node.PerVCPUHour())
	b.Spot = at(b.Node.PerVCPUHour() * spotFraction)
}

// Cheapest is the node with the lowest on-demand price per vCPU.
func Cheapest(nodes []Node) Node {
	return slices.MinFunc(nodes, func(a, b Node) int { return cmp.Compare(a.PerVCPUHour(), b.PerVCPUHour()) })
}

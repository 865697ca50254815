// Package router publishes work to the stack's event router (producer --via
// router) instead of its queue: an EventBridge custom bus (eventbridge.go) or an
// Event Grid topic taking CloudEvents 1.0 (eventgrid.go). The router's rules
// or subscriptions deliver each event to the queues of the routes that match.
package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/edw-dev/edw/workload/internal/message"
)

// Publisher sends encoded work bodies as events; the producer runs it as it
// runs a queue.
type Publisher interface {
	Send(ctx context.Context, bodies [][]byte) error
	MaxBatch() int
}

// Env is the producer's environment for --via router (the routes contract).
type Env struct {
	Cloud string
	// EventBusName is the EventBridge bus, by name or ARN.
	EventBusName string
	// EventGridEndpoint is the topic's endpoint, https://<topic>.<region>-1.eventgrid.azure.net/api/events.
	EventGridEndpoint string
}

// FromEnv reads the router's variables through getenv.
func FromEnv(getenv func(string) string) Env {
	return Env{Cloud: getenv("EDW_CLOUD"), EventBusName: getenv("EDW_EVENT_BUS_NAME"), EventGridEndpoint: getenv("EDW_EVENTGRID_ENDPOINT")}
}

// EnvHelp describes the router's environment, for the producer's --help.
const EnvHelp = ` with --via router (instead of the queue's variables):
  EDW_EVENT_BUS_NAME               aws: the EventBridge bus, name or ARN (required);
                                   AWS_ENDPOINT_URL_EVENTBRIDGE or AWS_ENDPOINT_URL
                                   point the SDK at an emulator
  EDW_EVENTGRID_ENDPOINT           azure: the Event Grid topic endpoint,
                                   https://<topic>.<region>-1.eventgrid.azure.net/api/events
                                   (required), reached with DefaultAzureCredential
`

// Validate names every missing or bad variable at once.
func (e Env) Validate() error {
	switch e.Cloud {
	case "aws":
		if e.EventBusName == "" {
			return errors.New("EDW_EVENT_BUS_NAME is required with --via router when EDW_CLOUD=aws")
		}
	case "azure":
		if e.EventGridEndpoint == "" {
			return errors.New("EDW_EVENTGRID_ENDPOINT is required with --via router when EDW_CLOUD=azure")
		}
		// Entra tokens travel only over TLS (azcore refuses otherwise).
		if u, err := url.Parse(e.EventGridEndpoint); err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("EDW_EVENTGRID_ENDPOINT=%q: want the topic's https endpoint, https://<topic>.<region>-1.eventgrid.azure.net/api/events", e.EventGridEndpoint)
		}
	default:
		return fmt.Errorf("EDW_CLOUD=%q: want aws or azure", e.Cloud)
	}
	return nil
}

// Open builds the publisher for e's cloud. attempts is how often the SDK tries
// one call; source and typ are every event's source and type.
func Open(ctx context.Context, e Env, source, typ string, attempts int, attemptTimeout time.Duration) (Publisher, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	if e.Cloud == "aws" {
		cfg, err := config.LoadDefaultConfig(ctx,
			config.WithRetryer(func() aws.Retryer {
				return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = attempts })
			}),
			config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(attemptTimeout)))
		if err != nil {
			return nil, fmt.Errorf("load AWS config: %w", err)
		}
		// The SDK reads AWS_ENDPOINT_URL_EVENTBRIDGE and AWS_ENDPOINT_URL itself.
		return NewEventBridge(eventbridge.NewFromConfig(cfg), e.EventBusName, source, typ), nil
	}
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, fmt.Errorf("azure credential: %w", err)
	}
	return NewEventGrid(e.EventGridEndpoint, cred, source, typ, EventGridOptions{Attempts: attempts, AttemptTimeout: attemptTimeout}), nil
}

// work is one body as the data of an event: the key in its metadata, the body
// as the work, so both routers' events carry the key the same way.
type work struct {
	Metadata map[string]string `json:"metadata"`
	Data     json.RawMessage   `json:"data"`
}

// wrap makes a body an event's data. The idempotency key is the body's id, a
// UUID the producer made once per message: every publish attempt of that
// message carries it, whatever event id the router gives each attempt.
func wrap(body []byte) (key string, data []byte, err error) {
	b, err := message.Parse(body, "")
	if err != nil {
		return "", nil, fmt.Errorf("body to publish: %w", err)
	}
	data, err = json.Marshal(work{Metadata: map[string]string{message.MetadataKey: b.ID}, Data: body})
	if err != nil {
		return "", nil, fmt.Errorf("encode event data for %s: %w", b.ID, err)
	}
	return b.ID, data, nil
}

// PartialError is a send of which only some events were accepted: the others
// failed for good (or kept failing), and First says why.
type PartialError struct {
	Accepted, Total int
	First           error
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("%d of %d events not accepted: %v", e.Total-e.Accepted, e.Total, e.First)
}

func (e *PartialError) Unwrap() error { return e.First }

// Delivered tells the producer how many of the batch count as sent.
func (e *PartialError) Delivered() int { return e.Accepted }

// backoff is the pause before retry n (1, 2, ...): 200ms, 400ms, 800ms, ...
func backoff(n int) time.Duration { return time.Duration(100<<n) * time.Millisecond }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

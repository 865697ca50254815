// Package backend builds the queue and store for the cloud the environment names,
// following the workload contract. Clients and credentials are built once here and
// shared: the AWS default chain (IRSA included), or DefaultAzureCredential
// (Workload ID included) or a connection string for Azurite.
package backend

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/edw-dev/edw/workload/internal/queue"
	"github.com/edw-dev/edw/workload/internal/store"
)

// Env is the workload contract's environment.
type Env struct {
	Cloud string
	// AWS
	QueueURL, DLQURL string
	// Azure
	StorageAccount, ConnectionString, QueueName, PoisonQueueName string
	// Both
	TableName string
	// AttemptTimeout bounds one HTTP attempt; zero means DefaultAttemptTimeout.
	AttemptTimeout time.Duration
}

// DefaultAttemptTimeout bounds one HTTP attempt. Neither SDK bounds an attempt by
// default, so a request the service never answers would hang its message for
// good, its visibility extended all the while; cut off, the attempt is retried.
// It must exceed the longest SQS long poll (20s).
const DefaultAttemptTimeout = 30 * time.Second

// FromEnv reads the contract's variables through getenv.
func FromEnv(getenv func(string) string) Env {
	e := Env{
		Cloud:            getenv("EDW_CLOUD"),
		QueueURL:         getenv("EDW_QUEUE_URL"),
		DLQURL:           getenv("EDW_DLQ_URL"),
		StorageAccount:   getenv("EDW_STORAGE_ACCOUNT"),
		ConnectionString: getenv("AZURE_STORAGE_CONNECTION_STRING"),
		QueueName:        getenv("EDW_QUEUE_NAME"),
		PoisonQueueName:  getenv("EDW_POISON_QUEUE_NAME"),
		TableName:        getenv("EDW_TABLE_NAME"),
	}
	if e.PoisonQueueName == "" && e.QueueName != "" {
		e.PoisonQueueName = e.QueueName + "-poison"
	}
	return e
}

// Validate names every missing or conflicting variable at once.
func (e Env) Validate(needStore bool) error {
	var errs []error
	missing := func(name, value string) {
		if value == "" {
			errs = append(errs, fmt.Errorf("%s is required when EDW_CLOUD=%s", name, e.Cloud))
		}
	}
	switch e.Cloud {
	case "aws":
		missing("EDW_QUEUE_URL", e.QueueURL)
		if needStore {
			missing("EDW_DLQ_URL", e.DLQURL)
			missing("EDW_TABLE_NAME", e.TableName)
		}
	case "azure":
		missing("EDW_QUEUE_NAME", e.QueueName)
		if needStore {
			missing("EDW_TABLE_NAME", e.TableName)
		}
		if (e.StorageAccount == "") == (e.ConnectionString == "") {
			errs = append(errs, errors.New("set exactly one of EDW_STORAGE_ACCOUNT (Workload ID) or AZURE_STORAGE_CONNECTION_STRING (Azurite)"))
		}
	default:
		errs = append(errs, fmt.Errorf("EDW_CLOUD=%q: want aws or azure", e.Cloud))
	}
	return errors.Join(errs...)
}

// Backend is a queue and, for the consumer, a store.
type Backend struct {
	Queue queue.Queue
	Store store.Store
}

// Open builds clients for e. visibility is the Azure receive visibility timeout
// (SQS uses the queue's own setting).
func Open(ctx context.Context, e Env, needStore bool, visibility time.Duration) (*Backend, error) {
	if err := e.Validate(needStore); err != nil {
		return nil, err
	}
	if e.AttemptTimeout <= 0 {
		e.AttemptTimeout = DefaultAttemptTimeout
	}
	if e.Cloud == "aws" {
		return openAWS(ctx, e, needStore)
	}
	return openAzure(e, needStore, visibility)
}

func openAWS(ctx context.Context, e Env, needStore bool) (*Backend, error) {
	// The standard retryer backs off on throttling and 5xx; a few more attempts than
	// the default ride out a short outage without surfacing errors.
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 6 })
		}),
		// http.Client.Timeout applies to each attempt: the retryer sends a new request.
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(e.AttemptTimeout)))
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	b := &Backend{Queue: queue.NewSQS(sqs.NewFromConfig(cfg), e.QueueURL, e.DLQURL)}
	if needStore {
		b.Store = store.NewDynamoDB(dynamodb.NewFromConfig(cfg), e.TableName)
	}
	return b, nil
}

func openAzure(e Env, needStore bool, visibility time.Duration) (*Backend, error) {
	var (
		qsvc *azqueue.ServiceClient
		tsvc *aztables.ServiceClient
		err  error
	)
	// The SDK's default retries throttling and 5xx but waits on an unanswered
	// request forever; more, shorter-spaced retries ride out a short outage.
	opts := azcore.ClientOptions{Retry: policy.RetryOptions{
		MaxRetries: 5, TryTimeout: e.AttemptTimeout, RetryDelay: 200 * time.Millisecond, MaxRetryDelay: 5 * time.Second,
	}}
	qopts := &azqueue.ClientOptions{ClientOptions: opts}
	topts := &aztables.ClientOptions{ClientOptions: opts}
	if e.ConnectionString != "" {
		if qsvc, err = azqueue.NewServiceClientFromConnectionString(e.ConnectionString, qopts); err != nil {
			return nil, fmt.Errorf("queue client from connection string: %w", err)
		}
		if needStore {
			if tsvc, err = aztables.NewServiceClientFromConnectionString(e.ConnectionString, topts); err != nil {
				return nil, fmt.Errorf("table client from connection string: %w", err)
			}
		}
	} else {
		cred, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, fmt.Errorf("azure credential: %w", err)
		}
		account := strings.ToLower(e.StorageAccount)
		if qsvc, err = azqueue.NewServiceClient("https://"+account+".queue.core.windows.net/", cred, qopts); err != nil {
			return nil, fmt.Errorf("queue client for %s: %w", account, err)
		}
		if needStore {
			if tsvc, err = aztables.NewServiceClient("https://"+account+".table.core.windows.net/", cred, topts); err != nil {
				return nil, fmt.Errorf("table client for %s: %w", account, err)
			}
		}
	}
	b := &Backend{Queue: queue.NewAzureQueue(qsvc, e.QueueName, e.PoisonQueueName, visibility)}
	if needStore {
		b.Store = store.NewAzureTable(tsvc.NewClient(e.TableName))
	}
	return b, nil
}

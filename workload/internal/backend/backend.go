// Package backend builds the queue and store for the cloud the environment names,
// following the workload contract. Clients and credentials are built once here and
// shared: the AWS default chain (IRSA included), or DefaultAzureCredential
// (Workload ID included) or a connection string for Azurite.
package backend

import (
	"context"
	"errors"
	"fmt"
	"net/url"
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
	// Attempts is how often the SDK tries one call; zero means DefaultAttempts.
	Attempts int
}

// DefaultAttempts rides out a short outage without surfacing errors: the
// consumer runs for good and should not fail a message over a blip.
const DefaultAttempts = 6

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

// EnvHelp describes the environment the programs read, for their --help.
// needStore adds what only the consumer needs.
func EnvHelp(needStore bool) string {
	consumerOnly := func(s string) string {
		if needStore {
			return s
		}
		return ""
	}
	return `Environment (the workload contract; see README.md, "The workload"):
  EDW_CLOUD                        aws or azure (required)
 aws:
  EDW_QUEUE_URL                    SQS queue URL (required)
` + consumerOnly(`  EDW_DLQ_URL                      dead-letter queue URL (required)
  EDW_TABLE_NAME                   DynamoDB table (required)
`) + `  AWS_REGION                       region (required unless in the AWS config file)
  AWS_ENDPOINT_URL                 endpoint of an emulator; AWS_ENDPOINT_URL_SQS and
                                   AWS_ENDPOINT_URL_DYNAMODB set one service each. Without
                                   one, requests go to the queue URL's host if it is not
                                   an AWS host, else to the regional endpoint
  AWS credentials                  the SDK's default chain (IRSA, AWS_ACCESS_KEY_ID, ...)
` + consumerOnly(`  EDW_ROUTE                        the route this consumer serves (optional): results
                                   are stored as <route>:<key> with route, source and type
`) + ` azure:
  EDW_QUEUE_NAME                   queue (required)
` + consumerOnly(`  EDW_POISON_QUEUE_NAME            poison queue (default <queue>-poison)
  EDW_TABLE_NAME                   table (required)
`) + `  EDW_STORAGE_ACCOUNT              storage account, reached with DefaultAzureCredential
                                   (Workload ID), or instead
  AZURE_STORAGE_CONNECTION_STRING  a connection string (Azurite); exactly one of the two
`
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
	if e.Attempts <= 0 {
		e.Attempts = DefaultAttempts
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
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = e.Attempts })
		}),
		// http.Client.Timeout applies to each attempt: the retryer sends a new request.
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(e.AttemptTimeout)))
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	client := sqs.NewFromConfig(cfg)
	configured := aws.ToString(client.Options().BaseEndpoint)
	endpoint, err := sqsEndpoint(configured, []namedURL{{"EDW_QUEUE_URL", e.QueueURL}, {"EDW_DLQ_URL", e.DLQURL}})
	if err != nil {
		return nil, err
	}
	if endpoint != configured {
		client = sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(endpoint) })
	}
	b := &Backend{Queue: queue.NewSQS(client, e.QueueURL, e.DLQURL)}
	if needStore {
		b.Store = store.NewDynamoDB(dynamodb.NewFromConfig(cfg), e.TableName)
	}
	return b, nil
}

func openAzure(e Env, needStore bool, visibility time.Duration) (*Backend, error) {
	var (
		qsvc *azqueue.ServiceClient
		tsvc *aztables.ServiceClient
		// tableEndpoint labels errors: aztables clients do not expose their URL.
		tableEndpoint string
		err           error
	)
	// The SDK's default retries throttling and 5xx but waits on an unanswered
	// request forever; more, shorter-spaced retries ride out a short outage.
	opts := azcore.ClientOptions{Retry: policy.RetryOptions{
		MaxRetries: int32(e.Attempts - 1), TryTimeout: e.AttemptTimeout, RetryDelay: 200 * time.Millisecond, MaxRetryDelay: 5 * time.Second,
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
			tableEndpoint = connectionStringValue(e.ConnectionString, "TableEndpoint")
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
			tableEndpoint = "https://" + account + ".table.core.windows.net/"
			if tsvc, err = aztables.NewServiceClient(tableEndpoint, cred, topts); err != nil {
				return nil, fmt.Errorf("table client for %s: %w", account, err)
			}
		}
	}
	b := &Backend{Queue: queue.NewAzureQueue(qsvc, e.QueueName, e.PoisonQueueName, visibility)}
	if needStore {
		b.Store = store.NewAzureTable(tsvc.NewClient(e.TableName), e.TableName, tableEndpoint)
	}
	return b, nil
}

// connectionStringValue reads one key of an Azure Storage connection string;
// with no explicit endpoint it names the account's default one.
func connectionStringValue(conn, key string) string {
	account := ""
	for _, part := range strings.Split(conn, ";") {
		k, v, _ := strings.Cut(part, "=")
		switch {
		case strings.EqualFold(k, key):
			return v
		case strings.EqualFold(k, "AccountName"):
			account = v
		}
	}
	return "https://" + account + ".table.core.windows.net/ (the account's default endpoint)"
}

// Check reads the queue and, for the consumer, the table once and names every
// one that failed, with the endpoint it used, so a wrong URL, name, endpoint or
// credential stops the program at start-up instead of passing for an idle queue.
func (b *Backend) Check(ctx context.Context) error {
	var errs []error
	if err := b.Queue.Check(ctx); err != nil {
		errs = append(errs, fmt.Errorf("cannot read the %w", err))
	}
	if b.Store != nil {
		if err := b.Store.Check(ctx); err != nil {
			errs = append(errs, fmt.Errorf("cannot read the %w", err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("start-up check: %w", errors.Join(errs...))
	}
	return nil
}

// namedURL is a queue URL and the variable it came from.
type namedURL struct{ name, url string }

// sqsEndpoint decides where SQS requests go. The SDK sends every request to its
// configured endpoint (AWS_ENDPOINT_URL_SQS or AWS_ENDPOINT_URL), or else to the
// regional endpoint, whatever host the queue URL names. A URL on AWS's own hosts
// agrees with that. A URL on another host (an emulator) is honoured when no
// endpoint is configured, and is an error when a different one is: requests
// would silently go somewhere the URL does not say.
func sqsEndpoint(configured string, urls []namedURL) (string, error) {
	endpoint := configured
	var errs []error
	for _, nu := range urls {
		name, raw := nu.name, nu.url
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s=%q: want an SQS queue URL, http(s)://host/account/queue", name, raw))
			continue
		}
		if awsHost(u.Hostname()) {
			continue
		}
		origin := u.Scheme + "://" + u.Host
		switch {
		case endpoint == "":
			endpoint = origin
		case !sameOrigin(endpoint, origin) && configured != "":
			errs = append(errs, fmt.Errorf("%s=%s names host %s, but the SDK sends SQS requests to %s (AWS_ENDPOINT_URL_SQS or AWS_ENDPOINT_URL): "+
				"point both at the same server, or unset the endpoint to use the URL's host", name, raw, u.Host, configured))
		case !sameOrigin(endpoint, origin):
			errs = append(errs, fmt.Errorf("%s=%s names host %s, another server than the queue URL's %s", name, raw, u.Host, endpoint))
		}
	}
	return endpoint, errors.Join(errs...)
}

func awsHost(host string) bool {
	host = strings.ToLower(host)
	for _, suffix := range []string{".amazonaws.com", ".amazonaws.com.cn", ".api.aws"} {
		if strings.HasSuffix(host, suffix) {
			return true
		}
	}
	return false
}

// sameOrigin compares scheme, host and port, taking every loopback name for one.
func sameOrigin(a, b string) bool {
	ua, errA := url.Parse(a)
	ub, errB := url.Parse(b)
	if errA != nil || errB != nil {
		return a == b
	}
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		if u.Scheme == "https" {
			return "443"
		}
		return "80"
	}
	host := func(u *url.URL) string {
		h := strings.ToLower(u.Hostname())
		// *.localhost resolves to loopback (RFC 6761); fauxqs names its queues so.
		if h == "localhost" || strings.HasSuffix(h, ".localhost") || h == "::1" || strings.HasPrefix(h, "127.") {
			return "loopback"
		}
		return h
	}
	return ua.Scheme == ub.Scheme && host(ua) == host(ub) && port(ua) == port(ub)
}

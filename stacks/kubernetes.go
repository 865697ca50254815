package stacks

import (
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/edw-dev/edw/infra/images"
	"github.com/edw-dev/edw/infra/kube"
)

// deployKubernetes deploys the workload onto an existing cluster (the ambient
// kubeconfig, or kubernetes:kubeconfig / kubernetes:context as the Kubernetes
// provider reads them) for a queue and table that already exist. It creates no
// cloud resources; the Kubernetes layer is the same as on EKS and AKS.
func deployKubernetes(ctx *pulumi.Context, cfg *Config) (pulumi.Map, error) {
	e := cfg.Existing
	k8sConfig := config.New(ctx, "kubernetes")
	args := &kubernetes.ProviderArgs{}
	if kc := k8sConfig.Get("kubeconfig"); kc != "" {
		args.Kubeconfig = pulumi.String(kc)
	}
	if c := k8sConfig.Get("context"); c != "" {
		args.Context = pulumi.String(c)
	}
	k8s, err := kubernetes.NewProvider(ctx, "cluster", args)
	if err != nil {
		return nil, fmt.Errorf("kubernetes provider: %w", err)
	}

	var repos images.Repositories
	if e.Registry != "" {
		repos = images.Repositories{
			Producer: pulumi.String(e.Registry + "/edw-producer"), Consumer: pulumi.String(e.Registry + "/edw-consumer"),
		}
	}
	built, err := images.New(ctx, "images", images.Args{
		Repositories: repos, Architectures: cfg.Architectures,
		Prebuilt: images.Refs{Producer: cfg.Images.Producer, Consumer: cfg.Images.Consumer},
	})
	if err != nil {
		return nil, err
	}

	target := existingTarget(e)
	target.Routes = existingRoutes(cfg)
	target.Provider = k8s
	target.Images = kube.Images{Producer: built.Producer, Consumer: built.Consumer}
	// No readers is an empty kube.Readers: nothing is granted.
	target.Readers = kube.Readers{Groups: cfg.ClusterReaders}
	wa := workloadArgs(cfg, target)
	wa.InstallKeda = e.InstallKeda
	wa.ExistingNamespace = !e.CreateNamespace
	if _, err := kube.NewWorkload(ctx, "edw", wa); err != nil {
		return nil, err
	}
	out := pulumi.Map{
		"cloud":         pulumi.String(string(cfg.Cloud)),
		"queueBackend":  pulumi.String(string(e.Backend)),
		"tableName":     pulumi.String(e.TableName),
		"producerImage": built.Producer,
		"consumerImage": built.Consumer,
	}
	if e.Backend == AWS {
		out["queueUrl"], out["dlqUrl"] = pulumi.String(e.QueueURL), pulumi.String(e.DLQURL)
	} else {
		out["queueName"], out["poisonQueueName"] = pulumi.String(e.QueueName), pulumi.String(e.PoisonQueueName)
	}
	return out, nil
}

// existingTarget is the seam for a queue and table that exist: the same
// trigger, environment and identities the cloud stacks hand over, from config.
func existingTarget(e *ExistingConfig) kube.Target {
	t := kube.Target{Cloud: string(e.Backend), CredentialsSecret: e.CredentialsSecret, Env: map[string]pulumi.StringInput{}}
	identity := func(id string) kube.Identity {
		switch {
		case id == "":
			return kube.Identity{}
		case e.Backend == AWS:
			return kube.Identity{Annotations: pulumi.StringMap{"eks.amazonaws.com/role-arn": pulumi.String(id)}}
		default:
			return kube.Identity{
				Annotations: pulumi.StringMap{"azure.workload.identity/client-id": pulumi.String(id)},
				PodLabels:   map[string]string{"azure.workload.identity/use": "true"},
			}
		}
	}
	t.Consumer, t.Producer, t.Keda = identity(e.ConsumerIdentity), identity(e.ProducerIdentity), identity(e.KedaIdentity)
	switch e.Backend {
	case AWS:
		t.Trigger = kube.Trigger{Type: "aws-sqs-queue", Metadata: pulumi.StringMap{
			"queueURL": pulumi.String(e.QueueURL), "awsRegion": pulumi.String(e.AWSRegion),
		}, PodIdentity: "aws", SecretParams: map[string]string{
			"awsAccessKeyID": "AWS_ACCESS_KEY_ID", "awsSecretAccessKey": "AWS_SECRET_ACCESS_KEY",
		}}
		t.Env["EDW_QUEUE_URL"], t.Env["EDW_DLQ_URL"] = pulumi.String(e.QueueURL), pulumi.String(e.DLQURL)
		t.Env["EDW_TABLE_NAME"], t.Env["AWS_REGION"] = pulumi.String(e.TableName), pulumi.String(e.AWSRegion)
		if e.AWSEndpoint != "" {
			t.Trigger.Metadata["awsEndpoint"] = pulumi.String(e.AWSEndpoint)
			t.Env["AWS_ENDPOINT_URL"] = pulumi.String(e.AWSEndpoint)
		}
	case Azure:
		t.Trigger = kube.Trigger{Type: "azure-queue", Metadata: pulumi.StringMap{"queueName": pulumi.String(e.QueueName)},
			PodIdentity: "azure-workload", SecretParams: map[string]string{"connection": "AZURE_STORAGE_CONNECTION_STRING"}}
		if e.KedaIdentity != "" {
			t.Trigger.IdentityID = pulumi.String(e.KedaIdentity)
		}
		if e.StorageAccount != "" {
			t.Trigger.Metadata["accountName"] = pulumi.String(e.StorageAccount)
			t.Env["EDW_STORAGE_ACCOUNT"] = pulumi.String(e.StorageAccount)
		}
		t.Env["EDW_QUEUE_NAME"], t.Env["EDW_POISON_QUEUE_NAME"] = pulumi.String(e.QueueName), pulumi.String(e.PoisonQueueName)
		t.Env["EDW_TABLE_NAME"] = pulumi.String(e.TableName)
	}
	if e.CredentialsSecret != "" {
		t.Trigger.PodIdentity = ""
	}
	return t
}

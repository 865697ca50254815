package kube

import (
	"fmt"
	"strconv"
	"time"

	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Producer is a Job that sends a fixed number of messages to the work queue.
type Producer struct {
	pulumi.ResourceState
	Job pulumi.StringOutput `pulumi:"job"`
}

// ProducerArgs is what the producer Job needs.
type ProducerArgs struct {
	Namespace pulumi.StringInput
	Target    Target
	Settings  ProducerSettings
}

// NewProducer creates the producer's ServiceAccount and Job.
func NewProducer(ctx *pulumi.Context, name string, args ProducerArgs, opts ...pulumi.ResourceOption) (*Producer, error) {
	p := &Producer{}
	if err := ctx.RegisterComponentResource("edw:kube:Producer", name, p, opts...); err != nil {
		return nil, err
	}
	t, s := args.Target, args.Settings
	sa := ProducerServiceAccount
	app := appLabels(sa)
	account, err := newServiceAccount(ctx, name, sa, args.Namespace, t.Producer, p)
	if err != nil {
		return nil, err
	}
	// With routes and a router, the producer publishes events to the router,
	// which fans them out to the routes' queues; otherwise it fills the queue.
	env, cmd := t.Env, pulumi.StringArray{
		pulumi.String("--count=" + strconv.Itoa(s.MessageCount)),
		pulumi.String("--rate=" + strconv.Itoa(s.Rate)),
	}
	if len(t.Routes) > 0 && len(t.RouterEnv) > 0 {
		env = map[string]pulumi.StringInput{}
		for k, v := range t.Env {
			env[k] = v
		}
		for k, v := range t.RouterEnv {
			env[k] = v
		}
		cmd = append(cmd, pulumi.String("--via=router"))
	}
	job, err := batchv1.NewJob(ctx, name, &batchv1.JobArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:      pulumi.String(sa.Name),
			Namespace: args.Namespace,
			Labels:    stringMap(app),
		},
		Spec: &batchv1.JobSpecArgs{
			BackoffLimit: pulumi.Int(3),
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: labels(app, t.Producer)},
				Spec: &corev1.PodSpecArgs{
					ServiceAccountName: account.Metadata.Name().Elem(),
					RestartPolicy:      pulumi.String("Never"),
					SecurityContext:    podSecurity(),
					Tolerations:        tolerations(t.Workload.Tolerations),
					NodeSelector:       stringMap(t.Workload.NodeSelector),
					Containers: corev1.ContainerArray{
						&corev1.ContainerArgs{
							Name:    pulumi.String("producer"),
							Image:   t.Images.Producer,
							Args:    cmd,
							Env:     envVars(env, map[string]string{"EDW_CLOUD": t.Cloud}),
							EnvFrom: secretEnv(t.CredentialsSecret),
							Resources: &corev1.ResourceRequirementsArgs{
								Requests: pulumi.StringMap{"cpu": pulumi.String("100m"), "memory": pulumi.String("64Mi")},
								Limits:   pulumi.StringMap{"memory": pulumi.String("128Mi")},
							},
							SecurityContext: containerSecurity(),
						},
					},
				},
			},
		},
	}, pulumi.Parent(p), pulumi.Timeouts(WorkloadTimeouts(sendTime(s))))
	if err != nil {
		return nil, fmt.Errorf("producer job %s: %w", name, err)
	}
	p.Job = job.Metadata.Name().Elem()
	return p, ctx.RegisterResourceOutputs(p, pulumi.Map{"job": p.Job})
}

// sendTime is how long the producer takes to send its messages at its rate;
// zero when the rate is unlimited.
func sendTime(s ProducerSettings) time.Duration {
	if s.Rate <= 0 {
		return 0
	}
	return time.Duration(s.MessageCount/s.Rate+1) * time.Second
}

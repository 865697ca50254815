package stacks

// existingKeys are the keys only kubernetes stacks read.
func existingKeys() []string {
	return []string{
		"edw:queueBackend", "edw:queueUrl", "edw:dlqUrl", "edw:awsRegion", "edw:awsEndpoint",
		"edw:storageAccount", "edw:queueName", "edw:poisonQueueName", "edw:tableName",
		"edw:credentialsSecret", "edw:consumerIdentity", "edw:producerIdentity", "edw:kedaIdentity",
		"edw:installKeda", "edw:createNamespace", "edw:registry",
	}
}

// existing reads a kubernetes stack's queue, table and credentials. The cross-key
// rules sit at the end, in one place.
func (r *configReader) existing() *ExistingConfig {
	e := &ExistingConfig{}
	backend, _ := r.str("edw:queueBackend", "")
	switch Cloud(backend) {
	case AWS, Azure:
		e.Backend = Cloud(backend)
	default:
		r.fail("edw:queueBackend", backend, "want aws (SQS and DynamoDB) or azure (Storage queues and tables)")
		return e
	}
	required := func(key string) {
		if _, set := r.str(key, ""); !set {
			r.fail(key, "", "required when edw:queueBackend is "+backend)
		}
	}
	identity := func(key string) string {
		if e.Backend == AWS {
			return r.matching(key, "", iamRoleARNRE, "want an IAM role ARN such as arn:aws:iam::123456789012:role/edw-consumer")
		}
		return r.matching(key, "", entraObjectIDRE, "want a Workload ID client id (a lower-case GUID)")
	}
	switch e.Backend {
	case AWS:
		e.QueueURL = r.matching("edw:queueUrl", "", sqsURLRE, "want an SQS queue URL such as https://sqs.us-west-2.amazonaws.com/123456789012/edw")
		e.DLQURL = r.matching("edw:dlqUrl", "", sqsURLRE, "want an SQS queue URL such as https://sqs.us-west-2.amazonaws.com/123456789012/edw-dlq")
		e.TableName = r.matching("edw:tableName", "", dynamoTableRE, "want a DynamoDB table name: 3-255 letters, digits, _ . -")
		e.AWSRegion = r.matching("edw:awsRegion", "", awsRegionRE, "want an AWS region such as us-west-2")
		e.AWSEndpoint = r.matching("edw:awsEndpoint", "", httpURLRE, "want an endpoint URL such as http://localhost:4566, or empty for AWS itself")
		required("edw:queueUrl")
		required("edw:dlqUrl")
		required("edw:tableName")
		required("edw:awsRegion")
		r.onlyOnBackend(e.Backend, "edw:storageAccount", "edw:queueName", "edw:poisonQueueName")
	case Azure:
		e.StorageAccount = r.matching("edw:storageAccount", "", storageAccountRE, "want a storage account name: 3-24 lower-case letters and digits")
		e.QueueName = r.matching("edw:queueName", "", azureQueueRE, "want a queue name: 3-63 lower-case letters, digits and single hyphens")
		e.PoisonQueueName = r.matching("edw:poisonQueueName", "", azureQueueRE, "want a queue name: 3-63 lower-case letters, digits and single hyphens")
		if e.PoisonQueueName == "" && e.QueueName != "" {
			e.PoisonQueueName = e.QueueName + "-poison"
		}
		e.TableName = r.matching("edw:tableName", "", azureTableRE, "want a table name: 3-63 letters and digits, starting with a letter")
		required("edw:queueName")
		required("edw:tableName")
		r.onlyOnBackend(e.Backend, "edw:queueUrl", "edw:dlqUrl", "edw:awsRegion", "edw:awsEndpoint")
	}
	e.CredentialsSecret = r.matching("edw:credentialsSecret", "", dnsLabelRE, "want the name of a Secret in namespace edw (a DNS label)")
	e.ConsumerIdentity = identity("edw:consumerIdentity")
	e.ProducerIdentity = identity("edw:producerIdentity")
	e.KedaIdentity = identity("edw:kedaIdentity")
	e.InstallKeda = r.boolean("edw:installKeda", true)
	e.CreateNamespace = r.boolean("edw:createNamespace", true)
	e.Registry = r.matching("edw:registry", "", registryRE, "want a registry and repository prefix such as ghcr.io/acme or localhost:5000")

	// Credentials come from exactly one place, and never from a config value.
	switch {
	case e.CredentialsSecret == "" && e.ConsumerIdentity == "":
		r.fail("edw:consumerIdentity", "", "set edw:consumerIdentity (pod identity) or edw:credentialsSecret (an existing Secret)")
	case e.CredentialsSecret != "" && (e.ConsumerIdentity != "" || e.ProducerIdentity != "" || e.KedaIdentity != ""):
		r.fail("edw:credentialsSecret", e.CredentialsSecret, "use either pod identity (edw:*Identity) or a Secret, not both")
	case e.CredentialsSecret != "" && e.CreateNamespace:
		r.fail("edw:createNamespace", "true", "must be false with edw:credentialsSecret: create namespace edw with the Secret in it first")
	}
	if e.Backend == Azure && e.CredentialsSecret == "" && e.StorageAccount == "" {
		r.fail("edw:storageAccount", "", "required with pod identity (a connection string comes only from edw:credentialsSecret)")
	}
	return e
}

// onlyOnBackend rejects a key of the other queue backend.
func (r *configReader) onlyOnBackend(backend Cloud, keys ...string) {
	for _, key := range keys {
		if v, set := r.str(key, ""); set {
			r.fail(key, v, "not used when edw:queueBackend is "+string(backend))
		}
	}
}

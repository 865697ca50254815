package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestIRSACredentialPath runs the consumer the way it runs under IRSA: no keys,
// only AWS_ROLE_ARN and a projected token file, so the SDK's default chain must
// call STS AssumeRoleWithWebIdentity (moto answers) before SQS and DynamoDB work.
func TestIRSACredentialPath(t *testing.T) {
	endpoint := need(t, "EDW_TEST_MOTO_ENDPOINT")
	s := awsStack(t, endpoint, endpoint, 30)
	produce(t, s, "--count=20")

	token := filepath.Join(t.TempDir(), "token")
	header := "eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3QifQ"
	claims := "eyJpc3MiOiJodHRwczovL29pZGMuZWtzLmV4YW1wbGUiLCJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZWR3OmVkdy1jb25zdW1lciIsImF1ZCI6InN0cy5hbWF6b25hd3MuY29tIn0"
	if err := os.WriteFile(token, []byte(header+"."+claims+".c2ln"), 0o600); err != nil {
		t.Fatal(err)
	}
	irsa := func(tokenFile string) *stack {
		c := *s
		c.env = nil
		for _, kv := range s.env {
			if strings.HasPrefix(kv, "AWS_ACCESS_KEY_ID=") || strings.HasPrefix(kv, "AWS_SECRET_ACCESS_KEY=") {
				continue
			}
			c.env = append(c.env, kv)
		}
		// AWS_ENDPOINT_URL alone does not reach the STS client the default chain
		// builds for web identity (config resolves the base endpoint after the
		// credentials), so STS gets its service-specific variable.
		c.env = append(c.env, "AWS_ENDPOINT_URL_STS="+endpoint, "AWS_ROLE_ARN=arn:aws:iam::123456789012:role/edw-consumer",
			"AWS_WEB_IDENTITY_TOKEN_FILE="+tokenFile, "AWS_ROLE_SESSION_NAME=edw-test",
			"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent", "AWS_CONFIG_FILE=/nonexistent")
		return &c
	}

	// Control: without a readable token there are no credentials: the start-up
	// check fails, naming the queue, and nothing is processed.
	r := runBinary(t, bin.consumer, irsa(filepath.Join(t.TempDir(), "missing")).env, time.Minute,
		"--exit-when-idle=3s", "--metrics-addr=127.0.0.1:0")
	assert.Equal(t, 1, r.code, "no credentials is a failure, not an idle queue")
	assert.Contains(t, r.stderr, "cannot read the queue")
	assert.Empty(t, s.rows(t), "no credentials, no writes")

	finish(t, consumer(t, irsa(token), "--exit-when-idle=3s"), 2*time.Minute)
	assertExactlyOnce(t, s, 20)
}

package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stackPolicies are the workload roles' policy documents exactly as the aws
// stack renders them (stacks.TestAWSPolicyDocumentsRender under Pulumi mocks),
// with the ARN each resource role stood for there.
type stackPolicies struct {
	Resources map[string]string          `json:"resources"`
	Policies  map[string]json.RawMessage `json:"policies"`
}

func renderStackPolicies(t *testing.T) stackPolicies {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "test", "-count=1", "-run", "^TestAWSPolicyDocumentsRender$", "./stacks/")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "EDW_RENDER_DIR="+dir)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "render the stack's policies: %s", out)
	raw, err := os.ReadFile(filepath.Join(dir, "aws-policies.json"))
	require.NoError(t, err)
	var p stackPolicies
	require.NoError(t, json.Unmarshal(raw, &p))
	require.Len(t, p.Policies, 3)
	return p
}

// motoBatchActions: AWS authorizes a batch call by its single action
// (SendMessageBatch by sqs:SendMessage), but moto 5.2 checks the call's own
// name, so a policy given to moto carries the batch name beside each single
// action, and loses both together.
var motoBatchActions = map[string]string{
	"sqs:SendMessage": "sqs:SendMessageBatch", "sqs:DeleteMessage": "sqs:DeleteMessageBatch",
	"sqs:ChangeMessageVisibility": "sqs:ChangeMessageVisibilityBatch",
}

// forMoto is identity's rendered policy with the stack's ARNs replaced by the
// ones moto gave the same resources, and optionally one action left out. moto
// authorizes DynamoDB calls against resource "*" (only SQS resolves the queue's
// ARN), so DynamoDB statements name "*" here: moto checks their actions, not
// their table; the ARN scoping of that statement is asserted by the stack tests.
// An empty result ("") means the role gets no policy at all.
func (p stackPolicies) forMoto(t *testing.T, identity string, arns map[string]string, without string) (doc string, actions []string) {
	t.Helper()
	text := string(p.Policies[identity])
	for role, arn := range p.Resources {
		text = strings.ReplaceAll(text, `"`+arn+`"`, `"`+arns[role]+`"`)
	}
	var d struct {
		Version   string
		Statement []map[string]any
	}
	require.NoError(t, json.Unmarshal([]byte(text), &d))
	var kept []map[string]any
	for _, st := range d.Statement {
		var acts []string
		for _, a := range st["Action"].([]any) {
			action := a.(string)
			actions = append(actions, action)
			if action == without {
				continue
			}
			acts = append(acts, action)
			if batch, ok := motoBatchActions[action]; ok {
				acts = append(acts, batch)
			}
		}
		if strings.HasPrefix(acts0(st), "dynamodb:") {
			st["Resource"] = "*"
		}
		if len(acts) > 0 {
			st["Action"] = acts
			kept = append(kept, st)
		}
	}
	if len(kept) == 0 {
		return "", actions
	}
	d.Statement = kept
	b, err := json.Marshal(d)
	require.NoError(t, err)
	return string(b), actions
}

func acts0(st map[string]any) string {
	if a, ok := st["Action"].([]any); ok && len(a) > 0 {
		s, _ := a[0].(string)
		return s
	}
	return ""
}

// motoIAM is a private moto server that enforces IAM after its first three
// calls, which create the admin user the test sets up with.
type motoIAM struct {
	endpoint string
	admin    aws.Credentials
}

func startMotoIAM(t *testing.T) *motoIAM {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	cmd := exec.Command("python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.Env = append(os.Environ(), "INITIAL_NO_AUTH_ACTION_COUNT=3")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Skipf("moto_server cannot start here: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	m := &motoIAM{endpoint: fmt.Sprintf("http://127.0.0.1:%d", port)}
	// moto imports every service at start: tens of seconds on a loaded machine.
	eventually(t, 90*time.Second, "moto listens", func() bool {
		c, err := net.Dial("tcp", l.Addr().String())
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	anyone := aws.Credentials{AccessKeyID: "bootstrap", SecretAccessKey: "bootstrap"}
	m.iam(t, anyone, "CreateUser", "UserName", "admin")
	m.iam(t, anyone, "PutUserPolicy", "UserName", "admin", "PolicyName", "all",
		"PolicyDocument", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)
	var key struct {
		AccessKeyID     string `xml:"CreateAccessKeyResult>AccessKey>AccessKeyId"`
		SecretAccessKey string `xml:"CreateAccessKeyResult>AccessKey>SecretAccessKey"`
	}
	require.NoError(t, xml.Unmarshal(m.iam(t, anyone, "CreateAccessKey", "UserName", "admin"), &key))
	m.admin = aws.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey}
	return m
}

// iam calls moto's IAM query API, signed with creds.
func (m *motoIAM) iam(t *testing.T, creds aws.Credentials, action string, kv ...string) []byte {
	t.Helper()
	form := url.Values{"Action": {action}, "Version": {"2010-05-08"}}
	for i := 0; i+1 < len(kv); i += 2 {
		form.Set(kv[i], kv[i+1])
	}
	body := form.Encode()
	req, err := http.NewRequest(http.MethodPost, m.endpoint+"/", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sum := sha256.Sum256([]byte(body))
	require.NoError(t, v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "iam", "us-east-1", time.Now()))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "iam %s: %s", action, out)
	return out
}

// role creates a role any web identity may assume, carrying policy.
func (m *motoIAM) role(t *testing.T, name, policy string) string {
	t.Helper()
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/oidc.eks.example"},"Action":"sts:AssumeRoleWithWebIdentity"}]}`
	var created struct {
		ARN string `xml:"CreateRoleResult>Role>Arn"`
	}
	require.NoError(t, xml.Unmarshal(m.iam(t, m.admin, "CreateRole", "RoleName", name, "AssumeRolePolicyDocument", trust), &created))
	if policy != "" {
		m.iam(t, m.admin, "PutRolePolicy", "RoleName", name, "PolicyName", "edw", "PolicyDocument", policy)
	}
	return created.ARN
}

// stsSigner is an endpoint for STS that signs each request as the admin before
// moto sees it. AssumeRoleWithWebIdentity is an anonymous call, but moto 5.2
// with IAM enforcement fails any request without an Authorization header (500,
// KeyError). The credentials it returns are the role's, and every later call is
// evaluated against the role's policy alone.
func (m *motoIAM) stsSigner(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), r.Method, m.endpoint+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req.Header.Set("Content-Type", r.Header.Get("Content-Type"))
		sum := sha256.Sum256(body)
		if err := v4.NewSigner().SignHTTP(r.Context(), m.admin, req, hex.EncodeToString(sum[:]), "sts", "us-east-1", time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// irsaEnv is what a pod with IRSA sees: a role ARN and a token file, no keys.
func (m *motoIAM) irsaEnv(t *testing.T, roleARN string) []string {
	t.Helper()
	token := filepath.Join(t.TempDir(), "token")
	claims := `{"iss":"https://oidc.eks.example","sub":"system:serviceaccount:edw:edw-consumer","aud":"sts.amazonaws.com"}`
	jwt := "eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3QifQ." + b64url(claims) + ".c2ln"
	require.NoError(t, os.WriteFile(token, []byte(jwt), 0o600))
	return []string{"AWS_REGION=us-east-1", "AWS_ENDPOINT_URL=" + m.endpoint, "AWS_ENDPOINT_URL_STS=" + m.stsSigner(t),
		"AWS_ROLE_ARN=" + roleARN, "AWS_WEB_IDENTITY_TOKEN_FILE=" + token, "AWS_ROLE_SESSION_NAME=edw-test",
		"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent", "AWS_CONFIG_FILE=/nonexistent"}
}

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// syncBuffer is a bytes.Buffer a process writes to while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// denied is how a denial reaches the binaries' logs: moto answers 403
// AccessDenied with an XML body, which the JSON-protocol SDK clients report by
// status code only.
const denied = "StatusCode: 403"

// TestStackPoliciesUnderRealIAMEvaluation gives the real binaries, through the
// IRSA web-identity path, roles carrying exactly the policies the aws stack
// renders, on a moto that enforces IAM: everything works, and without any one
// action of a policy the call that needs it is denied (AccessDenied). KEDA's
// one call is made as its scaler makes it.
func TestStackPoliciesUnderRealIAMEvaluation(t *testing.T) {
	policies := renderStackPolicies(t)
	m := startMotoIAM(t)
	admin := aws.Config{Region: "us-east-1", Credentials: credentials.StaticCredentialsProvider{Value: m.admin}}
	ctx := context.Background()

	// fresh makes a queue, DLQ and table as admin, and the roles' policies for them.
	fresh := func(t *testing.T) (*stack, map[string]string) {
		s := awsStackWith(t, m.endpoint, m.endpoint, 2, admin)
		arns := map[string]string{"table": "*"}
		for role, key := range map[string]string{"queue": "EDW_QUEUE_URL", "dlq": "EDW_DLQ_URL"} {
			url := envValue(s.env, key)
			out, err := sqs.NewFromConfig(admin, func(o *sqs.Options) { o.BaseEndpoint = aws.String(m.endpoint) }).GetQueueAttributes(ctx,
				&sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
			require.NoError(t, err)
			arns[role] = out.Attributes["QueueArn"]
		}
		return s, arns
	}
	asRole := func(t *testing.T, s *stack, identity string, arns map[string]string, without string) ([]string, []string) {
		doc, actions := policies.forMoto(t, identity, arns, without)
		arn := m.role(t, unique("edw-"+identity+"-"), doc)
		var env []string
		for _, kv := range s.env {
			if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
				continue
			}
			env = append(env, kv)
		}
		return append(env, m.irsaEnv(t, arn)...), actions
	}
	consume := func(t *testing.T, env []string) ran {
		// A slow table (each write 1.5s) makes the consumer extend visibility.
		slow := newRecorder(t, m.endpoint, awsOperation, map[string]time.Duration{"DynamoDB_20120810.PutItem": 1500 * time.Millisecond})
		env = append(env, "AWS_ENDPOINT_URL_DYNAMODB="+slow.proxy.URL)
		return runUntil(t, bin.consumer, env, 90*time.Second, denied,
			"--exit-when-idle=3s", "--wait=1s", "--visibility-timeout=2s", "--metrics-addr=127.0.0.1:0")
	}
	seed := func(t *testing.T, s *stack) {
		s.send(t, `{"msg":`) // malformed: dead-lettered
		for i := range 3 {
			s.send(t, fmt.Sprintf(`{"id":"m-%d","msg":"x","srcStamp":"2026-11-25 10:00:00.000000"}`, i))
		}
	}

	t.Run("consumer with the stack's policy", func(t *testing.T) {
		s, arns := fresh(t)
		seed(t, s)
		env, actions := asRole(t, s, "consumer", arns, "")
		r := consume(t, env)
		require.Equal(t, 0, r.code, tail(r.stderr, 3000))
		assert.NotContains(t, r.stderr, denied)
		assert.Len(t, s.rows(t), 3)
		assert.Equal(t, 1, s.dlqLen(t))
		for _, without := range actions {
			t.Run("without "+without, func(t *testing.T) {
				s, arns := fresh(t)
				seed(t, s)
				env, _ := asRole(t, s, "consumer", arns, without)
				r := consume(t, env)
				assert.Contains(t, r.stderr, denied, "without %s the consumer is denied", without)
			})
		}
	})
	t.Run("producer with the stack's policy", func(t *testing.T) {
		s, arns := fresh(t)
		env, actions := asRole(t, s, "producer", arns, "")
		r := runBinary(t, bin.producer, env, time.Minute, "--count=5", "--quiet")
		require.Equal(t, 0, r.code, r.stderr)
		assert.Equal(t, 5, s.len(t))
		for _, without := range actions {
			s, arns := fresh(t)
			env, _ := asRole(t, s, "producer", arns, without)
			r := runBinary(t, bin.producer, env, time.Minute, "--count=5", "--quiet")
			assert.NotEqual(t, 0, r.code)
			assert.Contains(t, r.stderr, denied, "without %s the producer is denied", without)
		}
	})
	t.Run("keda's scaler call with the stack's policy", func(t *testing.T) {
		s, arns := fresh(t)
		for _, without := range []string{"", "sqs:GetQueueAttributes"} {
			env, _ := asRole(t, s, "keda", arns, without)
			creds := assumeWebIdentity(t, envValue(env, "AWS_ENDPOINT_URL_STS"), envValue(env, "AWS_ROLE_ARN"), envValue(env, "AWS_WEB_IDENTITY_TOKEN_FILE"))
			q := sqs.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.StaticCredentialsProvider{Value: creds}},
				func(o *sqs.Options) { o.BaseEndpoint = aws.String(m.endpoint) })
			url := envValue(s.env, "EDW_QUEUE_URL")
			_, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []sqstypes.QueueAttributeName{
				sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
			if without == "" {
				assert.NoError(t, err)
			} else {
				assert.ErrorContains(t, err, denied)
			}
		}
	})
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// assumeWebIdentity is the STS call KEDA's aws pod identity makes.
func assumeWebIdentity(t *testing.T, endpoint, roleARN, tokenFile string) aws.Credentials {
	t.Helper()
	token, err := os.ReadFile(tokenFile)
	require.NoError(t, err)
	form := url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"}, "RoleArn": {roleARN},
		"RoleSessionName": {"keda"}, "WebIdentityToken": {string(token)}}
	resp, err := http.PostForm(endpoint+"/", form)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var out struct {
		Key     string `xml:"AssumeRoleWithWebIdentityResult>Credentials>AccessKeyId"`
		Secret  string `xml:"AssumeRoleWithWebIdentityResult>Credentials>SecretAccessKey"`
		Session string `xml:"AssumeRoleWithWebIdentityResult>Credentials>SessionToken"`
	}
	require.NoError(t, xml.Unmarshal(body, &out))
	return aws.Credentials{AccessKeyID: out.Key, SecretAccessKey: out.Secret, SessionToken: out.Session}
}

// runUntil runs binary until it exits or its stderr shows stop, then stops it
// with SIGTERM (a consumer that keeps being denied keeps retrying).
func runUntil(t *testing.T, binary string, env []string, within time.Duration, stop string, args ...string) ran {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(within)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var err error
wait:
	for {
		select {
		case err = <-done:
			break wait
		case <-tick.C:
			if strings.Contains(errb.String(), stop) {
				_ = cmd.Process.Signal(syscall.SIGTERM)
				err = <-done
				break wait
			}
		case <-deadline:
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("%s did not finish within %s; stderr:\n%s", binary, within, tail(errb.String(), 3000))
		}
	}
	r := ran{stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	if exit, ok := err.(*exec.ExitError); ok {
		r.code = exit.ExitCode()
	}
	return r
}

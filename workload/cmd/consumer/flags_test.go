package main

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEveryBadFlagIsNamedWithItsValue(t *testing.T) {
	var out bytes.Buffer
	_, err := parseFlags([]string{"--wait", "25s", "--drain-timeout", "-5s", "--exit-when-idle", "-1s",
		"--visibility-timeout", "1500ms", "--receivers", "0", "--max-receive-count", "0", "--metrics-addr", "9090", "extra"}, &out)
	require.Error(t, err)
	for _, want := range []string{
		"--wait 25s: want 0s to 20s",
		"--drain-timeout -5s: want more than 0",
		"--exit-when-idle -1s: want 0 (never) or more",
		"--visibility-timeout 1.5s: want whole seconds from 2s to 12h",
		"--receivers 0: want 1 to 100",
		"--max-receive-count 0: want 1 to 1000",
		`--metrics-addr "9090": want host:port`,
		`unexpected argument "extra"`,
	} {
		assert.Contains(t, err.Error(), want)
	}
	_, err = parseFlags([]string{"--wait", "-1s"}, &out)
	assert.ErrorContains(t, err, "--wait -1s: want 0s to 20s")
	// An empty long poll lasts the whole wait: a stall limit must outlast it.
	_, err = parseFlags([]string{"--stall-after", "20s"}, &out)
	assert.ErrorContains(t, err, "--stall-after 20s: want 0 (the wait plus 90s) or more than --wait")
	_, err = parseFlags([]string{"--wait", "5s", "--stall-after", "6s"}, &out)
	assert.NoError(t, err)
}

func TestDefaultsAndLimitsAreAccepted(t *testing.T) {
	c, err := parseFlags(nil, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, 20*time.Second, c.wait)
	_, err = parseFlags([]string{"--wait", "0s", "--exit-when-idle", "0", "--visibility-timeout", "12h", "--metrics-addr", "127.0.0.1:0"}, &bytes.Buffer{})
	assert.NoError(t, err)
}

func TestHelpListsTheEnvironment(t *testing.T) {
	var out bytes.Buffer
	_, err := parseFlags([]string{"--help"}, &out)
	require.True(t, errors.Is(err, flag.ErrHelp))
	for _, v := range []string{"EDW_CLOUD", "EDW_QUEUE_URL", "EDW_DLQ_URL", "EDW_TABLE_NAME", "AWS_REGION", "AWS_ENDPOINT_URL",
		"EDW_QUEUE_NAME", "EDW_POISON_QUEUE_NAME", "EDW_STORAGE_ACCOUNT", "AZURE_STORAGE_CONNECTION_STRING", "-wait"} {
		assert.Contains(t, out.String(), v)
	}
	assert.Equal(t, 0, run([]string{"--help"}, func(string) string { return "" }, &bytes.Buffer{}, &bytes.Buffer{}), "--help exits 0")
}

func TestBadFlagsAndEnvironmentExit2(t *testing.T) {
	var stderr bytes.Buffer
	assert.Equal(t, 2, run([]string{"--wait", "25s"}, func(string) string { return "" }, &bytes.Buffer{}, &stderr))
	assert.Contains(t, stderr.String(), "--wait 25s")
	stderr.Reset()
	assert.Equal(t, 2, run(nil, func(string) string { return "" }, &bytes.Buffer{}, &stderr))
	assert.Contains(t, stderr.String(), `EDW_CLOUD=""`)
}

// EDW_ROUTE prefixes every result id, so a value that is not a route's name
// stops the consumer at start-up, named with its value, beside any other problem.
func TestABadRouteExits2NamingIt(t *testing.T) {
	env := map[string]string{"EDW_CLOUD": "aws", "EDW_QUEUE_URL": "http://127.0.0.1:1/000/q", "EDW_DLQ_URL": "http://127.0.0.1:1/000/d",
		"EDW_TABLE_NAME": "t", "EDW_ROUTE": "Orders/A"}
	var stderr bytes.Buffer
	assert.Equal(t, 2, run([]string{"--metrics-addr", "127.0.0.1:0"}, func(k string) string { return env[k] }, &bytes.Buffer{}, &stderr))
	assert.Contains(t, stderr.String(), `EDW_ROUTE="Orders/A": want the route's name, a DNS label`)
	for _, ok := range []string{"", "a", "orders-eu-1", strings.Repeat("r", 63)} {
		assert.NoError(t, routeProblem(ok), ok)
	}
	for _, bad := range []string{"-a", "a-", "A", "a_b", "a:b", strings.Repeat("r", 64)} {
		assert.Error(t, routeProblem(bad), bad)
	}
	var help bytes.Buffer
	_, _ = parseFlags([]string{"--help"}, &help)
	assert.Contains(t, help.String(), "EDW_ROUTE")
}

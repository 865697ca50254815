package main

import (
	"bytes"
	"errors"
	"flag"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEveryBadFlagIsNamedWithItsValue(t *testing.T) {
	_, err := parseFlags([]string{"--count", "-1", "--rate", "-2", "--concurrency", "0", "--max-failures", "0"}, &bytes.Buffer{})
	require.Error(t, err)
	for _, want := range []string{
		"--count -1: want 0 (until stopped) or more",
		"--rate -2: want 0 (unlimited) or more",
		"--concurrency 0: want 1 to 64",
		"--max-failures 0: want at least 1",
	} {
		assert.Contains(t, err.Error(), want)
	}
	_, err = parseFlags([]string{"--rate", "NaN"}, &bytes.Buffer{})
	assert.ErrorContains(t, err, "--rate NaN")
}

func TestHelpListsTheEnvironment(t *testing.T) {
	var out bytes.Buffer
	_, err := parseFlags([]string{"-h"}, &out)
	require.True(t, errors.Is(err, flag.ErrHelp))
	for _, v := range []string{"EDW_CLOUD", "EDW_QUEUE_URL", "AWS_REGION", "AWS_ENDPOINT_URL", "EDW_QUEUE_NAME",
		"EDW_STORAGE_ACCOUNT", "AZURE_STORAGE_CONNECTION_STRING", "-count"} {
		assert.Contains(t, out.String(), v)
	}
	assert.NotContains(t, out.String(), "EDW_DLQ_URL", "the producer needs no dead-letter queue")
}

func TestViaRouterFlags(t *testing.T) {
	c, err := parseFlags(nil, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, config{count: 1000, concurrency: 4, maxFailures: 3, msg: "edw work item", via: "queue", source: "edw.producer", typ: "edw.work"}, c,
		"the queue by default; the contract's default source and type")
	c, err = parseFlags([]string{"--via", "router", "--source", "com.orders", "--type", "OrderCreated"}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, []string{"router", "com.orders", "OrderCreated"}, []string{c.via, c.source, c.typ})

	_, err = parseFlags([]string{"--via", "bus"}, &bytes.Buffer{})
	assert.ErrorContains(t, err, `--via "bus": want queue or router`)
	_, err = parseFlags([]string{"--type", "OrderCreated"}, &bytes.Buffer{})
	assert.ErrorContains(t, err, `--type "OrderCreated": want --via router`)
	_, err = parseFlags([]string{"--via", "router", "--source", " ", "--type", ""}, &bytes.Buffer{})
	assert.ErrorContains(t, err, `--source " ": want a non-empty event source`)
	assert.ErrorContains(t, err, `--type "": want a non-empty event type`)

	var help bytes.Buffer
	_, _ = parseFlags([]string{"-h"}, &help)
	for _, v := range []string{"-via", "-source", "-type", "EDW_EVENT_BUS_NAME", "EDW_EVENTGRID_ENDPOINT", "AWS_ENDPOINT_URL_EVENTBRIDGE"} {
		assert.Contains(t, help.String(), v)
	}
}

// --via router reads the router's variables, not the queue's, and names what
// is missing before anything is sent.
func TestViaRouterNeedsTheRoutersEnvironment(t *testing.T) {
	env := map[string]string{"EDW_CLOUD": "azure", "EDW_EVENTGRID_ENDPOINT": "http://topic.example/api/events"}
	var stderr bytes.Buffer
	code := run([]string{"--via", "router", "--quiet"}, func(k string) string { return env[k] }, &bytes.Buffer{}, &stderr)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr.String(), "EDW_EVENTGRID_ENDPOINT=\"http://topic.example/api/events\": want the topic's https endpoint")
	assert.NotContains(t, stderr.String(), "EDW_QUEUE_NAME", "the queue is not needed")
	stderr.Reset()
	env = map[string]string{"EDW_CLOUD": "aws", "EDW_QUEUE_URL": "http://127.0.0.1:1/000/q"}
	assert.Equal(t, 2, run([]string{"--via", "router"}, func(k string) string { return env[k] }, &bytes.Buffer{}, &stderr))
	assert.Contains(t, stderr.String(), "EDW_EVENT_BUS_NAME is required")
}

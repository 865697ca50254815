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

package main

import (
	"testing"

	"github.com/edw-dev/edw/workload/internal/version/versiontest"
)

func TestVersionPrintsTheBuildAndExits(t *testing.T) {
	versiontest.AssertPrintsTheBuildAndExits(t, "producer", run)
}

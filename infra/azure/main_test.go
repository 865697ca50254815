package azure

import (
	"testing"

	"github.com/edw-dev/edw/internal/pulumitest"
)

// TestMain clears the user's cloud, Kubernetes and Pulumi variables first.
func TestMain(m *testing.M) { pulumitest.Main(m) }

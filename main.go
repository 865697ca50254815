// Command edw is the Pulumi program that deploys the event-driven workflow to AWS or Azure.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/edw-dev/edw/stacks"
)

func main() {
	pulumi.Run(stacks.Run)
}

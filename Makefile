# One entry point for every check; CI (.ci/run and .github/workflows/test.yml) runs `make test`.
GO ?= go
ACTIONLINT := github.com/rhysd/actionlint/cmd/actionlint@v1.7.8
SHELL := /bin/bash

.PHONY: test lint test-infra test-workload test-cluster bench demo mutation

# test-infra keeps the objects it renders here for the cluster lab.
RENDER_DIR := $(CURDIR)/.build/render

# Every step clears the user's cloud, Kubernetes and Pulumi variables first
# (scripts/testenv.sh) and lists the tests it skipped; make test ends with the
# whole list, and with CI=true a skipped test fails the run.
test: lint test-infra test-workload
	EDW_RENDER_DIR=$(RENDER_DIR) bash scripts/test-cluster.sh
	@source scripts/testenv.sh && testenv_skips "make test" .build/skipped/{infra,workload,cluster}.txt

lint:
	@unformatted=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:" $$unformatted; exit 1; fi
	$(GO) vet ./...
	cd tools/kubevalidate && $(GO) vet ./...
	cd workload && $(GO) vet ./... && $(GO) vet -tags labreport ./internal/autoscale/
	cd lab && $(GO) vet ./...
	cd tools/testreport && $(GO) vet ./...
	$(GO) run $(ACTIONLINT) .github/workflows/*.yml
	@# The test scripts forget the user's cloud settings, whatever the shell holds.
	@left=$$(env KUBECONFIG=/nonexistent AWS_PROFILE=edw-none AWS_REGION=sa-east-1 AZURE_TENANT_ID=x ARM_CLIENT_ID=x \
	  PULUMI_BACKEND_URL=file:///nonexistent bash -c 'source scripts/testenv.sh && testenv_clean && env' | \
	  grep -E '^(KUBECONFIG|AWS_|AZURE_|ARM_|PULUMI_)' || true); \
	if [ -n "$$left" ]; then echo "scripts/testenv.sh left the user's variables set: $$left"; exit 1; fi

# The infra tests render every Kubernetes object they record; tools/kubevalidate
# then decodes each one strictly into the Kubernetes, KEDA and Karpenter Go types.
test-infra:
	EDW_RENDER_DIR=$(RENDER_DIR) bash scripts/test-infra.sh

# Starts moto, fauxqs, dynalite and Azurite on random loopback ports, runs the
# workload module's unit and integration tests against them, stops them.
test-workload:
	bash scripts/test-workload.sh

# The cluster lab: a real kube-apiserver, kube-controller-manager, KEDA operator and
# metrics adapter (built once, cached) take every rendered object and scale real
# consumer processes on the emulators. Renders the objects itself; prints timelines.
test-cluster:
	bash scripts/test-cluster.sh

# Consumer and producer throughput beside the emulators' own ceiling, as a ratio.
bench:
	bash scripts/test-workload.sh -run '^$$' -bench . -benchtime 1x -timeout 40m

# Mutation testing (gremlins v0.6.0), one package at a time, with the emulators up;
# not part of make test (see README for how long it takes). Every workload/internal
# package by default: make mutation PKGS="workload/internal/message stacks"
PKGS ?=
mutation:
	bash scripts/mutation.sh $(PKGS)

# The whole event flow locally: make demo STACK=azure DEMO_ARGS="--messages 5000 --rate 300"
STACK ?= aws
DEMO_ARGS ?= --messages 3000 --rate 200
demo:
	bash scripts/demo.sh $(STACK) $(DEMO_ARGS)

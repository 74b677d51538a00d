# Foundry. The README's two commands are `make demo` and `make test`.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN     := bin

.PHONY: all build demo test test-unit fuzz-short e2e bench clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/foundry ./cmd/foundry-agent

# Builds, starts a controller and several agents on this machine, shows the
# fleet, and cleans up.
demo: build
	./e2e/demo.sh $(BIN)

# The whole suite: unit and integration tests (race detector), a short fuzz
# pass over every decoder, and the end-to-end tests on real systemd hosts
# (those skip with the reason when not root or the host tools are missing).
test: test-unit fuzz-short e2e

test-unit:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m $$($(GO) list ./... | grep -v /e2e)

FUZZTIME ?= 5s
fuzz-short:
	./e2e/fuzz.sh $(FUZZTIME)

clean:
	rm -rf $(BIN)

-include e2e/e2e.mk

# Bootstrap N real test hosts from bare to registered, against a plain-SSH
# baseline in the same run (see e2e/bench_bootstrap_test.go).
bench-bootstrap:
	FOUNDRY_E2E=1 FOUNDRY_BENCH_BOOTSTRAP=1 FOUNDRY_E2E_RAISE_INOTIFY=1 $(GO) test -count=1 -timeout 30m -run TestBenchBootstrap -v ./e2e/

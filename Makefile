# Foundry. The README's two commands are `make demo` and `make test`.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
BIN     := bin

.PHONY: all build demo test test-unit cross cross-quick docs package reproducible reproducible-quick fuzz-short e2e bench clean

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
# Each phase says how long it took, so a slow CI run shows where.
TEST_PHASES := test-unit cross-quick reproducible-quick fuzz-short e2e
test:
	@for t in $(TEST_PHASES); do s=$$(date +%s); \
		$(MAKE) --no-print-directory $$t || exit $$?; \
		echo "make test: $$t took $$(( $$(date +%s) - s )) s"; done

test-unit:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m $$($(GO) list ./... | grep -v /e2e)

# The CLI and the controller build for every platform an operator may run
# them on; the agent is Linux-only (systemd). Only compiles (the build
# cache keeps repeated runs short); nothing is written.
CROSS_TARGETS ?= darwin/amd64 darwin/arm64 windows/amd64 windows/arm64
cross:
	@set -e; for t in $(CROSS_TARGETS); do \
		echo "cross: foundry $$t"; \
		CGO_ENABLED=0 GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) build -o /dev/null ./cmd/foundry; \
	done

# One build per OS in `make test`: build tags differ by OS, not by
# architecture, and each cold cross-build of the CLI costs minutes on a
# fresh CI machine. `make cross` (and `make package`) still build them all.
cross-quick:
	@$(MAKE) --no-print-directory cross CROSS_TARGETS="darwin/arm64 windows/amd64"

# The generated CLI reference, one page per command (docs/cli). A test
# (packaging/clidocs) fails when it is stale: after changing a command,
# run this and commit the result.
docs:
	$(GO) run ./packaging/gendocs --markdown docs/cli

# A release: static binaries for every platform, .deb packages, SHA256SUMS
# and, with FOUNDRY_RELEASE_KEY=/path/to/release.key (Ed25519, PEM; never
# in the repository), SHA256SUMS.sig. Everything in it is dated by the
# commit, so the same commit builds the same bytes (make reproducible).
#   make package VERSION=1.2.3 [PACKAGE_CLI='linux/amd64'] [PACKAGE_AGENT='linux/amd64']
PACKAGE_CLI   ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64
PACKAGE_AGENT ?= linux/amd64 linux/arm64
DIST          ?= dist/$(VERSION)
PKG_WORK       = $(BIN)/package-$(VERSION)
package:
	@case "$(VERSION)" in [0-9]*|v[0-9]*) ;; *) echo "make package needs VERSION=x.y.z (got '$(VERSION)')" >&2; exit 2;; esac
	rm -rf $(DIST) $(PKG_WORK) && mkdir -p $(DIST) $(PKG_WORK)
	./packaging/build.sh $(VERSION) $(DIST) $(addprefix foundry/,$(PACKAGE_CLI)) $(addprefix foundry-agent/,$(PACKAGE_AGENT))
	SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct) $(GO) run ./packaging/gendocs --man $(PKG_WORK)/man --completions $(PKG_WORK)/completions
	SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct) $(GO) run ./packaging/deb/cmd/mkrelease --version $(VERSION) \
		--dist $(abspath $(DIST)) --man $(abspath $(PKG_WORK))/man --completions $(abspath $(PKG_WORK))/completions
	@echo "release in $(DIST)"

# Builds one target twice from two clones of HEAD (different paths, the
# second with an empty build cache) and compares the bytes.
reproducible:
	./packaging/reproducible.sh HEAD $(or $(TARGET),foundry-agent/linux/amd64)

# The same with a shared build cache: cheap enough for every make test.
reproducible-quick:
	FRESH_CACHE=0 ./packaging/reproducible.sh HEAD foundry-agent/linux/amd64

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

# e2e.mk - end-to-end tests against real systemd hosts (systemd-nspawn
# containers on this machine, see e2e/testbed/hosts.sh). Included from the
# top Makefile. Needs root and `apt-get install -y debootstrap systemd-container`;
# the first run debootstraps a cached base (a minute or two) into
# /var/tmp/foundry-e2e/cache (FOUNDRY_E2E_DIR), the directory to keep as CI cache.
#
#   make e2e                       boot the hosts, run the tests, remove the hosts
#   make e2e FOUNDRY_E2E_KEEP=1    leave the hosts running to debug (e2e/testbed/hosts.sh status|exec|ssh)
#   make e2e E2E_TEST_FLAGS='-v -run Sudo'
#   make e2e E2E_TEST_FLAGS="-v -run '^(TestA|TestB)$$'"   (the flags reach a shell: quote | and $$ again)
#   make e2e-down                  remove hosts left running (the cached base stays)
#   make e2e-k3s-standin           build (or find cached) the k3s stand-in, print its path
#   make e2e-k3s-standin-test      the stand-in's own tests (a nested module, not in ./...)
#
# `make e2e` first builds the k3s STAND-IN (e2e/k3s-standin: real upstream
# Kubernetes control plane, kwok-simulated kubelet; cold build 10+ min, then
# cached) and exports FOUNDRY_E2E_K3S=<path> to the tests
# (harness.K3sStandin reads it). A failed build fails `make e2e`.
#
# Not root? Tests are built as you and run through `sudo -E` (go test -exec).
# Two runs on one machine take turns: each test process holds
# /run/foundry-e2e-hosts.lock from its hosts' up to their down (the second
# says "waiting for another e2e run to finish (pid N)").

E2E_GO         ?= go
E2E_HOSTS      := e2e/testbed/hosts.sh
# Two streams run at once by default. The packages whose tests boot the
# systemd hosts go one at a time (-p 1: they share the hosts and the
# bridge). The rest run the k3s stand-in, the doubles and the CLI as plain
# processes on loopback and never touch the hosts, so they run beside the
# first stream instead of after it: the host tests spend most of their time
# waiting on systemd and SSH, and on a 2-core CI machine this takes about
# the length of the second stream off `make test`. The second stream's
# output is printed when it ends, so the two do not interleave.
# E2E_PKGS=... runs just those packages, in one stream.
E2E_HOST_PKGS  := ./e2e/ ./e2e/harness/ ./e2e/imagetest/ ./installer/agentunit/...
E2E_PKGS       ?=
E2E_TEST_FLAGS ?=
E2E_AS_ROOT    := $(if $(filter 0,$(shell id -u)),,sudo -E)
E2E_GOTEST      = $(E2E_GO) test $(if $(E2E_AS_ROOT),-exec '$(E2E_AS_ROOT)') -count=1 -timeout 40m -p 1 $(E2E_TEST_FLAGS)

.PHONY: e2e e2e-down e2e-k3s-standin e2e-k3s-standin-test

K3S_STANDIN_BUILD := e2e/k3s-standin/build.sh

e2e:
	@k3s="$${FOUNDRY_E2E_K3S:-$$($(K3S_STANDIN_BUILD))}" && export FOUNDRY_E2E_K3S="$$k3s" FOUNDRY_E2E=1 && \
	if [ -n "$(E2E_PKGS)" ]; then exec $(E2E_GOTEST) $(E2E_PKGS); fi; \
	procs=$$($(E2E_GO) list ./e2e/... | grep -v -x -F -e "$$($(E2E_GO) list $(E2E_HOST_PKGS) | tr ' ' '\n')"); \
	log=$$(mktemp); \
	echo "e2e: host packages and process-only packages in two streams"; \
	( $(E2E_GOTEST) $$procs >"$$log" 2>&1 ) & pid=$$!; \
	$(E2E_GOTEST) $(E2E_HOST_PKGS); hosts=$$?; \
	wait $$pid; procs_rc=$$?; \
	echo "e2e: process-only packages:"; cat "$$log"; rm -f "$$log"; \
	[ $$hosts -eq 0 ] && [ $$procs_rc -eq 0 ]

e2e-k3s-standin:
	$(K3S_STANDIN_BUILD)

# The stand-in module's tests: unit tests of its parsing, and standintest/,
# which runs the built binary as plain processes on 127.0.0.x.
e2e-k3s-standin-test:
	k3s="$$($(K3S_STANDIN_BUILD))" && cd e2e/k3s-standin && \
	FOUNDRY_E2E_K3S="$$k3s" GOTOOLCHAIN=local $(E2E_GO) test -count=1 -timeout 20m -v ./...

e2e-down:
	$(E2E_AS_ROOT) $(E2E_HOSTS) down

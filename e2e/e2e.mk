# e2e.mk - end-to-end tests against real systemd hosts (systemd-nspawn
# containers on this machine, see e2e/testbed/hosts.sh). Included from the
# top Makefile. Needs root and `apt-get install -y debootstrap systemd-container`;
# the first run debootstraps a cached base (a minute or two) into
# /var/tmp/foundry-e2e/cache (FOUNDRY_E2E_DIR), the directory to keep as CI cache.
#
#   make e2e                       boot the hosts, run the tests, remove the hosts
#   make e2e FOUNDRY_E2E_KEEP=1    leave the hosts running to debug (e2e/testbed/hosts.sh status|exec|ssh)
#   make e2e E2E_TEST_FLAGS='-v -run Sudo'
#   make e2e-down                  remove hosts left running (the cached base stays)
#
# Not root? Tests are built as you and run through `sudo -E` (go test -exec).
# Two runs on one machine take turns: each test process holds
# /run/foundry-e2e-hosts.lock from its hosts' up to their down (the second
# says "waiting for another e2e run to finish (pid N)").

E2E_GO         ?= go
E2E_HOSTS      := e2e/testbed/hosts.sh
# Packages whose tests boot hosts. -p 1: they share the hosts and the bridge,
# so their test binaries must not run concurrently.
E2E_PKGS       ?= ./e2e/... ./installer/agentunit/...
E2E_TEST_FLAGS ?=
E2E_AS_ROOT    := $(if $(filter 0,$(shell id -u)),,sudo -E)

.PHONY: e2e e2e-down

e2e:
	FOUNDRY_E2E=1 $(E2E_GO) test $(if $(E2E_AS_ROOT),-exec '$(E2E_AS_ROOT)') \
		-count=1 -timeout 30m -p 1 $(E2E_TEST_FLAGS) $(E2E_PKGS)

e2e-down:
	$(E2E_AS_ROOT) $(E2E_HOSTS) down

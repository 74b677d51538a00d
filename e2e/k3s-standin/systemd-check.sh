#!/bin/bash
# systemd-check.sh [K3S_BINARY] - run the k3s STAND-IN as k3s would run on
# Foundry's test hosts: systemd units (Type=notify, KillMode=process, as
# k3s's installer writes them) on 3 Debian containers from
# e2e/testbed/hosts.sh: fe-1 server (cluster-init), fe-2 agent, fe-3 a
# second server joining with the token only (no shared files). Checks:
# READY before `systemctl start` returns, node-token, agent healthz, all
# three Nodes Ready from both servers' APIs, no child left after `systemctl
# stop`, and the stopped agent's Node turning not Ready.
#
# Root only. The testbed is one per machine: this takes the flock in
# $FOUNDRY_E2E_RUN_LOCK (default /tmp/foundry-e2e-run.lock) that other
# e2e runs on the machine take, and removes the hosts at the end
# (FOUNDRY_E2E_KEEP=1 keeps them). Exit 0 only when every check passed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
H="$here/../testbed/hosts.sh"
bin="${1:-$("$here/build.sh")}"
fail=0
check() { if eval "$2"; then echo "PASS $1"; else echo "FAIL $1"; fail=1; fi; }
on() { "$H" exec "$@"; }

exec 8>"${FOUNDRY_E2E_RUN_LOCK:-/tmp/foundry-e2e-run.lock}"
flock -w 1800 8
"$H" up 3 >/dev/null
trap '[ "${FOUNDRY_E2E_KEEP:-}" = 1 ] || "$H" down >/dev/null 2>&1' EXIT

unit() { # name mode
	printf '[Unit]\nDescription=k3s STAND-IN (%s)\nWants=network-online.target\nAfter=network-online.target\n[Service]\nType=notify\nExecStart=/usr/local/bin/k3s %s\nKillMode=process\nDelegate=yes\nTimeoutStartSec=0\nRestart=always\nRestartSec=5s\n' "$2" "$2"
}
for i in 1 2 3; do
	on "$i" sh -c 'mkdir -p /etc/rancher/k3s && cat > /usr/local/bin/k3s.new && chmod 755 /usr/local/bin/k3s.new && mv /usr/local/bin/k3s.new /usr/local/bin/k3s' <"$bin"
	printf 'mirrors:\n  docker.io:\n    endpoint: ["http://10.77.0.1:5000"]\n' | on "$i" sh -c 'cat > /etc/rancher/k3s/registries.yaml'
done
unit k3s server | on 1 sh -c 'cat > /etc/systemd/system/k3s.service'
unit k3s server | on 3 sh -c 'cat > /etc/systemd/system/k3s.service'
unit k3s-agent agent | on 2 sh -c 'cat > /etc/systemd/system/k3s-agent.service'

printf 'cluster-init: true\ntls-san: [fe-1.test]\nnode-label: [foundry.dev/pool=a]\nwrite-kubeconfig-mode: "0644"\ndisable: [traefik]\n' |
	on 1 sh -c 'cat > /etc/rancher/k3s/config.yaml'
check "fe-1 server starts (Type=notify)" 'on 1 sh -c "systemctl daemon-reload && systemctl start k3s && systemctl is-active -q k3s"'
token="$(on 1 cat /var/lib/rancher/k3s/server/node-token)"
check "node-token is K10<sha256>::server:<secret>" '[[ $token =~ ^K10[0-9a-f]{64}::server:[0-9a-f]+$ ]]'
check "k3s.yaml mode 0644" '[ "$(on 1 stat -c %a /etc/rancher/k3s/k3s.yaml)" = 644 ]'
printf 'server: https://10.77.0.11:6443\ntoken: %s\nnode-label: [foundry.dev/pool=b]\n' "$token" | on 2 sh -c 'cat > /etc/rancher/k3s/config.yaml'
printf 'server: https://10.77.0.11:6443\ntoken: %s\n' "$token" | on 3 sh -c 'cat > /etc/rancher/k3s/config.yaml'
check "fe-2 agent starts" 'on 2 sh -c "systemctl daemon-reload && systemctl start k3s-agent && systemctl is-active -q k3s-agent"'
check "fe-2 healthz 200" 'on 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/10248; printf \"GET /healthz HTTP/1.0\r\n\r\n\" >&3; head -1 <&3" | grep -q " 200 "'
check "fe-3 server joins" 'on 3 sh -c "systemctl daemon-reload && systemctl start k3s && systemctl is-active -q k3s"'

ready3() { [ "$(on "$1" k3s __nodes | grep -c 'Ready=True')" = 3 ]; }
for _ in $(seq 60); do ready3 1 && break; sleep 2; done
on 1 k3s __nodes
check "3 nodes Ready via fe-1" 'ready3 1'
check "3 nodes Ready via fe-3" 'ready3 3'
check "fe-3 has control-plane,etcd roles" 'on 1 k3s __nodes | grep "^fe-3 " | grep -q "control-plane,etcd,master"'
# the pattern is quoted and bracketed so it matches neither itself nor a glob
no_k3s_left() { on 3 sh -c 'systemctl stop k3s; ! grep -qs "/usr/local/bin/k3[s]" /proc/[0-9]*/cmdline'; }
check "fe-3 stop leaves no k3s process" no_k3s_left
on 3 systemctl start k3s
on 2 systemctl stop k3s-agent
notready() { on 1 k3s __nodes | grep "^fe-2 " | grep -vq "Ready=True"; }
for _ in $(seq 90); do notready && break; sleep 2; done
on 1 k3s __nodes
check "stopped agent fe-2 turns not Ready" notready
exit "$fail"

#!/usr/bin/env bash
# demo.sh - Foundry's main job on one machine: a controller with embedded
# NATS (TLS, JetStream) and several agents as separate processes, then the
# fleet views an operator uses. Everything lives in a temporary directory
# and is removed at the end, whatever happens.
#
# usage: e2e/demo.sh [BIN_DIR]   (make demo builds BIN_DIR=bin first)
set -euo pipefail

BIN=$(cd "${1:-bin}" && pwd)
AGENTS=${DEMO_AGENTS:-5}
PORT=${DEMO_PORT:-24222}
WORK=$(mktemp -d /tmp/foundry-demo.XXXXXX)
export FOUNDRY_HOME=$WORK/home FOUNDRY_CONTROLLER=tls://127.0.0.1:$PORT
pids=()

cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
foundry() { "$BIN/foundry" "$@"; }

# wait_for N TRIES CMD...: run CMD until it prints N lines matching "online".
wait_online() {
  local want=$1 i
  for i in $(seq 1 100); do
    [ "$(foundry host list --state online 2>/dev/null | wc -l)" -ge "$want" ] && return 0
    sleep 0.1
  done
  echo "demo: only $(foundry host list --state online | wc -l) of $want agents came online" >&2
  return 1
}

say "Starting the controller (embedded NATS with TLS and JetStream) on 127.0.0.1:$PORT"
"$BIN/foundry" controller run --listen "127.0.0.1:$PORT" --log-level warn 2> "$WORK/controller.log" &
pids+=($!)
for i in $(seq 1 100); do [ -f "$FOUNDRY_HOME/controller/admin.nk" ] && foundry host list >/dev/null 2>&1 && break; sleep 0.1; done

say "Enrolling and starting $AGENTS agents (each its own process, NKey identity and pinned signing key)"
for i in $(seq 1 "$AGENTS"); do
  foundry host enroll "demo-$i" --dir "$WORK/agents/demo-$i" --heartbeat 1s >/dev/null
  "$BIN/foundry-agent" run --config "$WORK/agents/demo-$i/agent.yaml" 2> "$WORK/agent-$i.log" &
  pids+=($!)
done
wait_online "$AGENTS"

say "foundry host list"
foundry host list

say "foundry fleet status   (signed command fanned out; finishes when every host answered)"
foundry fleet status

say "Killing demo-2 with SIGKILL: the server sees its connection close, so foundry host list says disconnected at once"
{ kill -KILL "${pids[2]}"; wait "${pids[2]}"; } 2>/dev/null || true
start=$(date +%s%N)
for i in $(seq 1 20); do foundry host list --state disconnected | grep -q demo-2 && break; sleep 0.05; done
echo "demo-2 listed as disconnected $(( ($(date +%s%N) - start) / 1000000 )) ms after the kill (heartbeats alone would take 3 s)"
foundry host list

say "foundry fleet status --timeout 30s   (every registered host is accounted for: demo-2 by name, exit code 3)"
start=$(date +%s%N)
foundry fleet status --timeout 30s || echo "(exit code $?: some hosts missing, as expected)"
echo "returned in $(( ($(date +%s%N) - start) / 1000000 )) ms, not 30 s: the controller knew demo-2 was disconnected"

say "Stopping demo-1 cleanly (SIGTERM): it says goodbye and goes offline at once"
kill -TERM "${pids[1]}"; wait "${pids[1]}" || true
for i in $(seq 1 50); do foundry host list --state offline | grep -q demo-1 && break; sleep 0.1; done
foundry host list

say "foundry events list --since 5m"
foundry events list --since 5m

say "Done; cleaning up $WORK"

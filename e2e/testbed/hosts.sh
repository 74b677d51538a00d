#!/bin/bash
# hosts.sh - Foundry's own end-to-end test hosts: N throw-away Debian bookworm
# machines on this one, each a systemd-nspawn container with
#   * real systemd as PID 1 (systemctl enable --now works),
#   * its own network namespace fe-I, a veth on bridge fe-br0 and address
#     10.77.0.(10+I); this machine is 10.77.0.1 on fe-br0 (bind NATS there),
#   * sshd with its own host keys, a unique /etc/machine-id and hostname fe-I,
#   * users admin/fleetpass (group sudo, sudo asks for the password) and
#     nosudo/fleetpass (no sudo at all),
#   * a copy-on-write overlay over one shared, cached, debootstrapped rootfs.
# Hosts are "bare" for Foundry: no key in any user's authorized_keys except the
# harness-only key in /root (used by `ssh I` for debugging, never by tests).
# Readiness and `exec` go through nsenter into the container, not over SSH.
# Nothing is forwarded: hosts reach only 10.77.0.0/24.  Run as root.
#
# usage: hosts.sh base | up N | down | reset I | rekey I | hostkey I | ip I
#                 | exec I cmd... | ssh I [cmd] | status | env
#   up N is idempotent (starts only missing hosts); reset I makes host I bare
#   again; rekey I gives it new host keys; exec exits 125 if I is not running.
#
# env: FOUNDRY_E2E_DIR (state, default /var/tmp/foundry-e2e; $DIR/cache is the
#      debootstrap cache worth keeping in CI), FOUNDRY_E2E_RAISE_INOTIFY=1,
#      FOUNDRY_E2E_MIRROR, FOUNDRY_E2E_PASS, FOUNDRY_E2E_BOOT_TIMEOUT (s, default 300).
#      Bridge, netns and cgroup names are fixed: one harness per machine. The Go
#      harness (e2e/harness) holds /run/foundry-e2e-hosts.lock from its first up
#      to its down, so two test runs take turns; by hand, check `status` first.
set -euo pipefail

TOP=${FOUNDRY_E2E_DIR:-/var/tmp/foundry-e2e}
SUITE=bookworm
# Every package of the base, in one place. No python3 on purpose: the agent and
# the installer must not need it.
PKGS=systemd,systemd-sysv,dbus,openssh-server,sudo,iproute2,ca-certificates
MIRROR=${FOUNDRY_E2E_MIRROR:-http://deb.debian.org/debian}
CACHE=$TOP/cache               # raw debootstrap trees, keyed by suite + packages
BASE=$TOP/base                 # customized base, the read-only lower layer of every host
RUN=$TOP/run                   # per host: overlay upper/work, root mount, console.log
KEYS=$TOP/keys                 # harness-only key (root@hosts, debugging only)
BR=fe-br0
NET=10.77.0                    # /24; .1 = this machine (root ns), host I = .(10+I)
ADMIN_USER=admin
NOSUDO_USER=nosudo
PASS=${FOUNDRY_E2E_PASS:-fleetpass}
BOOT_TIMEOUT=${FOUNDRY_E2E_BOOT_TIMEOUT:-300}
CG=foundry-e2e                 # parent cgroup, one child per host
SELF=$(readlink -f "$0")
PATH_IN=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { echo "[hosts.sh $(date +%T)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }
idx() { [[ ${1:-} =~ ^[0-9]+$ ]] && (( $1 >= 1 && $1 <= 240 )) || die "host index must be 1..240, got '${1:-}'"; }
ip_of() { idx "$1"; echo "$NET.$(( 10 + $1 ))"; }
need_root() { [ "$(id -u)" = 0 ] || die "run as root"; }

# One mutating command at a time (go test runs packages in parallel). The
# supervisors started below close fd 9, so they never hold the lock.
lock() { mkdir -p "$TOP"; exec 9>"$TOP/.lock"; flock -w 900 9 || die "could not lock $TOP/.lock"; }

# cgroup hierarchies to place hosts in: pure v2, or hybrid (unified + name=systemd)
cg_roots() {
  if [ -e /sys/fs/cgroup/cgroup.controllers ]; then echo /sys/fs/cgroup; return; fi
  local h; for h in unified systemd; do [ -d "/sys/fs/cgroup/$h" ] && echo "/sys/fs/cgroup/$h"; done
}

# PID of the per-host supervisor loop (empty if not running)
sup_pid() {
  local f=$RUN/$1/supervisor.pid p
  [ -f "$f" ] || return 0
  p=$(<"$f")
  [ -n "$p" ] && tr '\0' ' ' 2>/dev/null < "/proc/$p/cmdline" | grep -q " _run $1 \?$" && echo "$p" || true
}
# PID of the systemd-nspawn process of host I (empty if not running)
nspawn_pid() {
  local s c; s=$(sup_pid "$1"); [ -n "$s" ] || return 0
  for c in $(cat "/proc/$s/task/$s/children" 2>/dev/null); do
    [ "$(cat "/proc/$c/comm" 2>/dev/null)" = systemd-nspawn ] && { echo "$c"; return 0; }
  done
}
# PID (in this pid namespace) of the container's PID 1 (systemd)
leader_pid() {
  local p; p=$(nspawn_pid "$1"); [ -n "$p" ] || return 0
  awk '{print $1}' "/proc/$p/task/$p/children" 2>/dev/null || true
}
# run a command inside host I (all its namespaces), with a clean environment
in_host() {
  local i=$1 p; shift; p=$(leader_pid "$i"); [ -n "$p" ] || die "fe-$i is not running"
  nsenter -t "$p" -a -- env -i PATH="$PATH_IN" HOME=/root LANG=C.UTF-8 TERM=dumb "$@"
}

# supervisor: own session and cgroup; restarts nspawn when the host reboots
cmd_run() {
  local i=$1 name=fe-$1 d=$RUN/$1 rc r
  echo $$ > "$d/supervisor.pid"
  # own cgroup per host, otherwise every nspawn without a host systemd shares one
  for r in $(cg_roots); do echo $$ > "$r/$CG/$name/cgroup.procs"; done
  while :; do
    rc=0
    systemd-nspawn --boot --directory="$d/root" --machine="$name" \
      --register=no --keep-unit --link-journal=no --console=read-only \
      --network-namespace-path="/run/netns/$name" || rc=$?
    [ "$rc" = 133 ] && [ ! -e "$d/stop" ] || exit "$rc"     # 133 = the host asked for a reboot
    echo "[hosts.sh] $name rebooting"
  done
}

# --- base rootfs -------------------------------------------------------------

raw_key() { printf '%s|minbase|%s' "$SUITE" "$PKGS" | sha256sum | cut -c1-16; }

# The expensive part, cached across runs: debootstrap into $CACHE/<suite>-<key>.
ensure_raw() {
  local raw=$CACHE/$SUITE-$(raw_key) t0
  if [ -e "$raw/.fe-complete" ]; then echo "$raw"; return 0; fi
  command -v debootstrap >/dev/null || die "debootstrap not installed (apt-get install -y debootstrap)"
  rm -rf "$raw"; mkdir -p "$CACHE"; t0=$(now)
  log "debootstrap $SUITE (minbase + $PKGS) into $raw - takes a minute or two, cached afterwards"
  debootstrap --variant=minbase --include="$PKGS" "$SUITE" "$raw" "$MIRROR" > "$CACHE/debootstrap.log" 2>&1 \
    || { tail -20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed, see $CACHE/debootstrap.log"; }
  rm -f "$raw"/var/cache/apt/archives/*.deb "$raw"/var/cache/apt/*.bin
  touch "$raw/.fe-complete"
  log "debootstrap done in $(since "$t0")s"
  echo "$raw"
}

# The cheap part, redone whenever this recipe, the password or the harness key change.
customize_base() {
  local b=$1 u
  chroot "$b" useradd -m -s /bin/bash -G sudo "$ADMIN_USER"
  chroot "$b" useradd -m -s /bin/bash "$NOSUDO_USER"
  printf '%s:%s\n%s:%s\n' "$ADMIN_USER" "$PASS" "$NOSUDO_USER" "$PASS" | chroot "$b" chpasswd
  # harness-only key, for root: admin and nosudo stay without keys (Foundry bootstraps with the password)
  install -d -m700 "$b/root/.ssh"
  install -m600 "$KEYS/id_ed25519.pub" "$b/root/.ssh/authorized_keys"
  printf 'PasswordAuthentication yes\nUseDNS no\n' > "$b/etc/ssh/sshd_config.d/foundry-e2e.conf"
  rm -f "$b"/etc/ssh/ssh_host_* "$b/etc/hostname"
  : > "$b/etc/machine-id"                  # per-host id is written at 'up'
  # units that only make noise in an offline container; console getty and the two
  # ask-password path units also cost 3 of the ~7 inotify instances a host uses
  for u in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
           fstrim.timer e2scrub_reap.service console-getty.service \
           systemd-ask-password-console.path systemd-ask-password-wall.path; do
    ln -sf /dev/null "$b/etc/systemd/system/$u"
  done
}

base_stamp() {
  { raw_key; declare -f customize_base; echo "$ADMIN_USER $NOSUDO_USER $PASS"; cat "$KEYS/id_ed25519.pub"; } | sha256sum | cut -c1-16
}

any_running() { local d; for d in "$RUN"/*/; do [ -d "$d" ] && [ -n "$(sup_pid "$(basename "$d")")" ] && return 0; done; return 1; }

cmd_base() {
  mkdir -p "$KEYS"
  [ -f "$KEYS/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C foundry-e2e-harness -f "$KEYS/id_ed25519"
  local stamp raw t0; stamp=$(base_stamp)
  [ "$(cat "$BASE/.fe-stamp" 2>/dev/null)" = "$stamp" ] && return 0
  any_running && die "the base recipe changed while hosts run; run 'down' first"
  raw=$(ensure_raw); t0=$(now)
  local d old=()                           # old hosts were overlays of the old base
  for d in "$RUN"/*/; do [ -d "$d" ] && old+=("$(basename "$d")"); done
  (( ${#old[@]} == 0 )) || stop_hosts "${old[@]}"
  rm -rf "$BASE" "$BASE.tmp"
  cp -a "$raw" "$BASE.tmp"; rm -f "$BASE.tmp/.fe-complete"
  customize_base "$BASE.tmp"
  echo "$stamp" > "$BASE.tmp/.fe-stamp"
  mv "$BASE.tmp" "$BASE"
  log "base $stamp ready in $(since "$t0")s, $(du -sh "$BASE" | cut -f1)"
}

# --- hosts ---------------------------------------------------------------------

ensure_bridge() {
  if ! ip link show "$BR" >/dev/null 2>&1; then
    ip link add "$BR" type bridge
    ip addr add "$NET.1/24" dev "$BR"
  fi
  ip link set "$BR" up
}

start_host() {
  local i=$1 name=fe-$1 d=$RUN/$1 ip r k
  ip=$(ip_of "$i"); r=$d/root
  [ -n "$(nspawn_pid "$i")" ] && return 0
  # A host that is not running starts bare: state left by a run that was
  # killed before its 'down' would otherwise come back as the new host.
  [ -d "$d" ] && stop_hosts "$i"
  mkdir -p "$d/upper" "$d/work" "$r"
  mountpoint -q "$r" || mount -t overlay overlay -o "lowerdir=$BASE,upperdir=$d/upper,workdir=$d/work" "$r"
  if [ ! -e "$d/seeded" ]; then              # per-host identity, written through the overlay
    echo "$name" > "$r/etc/hostname"
    printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n%s\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
      "$name" "$ip" "$name" > "$r/etc/hosts"
    od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > "$r/etc/machine-id"; echo >> "$r/etc/machine-id"
    ssh-keygen -q -A -f "$r" >/dev/null 2>&1  # unique host keys
    sed -i "s/ [^ ]*\$/ root@$name/" "$r"/etc/ssh/ssh_host_*_key.pub
    touch "$d/seeded"
  fi
  # network: netns fe-I, eth0 inside, fe-vI on the bridge outside
  ip netns list | grep -qx "$name\( .*\)\?" || ip netns add "$name"
  if ! ip link show "fe-v$i" >/dev/null 2>&1; then
    ip link add "fe-v$i" type veth peer name eth0 netns "$name"
    # a fixed MAC per host: after a reset or down/up this machine's ARP entry for the
    # address stays right (a stale one costs up to a minute of unreachable host)
    ip -n "$name" link set eth0 address "$(printf '02:fe:77:00:00:%02x' "$i")"
    ip -n "$name" addr add "$ip/24" dev eth0
    ip -n "$name" link set lo up
    ip -n "$name" link set eth0 up
    ip -n "$name" route add default via "$NET.1"
  fi
  ip link set "fe-v$i" master "$BR" up
  for k in $(cg_roots); do mkdir -p "$k/$CG/$name"; done
  rm -f "$d/stop" "$d/supervisor.pid"
  setsid bash "$SELF" _run "$i" > "$d/console.log" 2>&1 < /dev/null 9>&- &
  for k in $(seq 1 150); do [ -n "$(nspawn_pid "$i")" ] && return 0; sleep 0.1; done
  log "$name: systemd-nspawn did not start, see $d/console.log"; return 1
}

# Ready = systemd finished booting, sshd is active, and port 22 answers on the
# bridge. Probed from inside with nsenter, so no key needs to be on the host.
wait_ready() {
  local i=$1 ip p st t0 why=nspawn deadline; ip=$(ip_of "$i"); t0=$(now); deadline=$(( $(date +%s) + BOOT_TIMEOUT ))
  while (( $(date +%s) < deadline )); do
    [ -n "$(nspawn_pid "$i")" ] || { log "fe-$i: nspawn exited, see $RUN/$i/console.log"; return 1; }
    p=$(leader_pid "$i")
    if [ -n "$p" ]; then
      st=$(timeout 60 nsenter -t "$p" -a -- env -i PATH="$PATH_IN" systemctl is-system-running --wait 2>/dev/null) || true
      why="systemd ${st:-not answering}"
      case $st in
        running|degraded)
          why="ssh.service not active"
          if nsenter -t "$p" -a -- env -i PATH="$PATH_IN" systemctl is-active -q ssh.service 2>/dev/null; then
            why="port 22 not answering on $ip"
            if timeout 2 bash -c ": < /dev/tcp/$ip/22" 2>/dev/null; then
              awk -v a="$t0" -v b="$(now)" 'BEGIN{exit !(b-a > 10)}' && log "fe-$i: slow boot, ready after $(since "$t0")s (last waited for: $why)"
              echo "$st"; return 0
            fi
          fi ;;
      esac
    fi
    sleep 0.2
  done
  log "fe-$i: not ready after ${BOOT_TIMEOUT}s (waiting for: $why), see $RUN/$i/console.log"; return 1
}

# All hosts run as uid 0 of this kernel, so their inotify instances (systemd 3, logind 1
# after the masks in customize_base; dbus 1 as uid 100) are charged to root's
# fs.inotify.max_user_instances (default 128). Past the limit PID 1 dies with
# "Failed to allocate manager object: Too many open files".
inotify_used() { { find /proc/[0-9]*/fd -lname anon_inode:inotify 2>/dev/null || true; } | wc -l; }
check_inotify() {
  local new=$1 max used need
  (( new > 0 )) || return 0
  max=$(cat /proc/sys/fs/inotify/max_user_instances); used=$(inotify_used)
  need=$(( used + 5 * new + 4 ))
  (( need <= max )) && return 0
  if [ "${FOUNDRY_E2E_RAISE_INOTIFY:-0}" = 1 ]; then
    [ -f "$TOP/inotify.orig" ] || echo "$max" > "$TOP/inotify.orig"
    log "raising fs.inotify.max_user_instances $max -> $(( need + 64 )) (restored by 'down')"
    sysctl -qw fs.inotify.max_user_instances=$(( need + 64 ))
  else
    die "$new more hosts need ~$need inotify instances, fs.inotify.max_user_instances=$max ($used in use). Re-run with FOUNDRY_E2E_RAISE_INOTIFY=1 (restored by 'down') or raise it yourself."
  fi
}

# start hosts (idempotent) and wait until all of them are ready
start_and_wait() {
  local i k fail=0 t0; t0=$(now)
  local new=0; declare -A fresh=()
  for i in "$@"; do [ -n "$(nspawn_pid "$i")" ] || { new=$((new + 1)); fresh[$i]=1; }; done
  check_inotify "$new"
  mkdir -p "$RUN"; ensure_bridge
  for k in $(cg_roots); do mkdir -p "$k/$CG"; done
  for i in "$@"; do start_host "$i" || fail=1; done
  declare -A pids=()
  for i in "$@"; do wait_ready "$i" > "$RUN/$i/state" & pids[$i]=$!; done
  for i in "$@"; do wait "${pids[$i]}" || fail=1; done
  for i in "$@"; do printf 'fe-%s %s %s %s\n' "$i" "$(ip_of "$i")" "$(cat "$RUN/$i/state" 2>/dev/null || echo failed)" "${fresh[$i]:+started}"; done
  (( fail == 0 )) || die "some hosts failed to come up"
  log "hosts $* ready in $(since "$t0")s ($new started)"
}

cmd_up() {
  local n=${1:-}; [[ $n =~ ^[0-9]+$ ]] && (( n >= 1 && n <= 240 )) || die "usage: up N (1..240)"
  cmd_base
  start_and_wait $(seq 1 "$n")
}

# stop the given hosts: orderly poweroff, then kill stragglers, unmount, remove their state
stop_hosts() {
  local d i p s waited
  declare -A np=()                                    # host -> supervisor pid
  for i in "$@"; do
    d=$RUN/$i; [ -d "$d" ] || continue
    touch "$d/stop"; s=$(sup_pid "$i"); [ -n "$s" ] || continue; np[$i]=$s
    p=$(nspawn_pid "$i"); [ -n "$p" ] && kill -TERM "$p"   # nspawn -> SIGRTMIN+3 -> orderly poweroff
  done
  for waited in $(seq 1 300); do                      # up to 30 s
    for i in "${!np[@]}"; do kill -0 "${np[$i]}" 2>/dev/null || unset "np[$i]"; done
    (( ${#np[@]} == 0 )) && break; sleep 0.1
  done
  for i in "${!np[@]}"; do                            # stragglers: kill the container's PID 1 (whole pid ns) and nspawn
    log "fe-$i did not halt, killing"; p=$(leader_pid "$i"); [ -n "$p" ] && kill -KILL "$p"
    p=$(nspawn_pid "$i"); [ -n "$p" ] && kill -KILL "$p"
    sleep 1; kill -KILL "${np[$i]}" 2>/dev/null || true
  done
  for i in "$@"; do
    d=$RUN/$i; [ -d "$d" ] || continue
    if mountpoint -q "$d/root"; then umount "$d/root" || { log "fe-$i: umount failed, keeping $d"; continue; }; fi
    rm -rf "/run/systemd/nspawn/propagate/fe-$i" "$d"
    ip netns list | grep -qx "fe-$i\( .*\)\?" && ip netns del "fe-$i"
    ip link del "fe-v$i" 2>/dev/null || true
    ip neigh del "$(ip_of "$i")" dev "$BR" 2>/dev/null || true
    for s in $(cg_roots); do [ -d "$s/$CG/fe-$i" ] && { find "$s/$CG/fe-$i" -depth -type d -exec rmdir {} + 2>/dev/null || log "cgroup $s/$CG/fe-$i not empty"; }; done
  done
  return 0
}

cmd_down() {
  local t0 d all=() name p s; t0=$(now)
  for d in "$RUN"/*/; do [ -d "$d" ] && all+=("$(basename "$d")"); done
  (( ${#all[@]} == 0 )) || stop_hosts "${all[@]}"
  for name in $(ip netns list | awk '$1 ~ /^fe-[0-9]+$/ {print $1}'); do ip netns del "$name"; done
  for p in $(ip -o link show | awk -F': ' '{sub(/@.*/,"",$2); print $2}' | grep '^fe-v[0-9]' || true); do ip link del "$p" 2>/dev/null || true; done
  ip link show "$BR" >/dev/null 2>&1 && ip link del "$BR"
  for s in $(cg_roots); do [ -d "$s/$CG" ] && { find "$s/$CG" -depth -type d -exec rmdir {} + || log "cgroup $s/$CG not empty"; }; done
  if [ -f "$TOP/inotify.orig" ]; then sysctl -qw fs.inotify.max_user_instances="$(<"$TOP/inotify.orig")"; rm -f "$TOP/inotify.orig"; fi
  # side effects of nspawn / ip netns outside $TOP, removed only when empty
  rmdir /run/systemd/nspawn/propagate /run/systemd/nspawn/locks /run/systemd/nspawn 2>/dev/null || true
  if [ -d /run/netns ] && [ -z "$(ls -A /run/netns)" ]; then umount /run/netns 2>/dev/null || true; rmdir /run/netns 2>/dev/null || true; fi
  log "down in $(since "$t0")s (base and cache kept in $TOP)"
}

# back to a bare host: new overlay, new machine-id and host keys
cmd_reset() {
  local i=$1 t0; idx "$i"; t0=$(now)
  cmd_base
  stop_hosts "$i"
  start_and_wait "$i"
  log "fe-$i reset in $(since "$t0")s"
}

# new host keys, sshd restarted: the "host key changed" scenario
cmd_rekey() {
  local i=$1; idx "$i"
  in_host "$i" sh -ec 'rm -f /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub; ssh-keygen -q -A; systemctl restart ssh.service' >&2
  cmd_hostkey "$i"
}

cmd_hostkey() {
  local i=$1 f; idx "$i"; f=$RUN/$i/root/etc/ssh/ssh_host_ed25519_key.pub
  [ -s "$f" ] || die "fe-$i has no ed25519 host key (is it up?)"
  cat "$f"
}

cmd_status() {
  local d i p
  for d in "$RUN"/*/; do
    [ -d "$d" ] || continue; i=$(basename "$d"); p=$(nspawn_pid "$i")
    printf 'fe-%s %s nspawn=%s init=%s\n' "$i" "$(ip_of "$i")" "${p:--}" "$(leader_pid "$i")"
  done
}

# debugging only: root login with the harness key, host keys checked against the host's own files
cmd_ssh() {
  local i=$1 ip kh; shift; ip=$(ip_of "$i"); kh=$RUN/$i/harness_known_hosts
  awk -v ip="$ip" '{print ip, $1, $2}' "$RUN/$i"/root/etc/ssh/ssh_host_*_key.pub > "$kh"
  exec ssh -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$kh" -o LogLevel=ERROR -o ConnectTimeout=3 \
    -o BatchMode=yes -o IdentitiesOnly=yes -i "$KEYS/id_ed25519" "root@$ip" "$@"
}

case ${1:-} in
  base)    need_root; lock; cmd_base ;;
  up)      need_root; lock; cmd_up "${2:-}" ;;
  down)    need_root; lock; cmd_down ;;
  reset)   need_root; lock; cmd_reset "${2:?usage: reset I}" ;;
  rekey)   need_root; lock; cmd_rekey "${2:?usage: rekey I}" ;;
  hostkey) cmd_hostkey "${2:?usage: hostkey I}" ;;
  ip)      ip_of "${2:?usage: ip I}" ;;
  exec)    need_root; i=${2:?usage: exec I cmd...}; idx "$i"; shift 2; (( $# > 0 )) || die "usage: exec I cmd..."
           p=$(leader_pid "$i"); [ -n "$p" ] || { log "ERROR: fe-$i is not running"; exit 125; }   # 125: the command did not run
           exec nsenter -t "$p" -a -- env -i PATH="$PATH_IN" HOME=/root LANG=C.UTF-8 TERM=dumb "$@" ;;
  ssh)     need_root; i=${2:?usage: ssh I [cmd]}; idx "$i"; shift 2; cmd_ssh "$i" "$@" ;;
  status)  cmd_status ;;
  _run)    cmd_run "$2" ;;
  env)     echo "FOUNDRY_E2E_DIR=$TOP FOUNDRY_E2E_USER=$ADMIN_USER FOUNDRY_E2E_NOSUDO_USER=$NOSUDO_USER FOUNDRY_E2E_PASS=$PASS FOUNDRY_E2E_CONTROLLER_IP=$NET.1 FOUNDRY_E2E_BRIDGE=$BR" ;;
  *)       sed -n '2,24p' "$0"; exit 2 ;;
esac

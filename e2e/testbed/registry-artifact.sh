#!/bin/bash
# registry-artifact.sh - the CNCF distribution registry executable (Debian's
# `docker-registry` package) as a plain file, for Foundry's artifact store.
# Test hosts have no internet, so the binary is taken from this machine's apt
# sources without installing the package system-wide: apt-get download, then
# dpkg-deb -x into a temp dir, then copy usr/bin/docker-registry out.
#
# usage: registry-artifact.sh [OUTDIR]
#   OUTDIR defaults to $FOUNDRY_E2E_DIR/artifacts/docker-registry/<version>
#   (FOUNDRY_E2E_DIR defaults to /var/tmp/foundry-e2e). <version> is the
#   upstream version, the Debian version without its "+ds1-1"-style suffix:
#   $FOUNDRY_REGISTRY_VERSION, default 2.8.2 (bookworm's 2.8.2+ds1-1). It is
#   fixed here rather than asked of apt so that a cached artifact is found
#   without apt (apt-cache takes seconds here: no pkgcache.bin); when apt
#   offers another upstream version the script fails instead of writing it
#   under a wrong name.
# Prints the absolute path of the binary on stdout; logs go to stderr.
# Cached: if OUTDIR/docker-registry already exists, it is printed and nothing
# else happens (no apt access at all).
set -euo pipefail

PKG=docker-registry
TOP=${FOUNDRY_E2E_DIR:-/var/tmp/foundry-e2e}
WANT=${FOUNDRY_REGISTRY_VERSION:-2.8.2}

log() { printf 'registry-artifact: %s\n' "$*" >&2; }

if [[ $# -gt 1 ]]; then
	log "usage: $0 [OUTDIR]"
	exit 2
fi

OUTDIR=${1:-$TOP/artifacts/$PKG/$WANT}
if [[ -f $OUTDIR/$PKG ]]; then
	realpath "$OUTDIR/$PKG"
	exit 0
fi

# resolve sets DEBVER to the Debian version apt would download now and checks
# that its upstream version is $WANT; it returns 1 if apt knows no such package.
resolve() {
	DEBVER=$(apt-cache policy "$PKG" 2>/dev/null | awk '/Candidate:/ {print $2; exit}' || true)
	[[ -n $DEBVER && $DEBVER != "(none)" ]] || return 1
	local up=${DEBVER#*:}   # drop an epoch
	up=${up%%+*}            # 2.8.2+ds1-1, 2.8.2+ds1-1+deb12u1 -> 2.8.2
	up=${up%-*}             # 2.8.2-1 -> 2.8.2 (no +dsN suffix)
	if [[ $up != "$WANT" ]]; then
		log "apt offers $PKG $DEBVER (upstream $up), expected $WANT: set FOUNDRY_REGISTRY_VERSION=$up to take it"
		exit 1
	fi
}
update() {
	log "$1; running apt-get update"
	apt-get update >&2
	resolve || { log "$PKG has no installable candidate"; exit 1; }
}
resolve || update "$PKG unknown to apt"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# As root, apt-get download fetches as _apt: give it a dir it may write to
# (otherwise it falls back to an unsandboxed download with a warning).
chmod 0755 "$TMP"
mkdir "$TMP/dl"
if [[ $EUID -eq 0 ]] && id _apt >/dev/null 2>&1; then chown _apt "$TMP/dl"; fi

download() { (cd "$TMP/dl" && apt-get download "$PKG=$DEBVER" >&2); }
if ! download; then
	update "download of $PKG $DEBVER failed (stale package lists?)"
	download
fi

shopt -s nullglob
debs=("$TMP"/dl/"$PKG"_*.deb)
shopt -u nullglob
if [[ ${#debs[@]} -ne 1 ]]; then
	log "expected one $PKG .deb in $TMP, found ${#debs[@]}"
	exit 1
fi
log "extracting ${debs[0]##*/}"
dpkg-deb -x "${debs[0]}" "$TMP/root"
if [[ ! -f $TMP/root/usr/bin/$PKG ]]; then
	log "usr/bin/$PKG is not in ${debs[0]##*/}"
	exit 1
fi

mkdir -p "$OUTDIR"
# Copy then rename so a concurrent reader never sees a half-written binary.
install -m 0755 "$TMP/root/usr/bin/$PKG" "$OUTDIR/.$PKG.$$"
mv -f "$OUTDIR/.$PKG.$$" "$OUTDIR/$PKG"
log "$PKG $DEBVER -> $OUTDIR/$PKG"
realpath "$OUTDIR/$PKG"

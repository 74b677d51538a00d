#!/usr/bin/env bash
# build.sh [OUTDIR] - build the k3s STAND-IN (real kube-apiserver,
# controller-manager, scheduler, etcd; kwok-simulated kubelet) once per
# source version and print the path of the binary on stdout.
#
# The binary is cached under ${FOUNDRY_E2E_DIR:-/var/tmp/foundry-e2e}/cache/k3s-standin/<key>/k3s,
# key = sha256 over go.mod, go.sum, every .go and embedded file of this
# module (third_party/kwok included), this script and `go version`. A cache hit returns at once; a
# miss builds under an flock so concurrent callers build once. With
# OUTDIR, the binary is also copied to OUTDIR/k3s and that path printed.
# A cold build takes 10+ minutes on 2 cores (see README.md).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
go="${GO:-go}"
export GOTOOLCHAIN=local CGO_ENABLED=0
cache="${FOUNDRY_E2E_DIR:-/var/tmp/foundry-e2e}/cache/k3s-standin"

# Kubernetes version reported by the API server; "+k3s-standin" is valid
# semver build metadata, like k3s's own "+k3s1".
kube_version="v1.35.4+k3s-standin"

key="$(
	cd "$here"
	{
		# what goes into the binary: Go files, go.mod/go.sum, this script's
		# flags, and all of third_party/kwok (its embedded stage YAML too);
		# not the loopback tests in standintest/, docs or systemd-check.sh
		find . -type f -not -path './standintest/*' \( -name '*.go' -o -name go.mod -o -name go.sum \
			-o -name build.sh -o -path './third_party/*' \) -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
		"$go" version
	} | sha256sum | cut -c1-32
)"
out="$cache/$key/k3s"

deliver() {
	if [ -n "${1:-}" ]; then
		mkdir -p "$1"
		cp -f "$out" "$1/k3s.tmp" && mv -f "$1/k3s.tmp" "$1/k3s"
		echo "$1/k3s"
	else
		echo "$out"
	fi
}

if [ -x "$out" ]; then
	deliver "${1:-}"
	exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ ! -x "$out" ]; then
	ldflags="-s -w"
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=35"
		ldflags+=" -X $pkg.gitCommit=k3s-standin-$key -X $pkg.gitTreeState=clean -X $pkg.buildDate=2026-01-01T00:00:00Z"
	done
	tmp="$cache/$key.tmp.$$"
	mkdir -p "$tmp"
	trap 'rm -rf "$tmp"' EXIT
	echo "k3s-standin: building $key (cold: 10+ min on 2 cores)" >&2
	start=$(date +%s)
	(cd "$here" && "$go" build -trimpath -ldflags "$ldflags" -o "$tmp/k3s" .) >&2
	echo "k3s-standin: built in $(($(date +%s) - start))s" >&2
	mkdir -p "$cache/$key"
	mv -f "$tmp/k3s" "$out"
fi
flock -u 9
deliver "${1:-}"

#!/bin/sh
# Proves that one commit builds byte-identical binaries: builds TARGET
# (default foundry-agent/linux/amd64) twice from two fresh clones of the
# commit at different paths, the second with an empty build cache, and
# compares the bytes. Uncommitted changes are not part of it.
# FRESH_CACHE=0 shares the build cache (a minute cheaper: compiling is then
# not repeated, only the paths and the link differ); make test runs that.
#
#   packaging/reproducible.sh [COMMIT [NAME/GOOS/GOARCH]]
set -eu
root=$(git rev-parse --show-toplevel)
commit=$(git -C "$root" rev-parse "${1:-HEAD}")
target=${2:-foundry-agent/linux/amd64}
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
for d in one two-elsewhere; do
	git clone -q --no-checkout "$root" "$tmp/$d"
	git -C "$tmp/$d" checkout -q --detach "$commit"
done
(cd "$tmp/one" && ./packaging/build.sh 0.0.0-repro "$tmp/out1" "$target" >/dev/null)
cache=$tmp/cache
[ "${FRESH_CACHE:-1}" = 0 ] && cache=$(${GO:-go} env GOCACHE)
(cd "$tmp/two-elsewhere" && GOCACHE="$cache" ./packaging/build.sh 0.0.0-repro "$tmp/out2" "$target" >/dev/null)
a=$(sha256sum "$tmp"/out1/* | cut -d' ' -f1)
b=$(sha256sum "$tmp"/out2/* | cut -d' ' -f1)
if [ "$a" != "$b" ]; then
	echo "NOT reproducible: $target at $commit built $a, then $b" >&2
	exit 1
fi
how="two paths, two build caches"
[ "${FRESH_CACHE:-1}" = 0 ] && how="two paths, one build cache"
echo "reproducible: $target at $commit builds $a twice ($how)"

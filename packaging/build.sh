#!/bin/sh
# Builds Foundry's release binaries the one way a release is built, so
# `make package` and packaging/reproducible.sh cannot drift apart.
#
#   packaging/build.sh VERSION OUTDIR NAME/GOOS/GOARCH...
#   e.g. packaging/build.sh 1.2.3 dist/1.2.3 foundry/darwin/arm64 foundry-agent/linux/amd64
#
# Static (CGO_ENABLED=0) and reproducible: -trimpath drops the build
# directory, -buildid= drops the build ID, and nothing stamps a time (the
# commit is passed with -X main.commit, since machines often set
# GOFLAGS=-buildvcs=false). Writes OUTDIR/NAME_VERSION_GOOS_GOARCH[.exe].
set -eu
[ $# -ge 3 ] || { echo "usage: $0 VERSION OUTDIR NAME/GOOS/GOARCH..." >&2; exit 2; }
version=$1 out=$2
shift 2
mkdir -p "$out"
commit=$(git rev-parse HEAD 2>/dev/null || true)
for t in "$@"; do
	name=${t%%/*} rest=${t#*/}
	goos=${rest%/*} goarch=${rest#*/}
	ext=
	[ "$goos" = windows ] && ext=.exe
	file="$out/${name}_${version}_${goos}_${goarch}$ext"
	echo "build: $file"
	CGO_ENABLED=0 GOOS=$goos GOARCH=$goarch ${GO:-go} build -trimpath \
		-ldflags "-s -w -buildid= -X main.version=$version -X main.commit=$commit" \
		-o "$file" "./cmd/$name"
done

#!/usr/bin/env bash
# Prepares a compose build that needs no registry, for machines that cannot
# pull golang or distroless (`make compose-up`, and the compose end-to-end
# test):
#   - imports this machine's Go toolchain as a build image (once per Go version),
#   - copies the tree git knows into DIR and vendors the modules there.
# Prints the build image's name. Build FROM it with RUNTIME_IMAGE=scratch.
#
#   usage: deploy/offline-context.sh DIR
set -euo pipefail
dir=${1:?usage: deploy/offline-context.sh DIR}
root=$(cd "$(dirname "$0")/.." && pwd)

goroot=$(go env GOROOT)
image="penguins/go-build:$(go env GOVERSION)"
if ! docker image inspect "$image" >/dev/null 2>&1; then
	skel=$(mktemp -d)
	trap 'rm -rf "$skel"' EXIT
	mkdir -m 1777 "$skel/tmp"
	# GOROOT and an empty /tmp: the Dockerfiles' exec-form RUN needs no shell.
	tar -c --exclude=./test --exclude=./api --transform 's,^\.,usr/local/go,' -C "$goroot" . -C "$skel" tmp |
		docker import \
			--change 'ENV PATH=/usr/local/go/bin' --change 'ENV HOME=/tmp' \
			--change 'ENV GOCACHE=/tmp/go-cache' --change 'ENV GOPATH=/tmp/go' \
			--change 'ENV GOPROXY=off' --change 'WORKDIR /src' \
			- "$image" >/dev/null
	echo "imported $image from $goroot" >&2
fi

rm -rf "$dir"
mkdir -p "$dir"
(cd "$root" && git ls-files --cached --others --exclude-standard -z) |
	(cd "$root" && xargs -0 -r tar -c --ignore-failed-read 2>/dev/null) | tar -x -C "$dir"
(cd "$dir" && go work vendor) >&2
echo "$image"

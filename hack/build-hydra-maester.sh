#!/usr/bin/env bash
# Builds Ory hydra-maester — the operator `make bench` (BENCH_ONLY=hydra) measures clientcreds
# against on Hydra — from its repository at a release tag, once per tag, into a per-user
# cache, and prints the directory holding `manager` (the binary) and `crd.yaml` (its
# OAuth2Client CRD). It is a benchmark tool, never a dependency of the project: it is built
# from its own checkout with its own go.mod (modules from the Go module proxy).
#
# Usage: hack/build-hydra-maester.sh
#
# Environment: HYDRA_MAESTER_GIT — the repository to take the tag from: a git directory or a
# URL (default: the project's GitHub repository); HYDRA_MAESTER_TAG (default v0.0.42, its
# latest release when this was written).
set -euo pipefail

tag=${HYDRA_MAESTER_TAG:-v0.0.42}
src=${HYDRA_MAESTER_GIT:-https://github.com/ory/hydra-maester.git}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/clientcreds/hydra-maester/$tag

if [ -x "$cache/manager" ] && [ -s "$cache/crd.yaml" ]; then
	echo "$cache"
	exit 0
fi
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ -x "$cache/manager" ] && [ -s "$cache/crd.yaml" ]; then
	echo "$cache"
	exit 0
fi

echo "Building hydra-maester $tag (a benchmark tool) into $cache." >&2
start=$SECONDS
rm -rf "$cache/src"
mkdir -p "$cache/src"
if [ -d "$src" ]; then
	git --git-dir="$src" archive "$tag" | tar -x -C "$cache/src"
else
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	git clone --quiet --depth 1 --branch "$tag" "$src" "$tmp/repo"
	git -C "$tmp/repo" archive "$tag" | tar -x -C "$cache/src"
fi
(cd "$cache/src" && CGO_ENABLED=0 go build -trimpath -o "$cache/manager.tmp" .)
cp "$cache/src/config/crd/bases/hydra.ory.sh_oauth2clients.yaml" "$cache/crd.yaml"
mv "$cache/manager.tmp" "$cache/manager"
echo "  built hydra-maester $tag in $((SECONDS - start))s" >&2
echo "$cache"

#!/usr/bin/env bash
# Builds the local control plane (kube-apiserver, etcd, kubectl) from the Go module proxy,
# once per version, into a per-user cache, and links bin/k8s/<version> to it.
#
# Usage: hack/build-control-plane.sh            # build if missing, print the asset dir
#
# The first build takes several minutes (kube-apiserver alone is ~5 min on 2 cores); later
# calls return at once. A fresh clone on the same machine reuses the cache.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
k8s_version=${K8S_VERSION:-$(cat "$root/hack/k8s-version")}
etcd_version=$(awk '{for (i = 1; i < NF; i++) if ($i == "go.etcd.io/etcd/server/v3") {print $(i + 1); exit}}' "$root/hack/tools/etcd/go.mod")
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/clientcreds/k8s
cache=$cache_root/$k8s_version
link=$root/bin/k8s/$k8s_version

# The stamp names exactly what was built; any change to the tools modules rebuilds.
stamp_want=$(cat "$root/hack/tools/k8s/go.mod" "$root/hack/tools/k8s/go.sum" \
  "$root/hack/tools/etcd/go.mod" "$root/hack/tools/etcd/go.sum" | sha256sum | cut -c1-16)

. "$root/hack/lib/cache.sh"

have_all() {
  [ -x "$cache/kube-apiserver" ] && [ -x "$cache/etcd" ] && [ -x "$cache/kubectl" ] &&
    [ "$(cat "$cache/.stamp" 2>/dev/null)" = "$stamp_want" ]
}

build() { # build <module dir> <package> <output name>
  local start=$SECONDS
  (cd "$root/hack/tools/$1" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$cache/$3.tmp" "$2")
  mv "$cache/$3.tmp" "$cache/$3"
  echo "  built $3 in $((SECONDS - start))s" >&2
}

build_all() {
  echo "Building the local control plane v$k8s_version (etcd $etcd_version) from the Go module proxy." >&2
  echo "This happens once per machine and takes several minutes; it is cached in $cache." >&2
  rm -f "$cache/.stamp"
  build etcd go.etcd.io/etcd/server/v3 etcd
  build k8s k8s.io/kubernetes/cmd/kubectl kubectl
  build k8s k8s.io/kubernetes/cmd/kube-apiserver kube-apiserver
  echo "$stamp_want" >"$cache/.stamp"
}

mkdir -p "$cache"
cache_once "$cache_root/.lock-$k8s_version" have_all build_all "$cache" "$link"

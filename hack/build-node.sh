#!/usr/bin/env bash
# Builds the node components (kube-controller-manager, kube-scheduler, kubelet) from the Go
# module proxy, once per version, into the same per-user cache as hack/build-control-plane.sh,
# and links bin/node/<version> to it. They come from their own tools module (hack/tools/node)
# so that adding them does not change the control plane's stamp (and rebuild kube-apiserver).
#
# Usage: hack/build-node.sh            # build if missing, print the asset dir
#
# Measured on 2 shared cores: kubelet ~4 min, controller-manager ~1 min, scheduler ~15 s with
# the Go build cache warm from the apiserver build; ~7 min for the three from an empty cache.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
k8s_version=${K8S_VERSION:-$(cat "$root/hack/k8s-version")}
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/clientcreds/node
cache=$cache_root/$k8s_version
link=$root/bin/node/$k8s_version
components=(kube-scheduler kube-controller-manager kubelet)

stamp_want=$(cat "$root/hack/tools/node/go.mod" "$root/hack/tools/node/go.sum" | sha256sum | cut -c1-16)

. "$root/hack/lib/cache.sh"

have_all() {
  local c
  for c in "${components[@]}"; do [ -x "$cache/$c" ] || return 1; done
  [ "$(cat "$cache/.stamp" 2>/dev/null)" = "$stamp_want" ]
}

# Without these the binaries report v0.0.0-master+$Format:%H$ (and kubelet registers the node
# with that version).
IFS=. read -r major minor _ <<<"$k8s_version"
vpkg=k8s.io/component-base/version
ldflags="-s -w -X $vpkg.gitVersion=v$k8s_version -X $vpkg.gitMajor=$major -X $vpkg.gitMinor=$minor"

build_all() {
  echo "Building the node components v$k8s_version from the Go module proxy." >&2
  echo "This happens once per machine and takes several minutes; it is cached in $cache." >&2
  rm -f "$cache/.stamp"
  for c in "${components[@]}"; do
    start=$SECONDS
    (cd "$root/hack/tools/node" && CGO_ENABLED=0 go build -trimpath -ldflags="$ldflags" -o "$cache/$c.tmp" "k8s.io/kubernetes/cmd/$c")
    mv "$cache/$c.tmp" "$cache/$c"
    echo "  built $c in $((SECONDS - start))s" >&2
  done
  echo "$stamp_want" >"$cache/.stamp"
}

mkdir -p "$cache"
cache_once "$cache_root/.lock-$k8s_version" have_all build_all "$cache" "$link"

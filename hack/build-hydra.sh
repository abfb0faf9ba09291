#!/usr/bin/env bash
# Builds Ory Hydra from the Go module proxy, once per version, into a per-user cache, and
# links bin/hydra to it. The tests, `PROVIDER=hydra make demo` and `make bench` run it.
#
# Usage: hack/build-hydra.sh            # build if missing, print the path of bin/hydra
#
# Hydra is built from hack/tools/hydra (its go.mod carries the ory/pop/v6 replace from
# Hydra's own go.mod) with the sqlite build tag, so `DSN=memory` gives an in-memory
# database. go-sqlite3 needs cgo (a C compiler). The first build takes several minutes on
# two cores; later calls return at once, and a fresh clone on the same machine reuses the
# cache.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
mod=$root/hack/tools/hydra
hydra_version=$(awk '{for (i = 1; i < NF; i++) if ($i == "github.com/ory/hydra/v2") {print $(i + 1); exit}}' "$mod/go.mod")
[ -n "$hydra_version" ] || { echo "build-hydra.sh: no github.com/ory/hydra/v2 require in $mod/go.mod" >&2; exit 1; }
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/clientcreds/hydra
cache=$cache_root/$hydra_version
link=$root/bin/hydra

# The stamp names exactly what was built; any change to the tools module rebuilds.
stamp_want=$(cat "$mod/go.mod" "$mod/go.sum" | sha256sum | cut -c1-16)

. "$root/hack/lib/cache.sh"

have_it() {
  [ -x "$cache/hydra" ] && [ "$(cat "$cache/.stamp" 2>/dev/null)" = "$stamp_want" ]
}

build_it() {
  command -v "${CC:-cc}" >/dev/null 2>&1 || {
    echo "build-hydra.sh: Hydra's sqlite driver needs cgo and no C compiler (${CC:-cc}) was found; install gcc" >&2
    exit 1
  }
  echo "Building Ory Hydra $hydra_version (sqlite) from the Go module proxy." >&2
  echo "This happens once per machine and takes several minutes; it is cached in $cache." >&2
  start=$SECONDS
  rm -f "$cache/.stamp"
  (cd "$mod" && CGO_ENABLED=1 go build -tags sqlite -trimpath -ldflags='-s -w' -o "$cache/hydra.tmp" github.com/ory/hydra/v2)
  mv "$cache/hydra.tmp" "$cache/hydra"
  echo "$stamp_want" >"$cache/.stamp"
  echo "  built hydra in $((SECONDS - start))s" >&2
}

mkdir -p "$cache"
cache_once "$cache_root/.lock-$hydra_version" have_it build_it "$cache/hydra" "$link"

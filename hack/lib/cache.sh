# Shared by the scripts that build a tool once per version into the per-user cache
# (${XDG_CACHE_HOME:-$HOME/.cache}/clientcreds/...) and link it into bin/: build-control-plane.sh,
# build-node.sh and build-hydra.sh. Source it; it defines functions only.

# cache_link TARGET LINK: make LINK a symlink to TARGET, replacing whatever LINK was.
cache_link() {
  mkdir -p "$(dirname "$2")"
  if [ "$(readlink "$2" 2>/dev/null)" != "$1" ]; then
    rm -rf "$2"
    ln -s "$1" "$2"
  fi
}

# cache_once LOCK HAVE BUILD TARGET LINK: when the command HAVE fails, take the lock file LOCK
# (a parallel build of the same thing waits there), check HAVE again and run BUILD; then link
# LINK to TARGET and print LINK. HAVE and BUILD are names of functions of the caller.
cache_once() {
  local lock=$1 have=$2 build=$3 target=$4 link=$5
  if ! "$have"; then
    mkdir -p "$(dirname "$lock")"
    exec 9>"$lock"
    flock 9
    if ! "$have"; then
      "$build"
    fi
    exec 9>&-
  fi
  cache_link "$target" "$link"
  echo "$link"
}

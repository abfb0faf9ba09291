#!/usr/bin/env bash
# test-cluster.sh — make test-cluster: the end-to-end tests on a real node, set-up included:
# node binaries (hack/build-node.sh, cached), containerd and runc (apt-get when missing),
# images (make images), the cluster (hack/cluster.sh up), the tests (test/cluster, build tag
# "cluster"), and the cluster torn down again however the tests end.
#
# CLUSTER_KEEP=1 leaves the cluster running afterwards (make cluster-down stops it).
set -Eeuo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
start=$SECONDS

if pgrep -x kubelet >/dev/null; then
  echo "test-cluster: a kubelet already runs on this machine; one node at a time (make cluster-down)" >&2
  exit 1
fi

make --no-print-directory images
echo "test-cluster: images ready after $((SECONDS - start))s" >&2

teardown() {
  local code=$?
  if [ -z "${CLUSTER_KEEP:-}" ]; then
    hack/cluster.sh down || code=1
  fi
  echo "test-cluster: finished in $((SECONDS - start))s (exit $code)" >&2
  exit $code
}
trap teardown EXIT
hack/cluster.sh up
echo "test-cluster: cluster up after $((SECONDS - start))s" >&2
go test -tags cluster -count=1 -v -timeout 25m ./test/cluster/ 2>&1 | tee bin/cluster/test.log

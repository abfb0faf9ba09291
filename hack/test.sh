#!/usr/bin/env bash
# test.sh — what `make test` runs once the binaries are built: every Go test in the
# module (unit, envtest integration against a real kube-apiserver + etcd, and test/e2e
# with the real binaries as separate processes), with the race detector. The quick
# inner loop is hack/test-unit.sh (make test-unit); this is the full proof CI runs.
#
# Needs: bin/ built (make build), the local control plane (hack/build-control-plane.sh,
# cached after its first build), Ory Hydra (hack/build-hydra.sh, cached likewise), nginx
# with auth_request for the verifier's end-to-end test (installed by hack/ensure-nginx.sh
# when missing), promtool and prometheus for the alert rules' tests and the monitoring
# end-to-end test (hack/ensure-prometheus.sh).
#
# Environment: GO_TEST_FLAGS adds flags (e.g. GO_TEST_FLAGS=-v); GO_TEST_PACKAGES
# replaces ./... (e.g. GO_TEST_PACKAGES=./test/e2e/...); GO_TEST_P sets go test -p.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

start=$SECONDS

# The checks of make verify that make test does not already do (it vets, and regenerates
# in place), the quick ones first: gofmt and the one Kubernetes version. The chart check
# (its copies of config/ and helm lint) runs after the tests, when test/install has built
# the pinned Helm.
VERIFY_ONLY="gofmt k8s-version" hack/verify.sh

# The control plane the envtest and e2e tests run: built once, printed as a directory.
KUBEBUILDER_ASSETS=$(hack/build-control-plane.sh)
export KUBEBUILDER_ASSETS

# Ory Hydra for the Hydra backend's tests (they skip without it): built once, cached.
hack/build-hydra.sh >/dev/null

# The e2e tests look for nginx on PATH and in /usr/sbin, /usr/local/sbin.
if ! PATH=$PATH:/usr/sbin:/usr/local/sbin nginx -V 2>&1 | grep -q -- --with-http_auth_request_module; then
	echo "test.sh: nginx with auth_request is missing; installing it with hack/ensure-nginx.sh" >&2
	hack/ensure-nginx.sh
fi

# promtool (the alert rules' tests) and prometheus (test/e2e's monitoring test).
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
	echo "test.sh: prometheus/promtool are missing; installing them with hack/ensure-prometheus.sh" >&2
	hack/ensure-prometheus.sh
fi

# The alert rules parse, and every alert fires and stays silent when its tests say.
promtool check rules config/prometheus/alerts.yaml
promtool test rules config/prometheus/tests/*.yaml

for b in manager verifier hello okta-emulator token-injector; do
	[ -x "bin/$b" ] || { echo "test.sh: bin/$b is missing: run make build (or make test)" >&2; exit 1; }
done

failed=()
scratch=$(mktemp -d)
trap 'jobs -p | xargs -r kill 2>/dev/null || true; rm -rf "$scratch"' EXIT

# Beside the Go tests, in the background (the tests spend most of their time waiting on
# timers and processes, so these use a core the tests leave idle):
# - the images of make images (their own tools module): built into a temporary directory
#   and compared with the Dockerfile (entrypoint, user, ports, files), and built twice to
#   the same bytes;
# - the emulator's replay of real-Okta recordings: go test hides a passing package's
#   output, so its per-endpoint table and "transcripts: N/M interactions match" line are
#   printed from the verbose run.
(rc=0; go -C hack/tools/images test -count=1 ./... >"$scratch/images.out" 2>&1 || rc=$?; echo "$rc" >"$scratch/images.rc") &
images_pid=$!
(rc=0; CGO_ENABLED=0 go test -trimpath -count=1 -run '^TestTranscriptReplay$' -v ./internal/oktaemu/ >"$scratch/replay.out" 2>&1 || rc=$?; echo "$rc" >"$scratch/replay.rc") &
replay_pid=$!

# Every Go test with the race detector. -p (how many packages build or run at once)
# defaults to twice the cores, at least 4: most test time is spent waiting, not computing.
# The two longest packages are named first, so that they start first and the others run
# beside them.
par=${GO_TEST_P:-$(( $(nproc) * 2 > 4 ? $(nproc) * 2 : 4 ))}
# shellcheck disable=SC2206 # GO_TEST_PACKAGES is a word list
packages=(${GO_TEST_PACKAGES:-./controllers ./test/e2e ./...})
# shellcheck disable=SC2086 # GO_TEST_FLAGS is a word list
go test -race -count=1 -p "$par" -timeout=20m ${GO_TEST_FLAGS:-} "${packages[@]}" || failed+=("go test")

wait "$images_pid" "$replay_pid" || true
echo "--- images (hack/tools/images)"
cat "$scratch/images.out"
[ "$(cat "$scratch/images.rc")" = 0 ] || failed+=("images (hack/tools/images)")
echo "--- transcript replay"
if [ "$(cat "$scratch/replay.rc")" = 0 ]; then
	sed -n '/endpoint .*served/,/^transcripts:/p' "$scratch/replay.out"
else
	cat "$scratch/replay.out"
	failed+=("transcript replay")
fi

VERIFY_ONLY="chart" hack/verify.sh || failed+=("chart")

if [ "${#failed[@]}" -gt 0 ]; then
	echo "test.sh: FAILED: ${failed[*]} (after $((SECONDS - start))s)" >&2
	exit 1
fi
echo "test.sh: all tests passed in $((SECONDS - start))s"

#!/usr/bin/env bash
# test.sh — what `make test` runs once the binaries are built: every Go test in the
# module (unit, envtest integration against a real kube-apiserver + etcd, and test/e2e
# with the real binaries as separate processes), with the race detector. The quick
# inner loop is hack/test-unit.sh (make test-unit); this is the full proof CI runs.
#
# Needs: bin/ built (make build), the local control plane (hack/build-control-plane.sh,
# cached after its first build), and nginx with auth_request for the verifier's
# end-to-end test (installed by hack/ensure-nginx.sh when missing).
#
# Environment: GO_TEST_FLAGS adds flags (e.g. GO_TEST_FLAGS=-v); GO_TEST_PACKAGES
# replaces ./... (e.g. GO_TEST_PACKAGES=./test/e2e/...).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

start=$SECONDS

# The checks of make verify that make test does not already do (it vets, and regenerates
# in place): gofmt, the chart (its copies of config/ and helm lint) and the one Kubernetes
# version. Seconds once Helm is built.
VERIFY_ONLY="gofmt chart k8s-version" hack/verify.sh

# The control plane the envtest and e2e tests run: built once, printed as a directory.
KUBEBUILDER_ASSETS=$(hack/build-control-plane.sh)
export KUBEBUILDER_ASSETS

# The e2e tests look for nginx on PATH and in /usr/sbin, /usr/local/sbin.
if ! PATH=$PATH:/usr/sbin:/usr/local/sbin nginx -V 2>&1 | grep -q -- --with-http_auth_request_module; then
	echo "test.sh: nginx with auth_request is missing; installing it with hack/ensure-nginx.sh" >&2
	hack/ensure-nginx.sh
fi

for b in manager verifier hello okta-emulator token-injector; do
	[ -x "bin/$b" ] || { echo "test.sh: bin/$b is missing: run make build (or make test)" >&2; exit 1; }
done

# shellcheck disable=SC2086 # GO_TEST_FLAGS and GO_TEST_PACKAGES are word lists
go test -race -count=1 -timeout=20m ${GO_TEST_FLAGS:-} ${GO_TEST_PACKAGES:-./...}

# The images of make images (its own tools module): built into a temporary directory and
# compared with the Dockerfile (entrypoint, user, ports, files), and built twice to the
# same bytes.
go -C hack/tools/images test -count=1 ./...

# The emulator's replay of real-Okta recordings: go test hides a passing package's
# output, so show its per-endpoint table and "transcripts: N/M interactions match" line.
go test -count=1 -run '^TestTranscriptReplay$' -v ./internal/oktaemu/ | sed -n '/endpoint .*served/,/^transcripts:/p'

echo "test.sh: all tests passed in $((SECONDS - start))s"

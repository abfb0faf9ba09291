#!/usr/bin/env bash
# test-unit.sh — `make test-unit`: the fast inner loop. Every package whose tests need no
# control plane and no built binaries, with -short and no test cache.
#
# A package is left out when its test binary links controller-runtime's envtest (it starts
# kube-apiserver and etcd) or the end-to-end harness (it runs bin/*); the script names
# them. They are not skipped anywhere else: `make test` (hack/test.sh) runs ./... in full,
# and CI runs that.
#
# No race detector by default: it makes the loop slower (28 s of CPU against 17 s, 66 s
# against 27-52 s warm wall time on the shared 2-core machine), and `make test` runs
# everything with it.
# Environment: GO_TEST_FLAGS adds flags (e.g. GO_TEST_FLAGS=-race, GO_TEST_FLAGS=-v).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

start=$SECONDS
module=$(go list -m)
needs_cluster='sigs.k8s.io/controller-runtime/pkg/envtest'
needs_binaries="$module/test/e2e/harness"

# For each package's test binary: "<package> <left-out dependency>..." when it links one.
mapfile -t out < <(go list -test -f '{{if .ForTest}}{{.ForTest}}{{range .Deps}}{{if or (eq . "'"$needs_cluster"'") (eq . "'"$needs_binaries"'")}} {{.}}{{end}}{{end}}{{end}}' ./... | awk 'NF > 1 { print $1 }' | sort -u)
declare -A skip=()
for p in "${out[@]}"; do skip[$p]=1; done
unit=()
while IFS= read -r p; do
	[ -n "${skip[$p]:-}" ] || unit+=("$p")
done < <(go list ./...)

if [ "${#out[@]}" -gt 0 ]; then
	echo "test-unit: left to make test (they need the control plane or bin/):"
	printf '  %s\n' "${out[@]#"$module"/}"
fi
# shellcheck disable=SC2086 # GO_TEST_FLAGS is a word list
go test -short -count=1 ${GO_TEST_FLAGS:-} "${unit[@]}"
echo "test-unit: ${#unit[@]} packages passed in $((SECONDS - start))s"

#!/usr/bin/env bash
# bench.sh — `make bench`: measure the verifier against oauth2-proxy, a null HTTP server and
# the crypto floor, and the operator at 1,000 and 5,000 OAuthClients against the Okta
# emulator's rate limits; write bench/results.md and print it. See bench/README.md.
#
#   make bench                      # full size; writes bench/results.md (about 25 minutes)
#   BENCH_SCALE=small make bench    # quick run; writes bench/out/results-small.md
#   BENCH_ONLY=verifier make bench  # one part (verifier, operator or hydra); writes bench/out/
#   BENCH_ONLY=hydra make bench     # clientcreds and hydra-maester on one Ory Hydra (about 13
#                                   # minutes; BENCH_HYDRA_STEADY=2m shortens its 10-minute window)
#   BENCH=scale make bench          # only the scale part (BENCH_ONLY=operator-scale): 10,000
#                                   # OAuthClients (BENCH_SCALE_CLIENTS=N), shipped GOMEMLIMIT,
#                                   # a manager restart watched; writes bench/out/results-full.md
#
# make bench builds bin/ (make build) and the control plane (bin/k8s) first. This script
# builds the benchmark's own tools from hack/tools/bench — a separate Go module, so none
# of it (oauth2-proxy above all) is a dependency of the project — into bin/bench/, and
# bin/controlplane. Logs, token files and raw JSON results land in bench/out/ (ignored
# by git).
set -Eeuo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

scale=${BENCH_SCALE:-full}
if [ "${BENCH:-}" = scale ]; then
	export BENCH_ONLY=operator-scale
fi
case "$scale" in
full | small) ;;
*)
	echo "bench: BENCH_SCALE=$scale: want full or small" >&2
	exit 2
	;;
esac

for tool in go taskset; do
	command -v "$tool" >/dev/null || {
		echo "bench: $tool is not on PATH (taskset comes with util-linux)" >&2
		exit 1
	}
done
if [ "$(nproc)" -lt 2 ]; then
	echo "bench: needs at least 2 CPUs (one for the server under test, one for the load generator); this machine has $(nproc)" >&2
	exit 1
fi

# wrk (Debian/Ubuntu package "wrk") drives the closed-loop runs. Without it the Go load
# generator stands in, and the report says so.
if ! command -v wrk >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "bench: installing wrk with apt-get"
		apt-get update -qq && apt-get install -y -qq wrk >/dev/null ||
			echo "bench: could not install wrk; using the Go load generator" >&2
	else
		echo "bench: wrk is not installed (sudo apt-get install wrk); using the Go load generator" >&2
	fi
fi

echo "bench: building the benchmark tools (oauth2-proxy v7.15.6 and the load generator) into bin/bench"
mkdir -p bin/bench
(
	cd hack/tools/bench
	go build -o "$root/bin/bench/oauth2-proxy" \
		-ldflags "-X github.com/oauth2-proxy/oauth2-proxy/v7/pkg/version.VERSION=v7.15.6" \
		github.com/oauth2-proxy/oauth2-proxy/v7
	go build -o "$root/bin/bench/" ./cmd/...
)
go build -o bin/controlplane ./hack/controlplane

# The hydra part (in the default set, or named in BENCH_ONLY): Ory Hydra and hydra-maester,
# each built once and cached per user.
case ",${BENCH_ONLY:-hydra}," in
*,hydra,*)
	hack/build-hydra.sh >/dev/null
	HYDRA_MAESTER_DIR=$(hack/build-hydra-maester.sh)
	export HYDRA_MAESTER_DIR
	;;
esac

start=$SECONDS
status=0
bin/bench/bench --root "$root" --scale "$scale" || status=$?
echo "bench: make bench took $(((SECONDS - start) / 60))m$(((SECONDS - start) % 60))s (after the builds)"
exit "$status"

#!/usr/bin/env bash
# ensure-prometheus.sh makes sure promtool and prometheus are on PATH.
#
# make test runs the alert rules' unit tests with `promtool test rules`, and the
# monitoring end-to-end test (test/e2e/monitoring_test.go) starts a real prometheus on
# loopback. Both come from Debian's prometheus package. Needs root (apt-get) when
# they are missing.
set -euo pipefail

have() { command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; }

if have; then
	echo "prometheus: $(command -v prometheus), promtool: $(command -v promtool)"
	exit 0
fi

# shellcheck source=lib/apt.sh
. "$(dirname "$0")/lib/apt.sh"
apt_install prometheus prometheus

if ! have; then
	echo "the prometheus package was installed but prometheus or promtool is not on PATH" >&2
	exit 1
fi
echo "prometheus: $(command -v prometheus), promtool: $(command -v promtool)"

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

if ! command -v apt-get >/dev/null 2>&1; then
	echo "prometheus/promtool are missing and apt-get is not available; install Prometheus (2.x) by hand" >&2
	exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO="sudo -n"
	else
		echo "prometheus is missing and installing it needs root" >&2
		exit 1
	fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# Don't let the package start a system prometheus on :9090: the tests start their own.
policy_added=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod +x /usr/sbin/policy-rc.d
	policy_added=1
fi
cleanup() { if [ -n "$policy_added" ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup EXIT

$SUDO apt-get install -y -q --no-install-recommends prometheus

if ! have; then
	echo "the prometheus package was installed but prometheus or promtool is not on PATH" >&2
	exit 1
fi
echo "prometheus: $(command -v prometheus), promtool: $(command -v promtool)"

#!/usr/bin/env bash
# ensure-nginx.sh makes sure an nginx with the auth_request module is on PATH.
#
# The verifier's end-to-end test runs a real nginx in front of the verifier and
# the hello service. On Debian, nginx-light is the smallest package that is built
# with auth_request; newer releases fold the flavours into the plain nginx
# package, so that one is tried next. Needs root (apt-get) when nginx is missing.
set -euo pipefail

has_auth_request() {
	command -v nginx >/dev/null 2>&1 && nginx -V 2>&1 | grep -q -- '--with-http_auth_request_module'
}

if has_auth_request; then
	echo "nginx with auth_request: $(command -v nginx)"
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "nginx is missing and apt-get is not available; install nginx (with auth_request) by hand" >&2
	exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO="sudo -n"
	else
		echo "nginx is missing and installing it needs root" >&2
		exit 1
	fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# Don't let the package start a system nginx on port 80: the tests start their own.
policy_added=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod +x /usr/sbin/policy-rc.d
	policy_added=1
fi
cleanup() { if [ -n "$policy_added" ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup EXIT

$SUDO apt-get install -y -q --no-install-recommends nginx-light ||
	$SUDO apt-get install -y -q --no-install-recommends nginx

if ! has_auth_request; then
	echo "nginx was installed but lacks the auth_request module" >&2
	exit 1
fi
echo "nginx with auth_request: $(command -v nginx)"

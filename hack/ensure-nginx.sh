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

# shellcheck source=lib/apt.sh
. "$(dirname "$0")/lib/apt.sh"
apt_install nginx nginx-light || apt_install nginx nginx

if ! has_auth_request; then
	echo "nginx was installed but lacks the auth_request module" >&2
	exit 1
fi
echo "nginx with auth_request: $(command -v nginx)"

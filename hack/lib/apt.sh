# apt.sh — sourced by the hack/ensure-*.sh scripts: installs Debian packages a test needs.
#
# apt_install PKG... runs apt-get update and install (no recommends) as root, or through
# `sudo -n` when not root, and returns apt-get's status. While it runs, a policy-rc.d that
# refuses service starts keeps the package from starting a system daemon (nginx on :80,
# prometheus on :9090): the tests start their own on loopback. It exits the script with a
# message naming what when apt-get or root is not available.

apt_install() {
	local what=$1 sudo="" policy_added="" status=0
	shift
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "$what is missing and apt-get is not available; install it by hand" >&2
		exit 1
	fi
	if [ "$(id -u)" -ne 0 ]; then
		if ! command -v sudo >/dev/null 2>&1; then
			echo "$what is missing and installing it needs root" >&2
			exit 1
		fi
		sudo="sudo -n"
	fi
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
		$sudo chmod +x /usr/sbin/policy-rc.d
		policy_added=1
	fi
	{ $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
		$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"; } || status=$?
	if [ -n "$policy_added" ]; then $sudo rm -f /usr/sbin/policy-rc.d; fi
	return "$status"
}

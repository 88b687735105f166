#!/usr/bin/env bash
# Installs OVN 23.03 from Debian (ovn-central, ovn-host) for
# `make bench-ovn`, without starting Debian's OVN services: the benchmark
# runs its own OVN daemons inside its lab. Not needed by `make test`.
set -euo pipefail
if command -v ovn-northd >/dev/null 2>&1 && command -v ovn-controller >/dev/null 2>&1 \
	&& [ -f /usr/share/ovn/ovn-nb.ovsschema ]; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "install-ovn: need root to install ovn-central and ovn-host" >&2
	exit 1
fi
# Keep the packages' init scripts from starting system OVN daemons.
restore=""
if [ -e /usr/sbin/policy-rc.d ]; then
	restore=$(mktemp)
	cp -p /usr/sbin/policy-rc.d "$restore"
fi
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
cleanup() {
	if [ -n "$restore" ]; then
		mv "$restore" /usr/sbin/policy-rc.d
	else
		rm -f /usr/sbin/policy-rc.d
	fi
}
trap cleanup EXIT
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ovn-central ovn-host >/dev/null

#!/usr/bin/env bash
# Installs the system packages the tests need (real Open vSwitch, iproute2,
# ping, tcpdump, ethtool, iperf3) when they are missing and we are root.
# Never starts the distribution's Open vSwitch service: tests run their own
# ovsdb-server/ovs-vswitchd per network namespace.
set -euo pipefail

need=()
command -v ovs-vswitchd >/dev/null 2>&1 || need+=(openvswitch-switch openvswitch-common)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v ping >/dev/null 2>&1 || need+=(iputils-ping)
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
command -v ethtool >/dev/null 2>&1 || need+=(ethtool)
command -v iperf3 >/dev/null 2>&1 || need+=(iperf3)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing ${need[*]}; not root, so tests that need them will be skipped" >&2
  exit 0
fi
echo "install-deps: installing ${need[*]}" >&2
created_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  created_policy=1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
if [ "$created_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
# A distribution service that did start would only hold the default
# database; it does not interfere with the tests' private daemons.

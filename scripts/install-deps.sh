#!/usr/bin/env bash
# Installs the system packages the tests need (real Open vSwitch, iproute2,
# ping, tcpdump, ethtool, iperf3, and Debian's chromium for the web UI's
# browser test) when they are missing and we are root. Never starts the
# distribution's Open vSwitch service: tests run their own
# ovsdb-server/ovs-vswitchd per network namespace. Checks that Node.js >=
# 20.19 and npm are there (the web UI's build); it does not install them.
set -euo pipefail

# Node.js and npm build the web UI (make ui), which every build embeds.
node_ok=0
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  if node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
    node_ok=1
  fi
fi
if [ "$node_ok" != 1 ]; then
  echo "install-deps: the web UI needs Node.js >= 20.19 and npm (found: node $(node --version 2>/dev/null || echo none), npm $(npm --version 2>/dev/null || echo none)); install them (e.g. from https://nodejs.org or Debian's nodejs and npm packages of a recent release) and run make test again" >&2
  exit 1
fi

need=()
command -v ovs-vswitchd >/dev/null 2>&1 || need+=(openvswitch-switch openvswitch-common)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v ping >/dev/null 2>&1 || need+=(iputils-ping)
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
command -v ethtool >/dev/null 2>&1 || need+=(ethtool)
command -v iperf3 >/dev/null 2>&1 || need+=(iperf3)
# The hardware VTEP test (integration TestVTEPBareMetal) runs Debian's
# ovs-vtep emulator (vtep-ctl, the hardware_vtep schema) with
# /usr/bin/python3 and its python3-openvswitch.
command -v vtep-ctl >/dev/null 2>&1 || need+=(openvswitch-vtep)
/usr/bin/python3 -c 'import ovs.daemon' >/dev/null 2>&1 || need+=(python3-openvswitch)
# The browser test (integration TestUI) drives Debian's chromium headless.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# The split-NVE test (integration TestSplitNVE) sends 802.1Q frames with scapy.
/usr/bin/python3 -c "import scapy" >/dev/null 2>&1 || need+=(python3-scapy)

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

#!/usr/bin/env bash
# Installs the Debian packages the build needs when they are missing (with sudo when not root).
#   scripts/install-deps.sh          what `swift build` needs: librabbitmq-dev, libyaml-dev, pkg-config
#   scripts/install-deps.sh deb      also what `make deb` needs: dpkg-dev (dpkg-shlibdeps)
#   scripts/install-deps.sh test     also what the tests need: what `make deb` needs, lintian,
#                                    debootstrap (the package test installs the package into a
#                                    Debian root of its own), rabbitmq-server, Python's
#                                    jsonschema and PyYAML (for the schema test), and promtool
#                                    (unpacked from Debian's prometheus package, not installed),
#                                    openssl (the TLS tests make their own CA), chromium (the
#                                    admin console's tests look at its pages in a headless browser)
#
# The machine's own services are left as they were: Debian's rabbitmq-server (and Erlang's epmd)
# would start and enable a system node on 0.0.0.0:5672 when installed, while the tests use a node
# of their own on 127.0.0.1. So daemons are not started during the install (a policy-rc.d that
# says no, unless the machine has its own), and the units an install enabled that were not
# enabled before are disabled again (and stopped, should one have started anyway).
set -euo pipefail
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# The units of the packages' daemons, and which of them are enabled now.
daemon_units=(rabbitmq-server.service epmd.service epmd.socket)
enabled_units() {
  command -v systemctl >/dev/null || return 0
  for unit in "${daemon_units[@]}"; do
    if systemctl is-enabled --quiet "$unit" 2>/dev/null; then echo "$unit"; fi
  done
}

# apt-get install "$@", starting no daemon and leaving enabled only the units enabled before.
install_quietly() {
  local before policy=${POLICY_RC_D:-/usr/sbin/policy-rc.d} own_policy=0
  before=$(enabled_units)
  if [ ! -e "$policy" ]; then
    as_root sh -c "printf '#!/bin/sh\n# scripts/install-deps.sh: start no service while installing\nexit 101\n' > $policy && chmod 755 $policy"
    own_policy=1
  fi
  local status=0
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || status=$?
  if [ "$own_policy" = 1 ]; then as_root rm -f "$policy"; fi
  for unit in $(enabled_units); do
    if ! grep -qx "$unit" <<<"$before"; then
      echo "install-deps: disabling $unit (the install enabled it; the tests run a node of their own)"
      as_root systemctl disable --quiet "$unit" 2>/dev/null || true
      if systemctl is-active --quiet "$unit" 2>/dev/null; then as_root systemctl stop "$unit" || true; fi
    fi
  done
  return "$status"
}

# Sourced by its test for the functions above only.
if [ "${BASH_SOURCE[0]}" != "$0" ]; then return 0; fi

need=()
lean=()
pkg-config --exists librabbitmq 2>/dev/null || need+=(librabbitmq-dev pkg-config)
pkg-config --exists yaml-0.1 2>/dev/null || need+=(libyaml-dev pkg-config)
if [ "${1:-build}" = deb ] || [ "${1:-build}" = test ]; then
  command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
fi
if [ "${1:-build}" = test ]; then
  command -v lintian >/dev/null || need+=(lintian)
  # The package test installs it into a Debian root of its own.
  command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
  [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || need+=(rabbitmq-server)
  command -v python3 >/dev/null || need+=(python3)
  python3 -c 'import jsonschema, yaml' 2>/dev/null || need+=(python3-jsonschema python3-yaml)
  command -v systemd-analyze >/dev/null || need+=(systemd)
  command -v openssl >/dev/null || need+=(openssl)
  # Without its recommendations (desktop services such as upower): the tests run it headless.
  [ -x /usr/bin/chromium ] || lean+=(chromium)
fi
if [ "${1:-build}" = test ] && ! bash "$(dirname "$0")/promtool.sh" >/dev/null 2>&1; then
  refresh=1
fi
if [ ${#need[@]} -gt 0 ] || [ ${#lean[@]} -gt 0 ] || [ "${refresh:-0}" = 1 ]; then
  [ $((${#need[@]} + ${#lean[@]})) -eq 0 ] || echo "installing (Debian): ${need[*]} ${lean[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  [ ${#need[@]} -eq 0 ] || install_quietly "${need[@]}"
  [ ${#lean[@]} -eq 0 ] || install_quietly --no-install-recommends "${lean[@]}"
fi
if [ "${1:-build}" = test ]; then bash "$(dirname "$0")/promtool.sh" >/dev/null; fi

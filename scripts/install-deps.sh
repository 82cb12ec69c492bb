#!/usr/bin/env bash
# Installs the Debian packages the build needs when they are missing (with sudo when not root).
#   scripts/install-deps.sh          what `swift build` needs: librabbitmq-dev, libyaml-dev, pkg-config
#   scripts/install-deps.sh test     also what the tests need: rabbitmq-server, Python's
#                                    jsonschema and PyYAML (for the schema test), and promtool
#                                    (unpacked from Debian's prometheus package, not installed),
#                                    openssl (the TLS tests make their own CA), chromium (the
#                                    admin console's tests look at its pages in a headless browser)
set -euo pipefail
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

need=()
lean=()
pkg-config --exists librabbitmq 2>/dev/null || need+=(librabbitmq-dev pkg-config)
pkg-config --exists yaml-0.1 2>/dev/null || need+=(libyaml-dev pkg-config)
if [ "${1:-build}" = test ]; then
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
  [ ${#need[@]} -eq 0 ] || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  [ ${#lean[@]} -eq 0 ] || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${lean[@]}" >/dev/null
fi
if [ "${1:-build}" = test ]; then bash "$(dirname "$0")/promtool.sh" >/dev/null; fi

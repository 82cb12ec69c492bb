#!/usr/bin/env bash
# Prints the path of a promtool, for the metrics test: the one on PATH, or Debian's (from the
# prometheus package, downloaded and unpacked under .build/tools without installing it, so no
# Prometheus service is set up on the machine).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if command -v promtool >/dev/null 2>&1; then command -v promtool; exit 0; fi
TOOLS=$ROOT/.build/tools
if [ ! -x "$TOOLS/usr/bin/promtool" ]; then
  mkdir -p "$TOOLS/download"
  (cd "$TOOLS/download" && apt-get download prometheus >/dev/null 2>&1) || {
    echo "promtool: cannot download Debian's prometheus package (apt-get download prometheus)" >&2
    exit 1
  }
  dpkg-deb -x "$TOOLS"/download/prometheus_*.deb "$TOOLS"
  rm -rf "$TOOLS/download"
fi
echo "$TOOLS/usr/bin/promtool"

#!/usr/bin/env bash
# Exits 0 when BINARY (default .build/release/broker) is what `make release` would build now:
# it exists, links no Swift runtime library (the static build; a plain `swift build -c release`
# links libswiftCore.so from the toolchain), and no source or manifest is newer than it.
# Otherwise it says why on stderr and exits 1, and `make install` builds the release first.
set -euo pipefail
cd "$(dirname "$0")/.."
binary="${1:-.build/release/broker}"
if [ ! -x "$binary" ]; then
  echo "release: $binary does not exist yet" >&2
  exit 1
fi
if ldd "$binary" 2>/dev/null | grep -q 'libswift\|libFoundation\|libdispatch'; then
  echo "release: $binary links the Swift runtime dynamically; building the static one" >&2
  exit 1
fi
newer=$(find Sources Plugins Package.swift VERSION -newer "$binary" -type f -print -quit 2>/dev/null || true)
if [ -n "$newer" ]; then
  echo "release: $newer is newer than $binary; building again" >&2
  exit 1
fi

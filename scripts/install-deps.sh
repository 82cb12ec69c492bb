#!/usr/bin/env bash
# Installs the Debian packages the build and tests need, when missing.
set -euo pipefail
need=()
command -v python3 >/dev/null || need+=(python3)
pkg-config --exists librabbitmq 2>/dev/null || need+=(librabbitmq-dev pkg-config)
python3 -c 'import jsonschema, yaml' 2>/dev/null || pipneed=1
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ "${pipneed:-0}" = 1 ]; then
  echo "installing Python packages for the schema check: jsonschema PyYAML"
  python3 -m pip install --quiet jsonschema PyYAML || apt-get install -y -qq python3-jsonschema python3-yaml >/dev/null
fi

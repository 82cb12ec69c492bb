#!/usr/bin/env bash
# `make test`: starts the project's own RabbitMQ node (scripts/rabbitmq.sh), builds, runs
# `swift test` against it, and stops the node again if this script started it.
set -euo pipefail
cd "$(dirname "$0")/.."
started=0
if ! bash scripts/rabbitmq.sh status; then
  bash scripts/rabbitmq.sh start
  started=1
fi
stop_node() { if [ "$started" = 1 ]; then bash scripts/rabbitmq.sh stop || true; fi; }
trap stop_node EXIT
RABBITMQ_URL=$(bash scripts/rabbitmq.sh url)
export RABBITMQ_URL
${SWIFT:-swift} build --build-tests
${SWIFT:-swift} test --skip-build "$@"

#!/usr/bin/env bash
# `make test`: starts the project's own RabbitMQ node (scripts/rabbitmq.sh) and the three-node
# cluster of scripts/rabbitmq-cluster.sh (for the cluster tests), builds, runs `swift test`
# against them, and stops what this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
started=0
cluster_started=0
stop_nodes() {
  if [ "$cluster_started" = 1 ]; then bash scripts/rabbitmq-cluster.sh stop || true; fi
  if [ "$started" = 1 ]; then bash scripts/rabbitmq.sh stop || true; fi
}
trap stop_nodes EXIT
if ! bash scripts/rabbitmq.sh status; then
  bash scripts/rabbitmq.sh start
  started=1
fi
# The cluster tests' three nodes; fails loudly when they cannot start or join.
if ! bash scripts/rabbitmq-cluster.sh status; then
  bash scripts/rabbitmq-cluster.sh start
  cluster_started=1
fi
RABBITMQ_URL=$(bash scripts/rabbitmq.sh url)
RABBITMQ_CLUSTER_URLS=$(bash scripts/rabbitmq-cluster.sh urls)  # prints only: starts nothing
export RABBITMQ_URL RABBITMQ_CLUSTER_URLS
${SWIFT:-swift} build --build-tests
${SWIFT:-swift} test --skip-build "$@"

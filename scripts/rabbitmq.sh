#!/usr/bin/env bash
# A RabbitMQ node of the project's own for the tests and the demo, on 127.0.0.1, from Debian's
# rabbitmq-server (installed when missing, with sudo when not root). It has its own node name,
# data directory, configuration, cookie and ports, so a RabbitMQ already on the machine (and
# /etc/rabbitmq) is left alone.
#
#   scripts/rabbitmq.sh start      start the node (if not running) and wait until it is ready
#   scripts/rabbitmq.sh stop       stop it
#   scripts/rabbitmq.sh status     exit 0 when it runs
#   scripts/rabbitmq.sh url        print its AMQP URL
#   scripts/rabbitmq.sh ctl ARGS   rabbitmqctl against it (tests use this: stop_app, start_app, ...)
#
# Settings (environment): BROKER_RABBITMQ_PORT (AMQP, default 5673), BROKER_RABBITMQ_DIR (default
# /tmp/broker-rabbitmq-UID, one node per user whatever the checkout), BROKER_RABBITMQ_NODE (default broker-test@localhost),
# BROKER_RABBITMQ_EPMD_PORT (default 4370). Fails loudly (non-zero, with the node's log) when
# the node cannot start.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib/rabbitmq-node.sh
. "$ROOT/scripts/lib/rabbitmq-node.sh"

NODE_AMQP_PORT=${BROKER_RABBITMQ_PORT:-5673}
NODE_DIST_PORT=$((NODE_AMQP_PORT + 20000))
NODE_NAME=${BROKER_RABBITMQ_NODE:-broker-test@localhost}
NODE_DIR=${BROKER_RABBITMQ_DIR:-${TMPDIR:-/tmp}/broker-rabbitmq-$(id -u)}
EPMD_PORT=${BROKER_RABBITMQ_EPMD_PORT:-4370}

case "${1:-start}" in
  start)
    ensure_rabbitmq_installed
    start_node
    ;;
  stop)
    stop_node
    stop_epmd
    ;;
  status) node_running ;;
  url) echo "amqp://guest:guest@127.0.0.1:$NODE_AMQP_PORT" ;;
  ctl)
    shift
    [ -s "$NODE_DIR/.erlang.cookie" ] || { log "$NODE_NAME was never started here (no $NODE_DIR): run '$0 start'"; exit 1; }
    node_ctl "$@"
    ;;
  *)
    echo "usage: $0 start|stop|status|url|ctl ARGS" >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# A three-node RabbitMQ cluster of the project's own on 127.0.0.1, from Debian's rabbitmq-server
# (installed when missing), for the cluster tests and for trying replicas. No containers: three
# nodes with their own names, data directories, ports, a shared Erlang cookie and a private epmd
# (so neither the system's RabbitMQ nor scripts/rabbitmq.sh's test node is touched).
#
#   scripts/rabbitmq-cluster.sh start            start the three nodes and join them (fresh data)
#   scripts/rabbitmq-cluster.sh stop             stop every node and delete the cluster's data
#   scripts/rabbitmq-cluster.sh status           exit 0 when all three nodes run, in one cluster
#   scripts/rabbitmq-cluster.sh urls             the AMQP URLs, comma-separated (RABBITMQ_URL takes the list)
#   scripts/rabbitmq-cluster.sh url N            node N's AMQP URL
#   scripts/rabbitmq-cluster.sh kill-node N      SIGKILL node N's VM (a crash)
#   scripts/rabbitmq-cluster.sh restart-node N   start node N again (it rejoins the cluster)
#   scripts/rabbitmq-cluster.sh freeze-node N    SIGSTOP node N's VM (connections open, nothing answers)
#   scripts/rabbitmq-cluster.sh thaw-node N      SIGCONT it
#   scripts/rabbitmq-cluster.sh ctl N ARGS       rabbitmqctl against node N
#
# Settings (environment): BROKER_CLUSTER_PORT (node 1's AMQP port, default 5681; nodes 2 and 3
# take the next two), BROKER_CLUSTER_DIR (default /tmp/broker-rabbitmq-cluster-UID),
# BROKER_CLUSTER_EPMD_PORT (default 4371). Fails loudly, with the node's log, when a node cannot
# start or join.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib/rabbitmq-node.sh
. "$ROOT/scripts/lib/rabbitmq-node.sh"

BASE_PORT=${BROKER_CLUSTER_PORT:-5681}
CLUSTER_DIR=${BROKER_CLUSTER_DIR:-${TMPDIR:-/tmp}/broker-rabbitmq-cluster-$(id -u)}
EPMD_PORT=${BROKER_CLUSTER_EPMD_PORT:-4371}
NODES=(1 2 3)
# Three VMs share two cores with the tests: one scheduler each, and no busy-waiting when idle.
NODE_ERL_ARGS=${BROKER_CLUSTER_ERL_ARGS:-+S 1:1 +sbwt none +sbwtdcpu none +sbwtdio none}
# Info: the logs then say when a quorum queue elects a leader, what a failover test wants to see.
NODE_LOG_LEVEL=${BROKER_CLUSTER_LOG_LEVEL:-info}

# Selects node N: sets the variables the node functions read.
use_node() {
  local n=$1
  case "$n" in 1 | 2 | 3) ;; *) echo "rabbitmq-cluster: no node '$n' (1, 2 or 3)" >&2; exit 2 ;; esac
  NODE_NAME="broker-cluster-$n@localhost"
  NODE_DIR="$CLUSTER_DIR/node-$n"
  NODE_AMQP_PORT=$((BASE_PORT + n - 1))
  NODE_DIST_PORT=$((NODE_AMQP_PORT + 20000))
}

cookie() {
  mkdir -p "$CLUSTER_DIR"
  [ -s "$CLUSTER_DIR/cookie" ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$CLUSTER_DIR/cookie"
  cat "$CLUSTER_DIR/cookie"
}

# Whether every node runs and node 1 sees all three in its cluster.
cluster_complete() {
  use_node 1
  local running
  running=$(node_ctl -q cluster_status --formatter json 2>/dev/null |
    grep -o '"running_nodes":\[[^]]*\]' | grep -o 'broker-cluster-[0-9]@' | sort -u | wc -l || true)
  [ "$running" = 3 ]
}

start_cluster() {
  ensure_rabbitmq_installed
  if cluster_complete; then
    log "cluster already running on 127.0.0.1:$BASE_PORT-$((BASE_PORT + 2))"
    return 0
  fi
  COOKIE=$(cookie)
  export COOKIE
  for n in "${NODES[@]}"; do
    use_node "$n"
    prepare_node
    if ! node_running; then
      log "starting $NODE_NAME on 127.0.0.1:$NODE_AMQP_PORT"
      (cd "$NODE_DIR" && close_inherited_fds && node_env "$RABBITMQ_BIN/rabbitmq-server" -detached \
        </dev/null >"$NODE_DIR/log/startup.log" 2>&1) || true
    fi
  done
  for n in "${NODES[@]}"; do
    use_node "$n"
    wait_for_node 120
  done
  for n in 2 3; do
    use_node "$n"
    if ! node_ctl -q cluster_status 2>/dev/null | grep -q "broker-cluster-1@localhost"; then
      log "joining $NODE_NAME to broker-cluster-1@localhost"
      node_ctl -q stop_app >/dev/null
      node_ctl -q join_cluster broker-cluster-1@localhost >/dev/null
      node_ctl -q start_app >/dev/null
    fi
  done
  if ! cluster_complete; then
    log "the three nodes did not form one cluster:"
    use_node 1
    node_ctl cluster_status >&2 || true
    return 1
  fi
  log "cluster of 3 nodes ready on 127.0.0.1:$BASE_PORT-$((BASE_PORT + 2))"
}

stop_cluster() {
  for n in 3 2 1; do
    use_node "$n"
    stop_node
  done
  stop_epmd
  rm -rf "$CLUSTER_DIR"
}

restart_node() {
  use_node "$1"
  COOKIE=$(cookie)
  export COOKIE
  start_node
}

urls() {
  local list=()
  for n in "${NODES[@]}"; do list+=("amqp://guest:guest@127.0.0.1:$((BASE_PORT + n - 1))"); done
  (IFS=,; echo "${list[*]}")
}

case "${1:-start}" in
  start) start_cluster ;;
  stop) stop_cluster ;;
  status) cluster_complete ;;
  urls) urls ;;
  url) use_node "${2:?node number}"; echo "amqp://guest:guest@127.0.0.1:$NODE_AMQP_PORT" ;;
  kill-node) use_node "${2:?node number}"; kill_node ;;
  restart-node) restart_node "${2:?node number}" ;;
  freeze-node) use_node "${2:?node number}"; signal_node STOP ;;
  thaw-node) use_node "${2:?node number}"; signal_node CONT ;;
  ctl)
    use_node "${2:?node number}"
    shift 2
    [ -s "$NODE_DIR/.erlang.cookie" ] || { log "$NODE_NAME was never started here (no $NODE_DIR): run '$0 start'"; exit 1; }
    node_ctl "$@"
    ;;
  *)
    echo "usage: $0 start|stop|status|urls|url N|kill-node N|restart-node N|freeze-node N|thaw-node N|ctl N ARGS" >&2
    exit 2
    ;;
esac

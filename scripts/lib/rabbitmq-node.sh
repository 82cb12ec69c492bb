# Functions to run a RabbitMQ node of the project's own from Debian's rabbitmq-server: its own
# node name, data and log directories, configuration, Erlang cookie and ports on 127.0.0.1. The
# system's RabbitMQ (its service, /etc/rabbitmq, /var/lib/rabbitmq) is never touched.
#
# Sourced by scripts/rabbitmq.sh (one node for the tests) and scripts/rabbitmq-cluster.sh.
# A node is described by variables set before calling the functions:
#   NODE_NAME       e.g. broker-test@localhost
#   NODE_DIR        a directory of its own (data, logs, config, cookie)
#   NODE_AMQP_PORT  AMQP port on 127.0.0.1
#   NODE_DIST_PORT  Erlang distribution port on 127.0.0.1
#   NODE_ERL_ARGS   (optional) more Erlang VM arguments, e.g. fewer schedulers for a small machine
#   NODE_LOG_LEVEL  (optional) the log file's level, default warning
# and, shared by every node of this project: EPMD_PORT (a private epmd on 127.0.0.1).

RABBITMQ_BIN=${RABBITMQ_BIN:-/usr/lib/rabbitmq/bin}

log() { echo "rabbitmq: $*" >&2; }

# Runs a command as root: directly when root, else through sudo.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs Debian's rabbitmq-server when it is missing (the package only; its service is not
# started here, and Debian does not start it without systemd).
ensure_rabbitmq_installed() {
  [ -x "$RABBITMQ_BIN/rabbitmq-server" ] && return 0
  log "installing rabbitmq-server (Debian)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
  [ -x "$RABBITMQ_BIN/rabbitmq-server" ] || { log "rabbitmq-server is not installed at $RABBITMQ_BIN"; return 1; }
}

# The environment every rabbitmq command of this node runs with.
node_env() {
  env -i PATH="$PATH" HOME="$NODE_DIR" LANG=C.UTF-8 LC_ALL=C.UTF-8 \
    RABBITMQ_NODENAME="$NODE_NAME" \
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT="$NODE_AMQP_PORT" \
    RABBITMQ_DIST_PORT="$NODE_DIST_PORT" \
    RABBITMQ_CONF_ENV_FILE="$NODE_DIR/rabbitmq-env.conf" \
    RABBITMQ_CONFIG_FILE="$NODE_DIR/rabbitmq.conf" \
    RABBITMQ_ADVANCED_CONFIG_FILE="$NODE_DIR/advanced.config" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$NODE_DIR/enabled_plugins" \
    RABBITMQ_MNESIA_BASE="$NODE_DIR/mnesia" \
    RABBITMQ_LOG_BASE="$NODE_DIR/log" \
    RABBITMQ_PID_FILE="$NODE_DIR/rabbitmq.pid" \
    ERL_EPMD_PORT="$EPMD_PORT" \
    ERL_EPMD_ADDRESS=127.0.0.1 \
    ERL_CRASH_DUMP="$NODE_DIR/log/erl_crash.dump" \
    ${NODE_ERL_ARGS:+RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="$NODE_ERL_ARGS"} \
    "$@"
}

# rabbitmqctl against this node; fails at once for a node never prepared (no directory, no
# cookie: rabbitmqctl would crash trying to write one, and leave erl_crash.dump behind).
node_ctl() {
  [ -s "$NODE_DIR/.erlang.cookie" ] || return 1
  node_env "$RABBITMQ_BIN/rabbitmqctl" -n "$NODE_NAME" "$@"
}

# Writes the node's configuration (once): loopback listener, a cookie of its own.
prepare_node() {
  mkdir -p "$NODE_DIR/mnesia" "$NODE_DIR/log"
  cat >"$NODE_DIR/rabbitmq.conf" <<CONF
listeners.tcp.1 = 127.0.0.1:$NODE_AMQP_PORT
log.file.level = ${NODE_LOG_LEVEL:-warning}
log.console = false
CONF
  echo "[]." >"$NODE_DIR/advanced.config"
  echo "[]." >"$NODE_DIR/enabled_plugins"
  : >"$NODE_DIR/rabbitmq-env.conf"
  if [ ! -s "$NODE_DIR/.erlang.cookie" ]; then
    # Nodes of one cluster share a cookie: the caller may set COOKIE.
    printf '%s' "${COOKIE:-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}" >"$NODE_DIR/.erlang.cookie"
  fi
  chmod 600 "$NODE_DIR/.erlang.cookie"
}

# Closes every file descriptor above 2 in this (sub)shell, so the detached VM keeps none of the
# caller's: a pipe it inherited would never reach end-of-file for whoever reads it (a test
# waiting for this script's output would wait for the node to stop).
close_inherited_fds() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd=${fd##*/}
    if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi
  done
}

node_running() { node_ctl -q status >/dev/null 2>&1; }

# Starts the node (when not running) and waits until it accepts AMQP connections.
start_node() {
  prepare_node
  if node_running; then
    log "$NODE_NAME already running on 127.0.0.1:$NODE_AMQP_PORT"
    return 0
  fi
  log "starting $NODE_NAME on 127.0.0.1:$NODE_AMQP_PORT (data in $NODE_DIR)"
  (cd "$NODE_DIR" && close_inherited_fds && node_env "$RABBITMQ_BIN/rabbitmq-server" -detached \
    </dev/null >"$NODE_DIR/log/startup.log" 2>&1) || true
  wait_for_node 90
}

wait_for_node() {
  local seconds=$1
  for _ in $(seq 1 "$seconds"); do
    if node_ctl -q await_startup >/dev/null 2>&1; then
      log "$NODE_NAME ready on 127.0.0.1:$NODE_AMQP_PORT"
      return 0
    fi
    sleep 1
  done
  log "$NODE_NAME did not start within $seconds s; last log lines:"
  tail -n 40 "$NODE_DIR"/log/*.log >&2 2>/dev/null || true
  return 1
}

# Stops the node and waits for its VM to exit.
stop_node() {
  if ! node_running; then
    log "$NODE_NAME is not running"
    return 0
  fi
  node_ctl -q stop "$NODE_DIR/rabbitmq.pid" >/dev/null 2>&1 || node_ctl -q stop >/dev/null 2>&1 || true
  log "$NODE_NAME stopped"
}

# Kills the node's VM at once (SIGKILL), as a crash would.
kill_node() {
  local pid
  pid=$(cat "$NODE_DIR/rabbitmq.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -9 "$pid"
    log "$NODE_NAME killed (pid $pid)"
  else
    log "$NODE_NAME has no running VM"
  fi
}

# Sends SIGSTOP or SIGCONT (the argument) to the node's VM: a node that hangs, its sockets open.
signal_node() {
  local pid
  pid=$(cat "$NODE_DIR/rabbitmq.pid" 2>/dev/null || true)
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    log "$NODE_NAME has no running VM"
    return 1
  fi
  kill -"$1" "$pid"
  log "$NODE_NAME sent SIG$1 (pid $pid)"
}

# Stops the private epmd (after the last node of this project stopped).
stop_epmd() {
  ERL_EPMD_PORT="$EPMD_PORT" epmd -kill >/dev/null 2>&1 || true
}

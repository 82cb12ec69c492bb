#!/usr/bin/env bash
# Makes sure a RabbitMQ server is running on 127.0.0.1:5672 for the integration tests:
# installs Debian's rabbitmq-server when missing, binds it to loopback, starts it, and waits
# until it accepts connections. Exits non-zero (loudly) when it cannot.
set -euo pipefail

log() { echo "rabbitmq: $*" >&2; }

if ! command -v rabbitmq-server >/dev/null 2>&1; then
  log "installing rabbitmq-server (Debian)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq rabbitmq-server >/dev/null
fi

# Loopback only: no test traffic leaves the machine.
mkdir -p /etc/rabbitmq
if ! grep -q '127.0.0.1:5672' /etc/rabbitmq/rabbitmq.conf 2>/dev/null; then
  cat > /etc/rabbitmq/rabbitmq.conf <<'CONF'
listeners.tcp.1 = 127.0.0.1:5672
loopback_users = none
CONF
fi
if ! grep -q 'NODE_IP_ADDRESS=127.0.0.1' /etc/rabbitmq/rabbitmq-env.conf 2>/dev/null; then
  cat > /etc/rabbitmq/rabbitmq-env.conf <<'CONF'
NODE_IP_ADDRESS=127.0.0.1
ERL_EPMD_ADDRESS=127.0.0.1
NODENAME=rabbit@localhost
CONF
fi
export ERL_EPMD_ADDRESS=127.0.0.1

if rabbitmqctl -q status >/dev/null 2>&1; then
  log "already running"
else
  log "starting"
  rabbitmq-server -detached >/dev/null 2>&1 || true
fi

for _ in $(seq 1 60); do
  if rabbitmqctl -q await_startup >/dev/null 2>&1; then
    log "ready on 127.0.0.1:5672"
    exit 0
  fi
  sleep 1
done
log "did not start within 60 s; last log lines:"
tail -n 30 /var/log/rabbitmq/*.log >&2 2>/dev/null || true
exit 1

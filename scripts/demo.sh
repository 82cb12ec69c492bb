#!/usr/bin/env bash
# `make demo`: the embedded end-to-end demo (simulated agent server, the real daemon on in-memory
# queues, agents that come and go, a message generator, a hot reload midway), then a look at the
# rule toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."
BROKER=.build/debug/broker
.build/debug/broker-dev demo --seconds 12
echo
echo "== the rule toolchain: broker validate-rules rules/ && broker test-rules rules/tests/"
$BROKER validate-rules rules/
$BROKER test-rules rules/tests/
echo
echo "== broker explain: why a message from the web UI goes where it goes"
echo '{"message_type":"TEXT","sender_id":"web_1234","message_id":"m1","text_payload":"hello","routing_status":"pending","_client_id":"web_1234"}' \
  | $BROKER explain --rules rules/ --registry rules/registries/three-agents.yaml --seed 7

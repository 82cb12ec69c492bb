#!/usr/bin/env bash
# The embedded end-to-end demo arrives with the daemon; until then, show the rule toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."
BROKER=.build/debug/broker
echo "== broker validate-rules rules/"
$BROKER validate-rules rules/
echo
echo "== broker test-rules rules/tests/"
$BROKER test-rules rules/tests/
echo
echo "== broker explain: a TEXT message from the web UI, three agents online"
echo '{"message_type":"TEXT","sender_id":"web_1234","message_id":"m1","text_payload":"hello","routing_status":"pending","_client_id":"web_1234"}' \
  | $BROKER explain --rules rules/ --registry rules/registries/three-agents.yaml --seed 7
echo
echo "The daemon demo (simulated agent server, live routing, hot reload) is not built yet."

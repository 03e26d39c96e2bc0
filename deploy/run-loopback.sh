#!/usr/bin/env bash
# The docker-compose topology on loopback, without Docker: one redis-server, two
# `patchbay start` nodes and Kamailio (deploy/kamailio/kamailio.cfg) dispatching to them.
#
#   npm run build && deploy/run-loopback.sh            # Ctrl-C (or SIGTERM) stops it all
#   sipp -sn uac 127.0.0.1:5060 -r 5 -m 50              # calls through Kamailio
#
# Addresses (every one overridable from the environment):
#   Kamailio  PB_PROXY_HOST:PB_PROXY_PORT        127.0.0.1:5060
#   Redis     127.0.0.1:PB_REDIS_PORT             6379 (PB_REDIS_URL: use that Redis instead)
#   node a    127.0.0.2:PB_NODE_A_SIP_PORT, API 127.0.0.2:PB_NODE_A_API_PORT   5060, 8080
#   node b    127.0.0.3:PB_NODE_B_SIP_PORT, API 127.0.0.3:PB_NODE_B_API_PORT   5060, 8080
# The trunk `proxy` admits calls from Kamailio only; PB_TRUNK_CPS, PB_TRUNK_BURST and
# PB_TRUNK_MAX_CALLS set its cluster-wide limits (default 50, 50, 200); PB_API_TOKEN the
# control API token every node shares (default: a fixed development token); PB_FR_TIMER_MS how
# long Kamailio waits for a node's first answer before failing over (2000), PB_DIALOG_FR_TIMER_MS
# the same for in-dialog requests (2000). PB_TAKEOVER_DEAD_AFTER_MS turns call takeover on
# (cluster.takeover, with that deadAfterMs); PB_TAKEOVER_SNAPSHOT_SECRET, when set, is its
# snapshotSecret (read by each node from its environment: SRTP calls are taken over too).
# PB_TRUNK_ENCRYPTION is the trunk's media.encryption (default none). Calls go to the built-in
# echo bot (PB_BOT_URL for another). PB_MEDIA_WORKERS is each node's media.workers (default 0).
#
# Files go to PB_WORKDIR (default: a new temp dir): configs, one log per process and a pid file
# per process (redis.pid, node-a.pid, node-b.pid, kamailio.pid). PB_KAMAILIO_CFG runs another
# Kamailio config (default deploy/kamailio/kamailio.cfg). When everything answers, one
# line `READY {json}` on stdout names the addresses; the interop test reads it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
cli="$repo/dist/src/cli/index.js"
[[ -f "$cli" ]] || { echo "build first: npm run build" >&2; exit 1; }

work="${PB_WORKDIR:-$(mktemp -d -t patchbay-loopback-XXXXXX)}"
mkdir -p "$work/profiles"
proxy_host="${PB_PROXY_HOST:-127.0.0.1}"
proxy_port="${PB_PROXY_PORT:-5060}"
redis_port="${PB_REDIS_PORT:-6379}"
redis_url="${PB_REDIS_URL:-redis://127.0.0.1:$redis_port}"
token="${PB_API_TOKEN:-loopback-development-token}"
bot_url="${PB_BOT_URL:-builtin:echo}"
declare -A sip_host=([a]=127.0.0.2 [b]=127.0.0.3)
declare -A sip_port=([a]="${PB_NODE_A_SIP_PORT:-5060}" [b]="${PB_NODE_B_SIP_PORT:-5060}")
declare -A api_port=([a]="${PB_NODE_A_API_PORT:-8080}" [b]="${PB_NODE_B_API_PORT:-8080}")
declare -A rtp_min=([a]="${PB_NODE_A_RTP_MIN:-30000}" [b]="${PB_NODE_B_RTP_MIN:-31000}")

stop_all() {
  trap - INT TERM EXIT
  # Nodes first (SIGTERM drains them), then the proxy, then Redis.
  for name in node-a node-b kamailio redis; do
    [[ -f "$work/$name.pid" ]] && kill -TERM "$(cat "$work/$name.pid")" 2>/dev/null || true
  done
  wait || true
}
trap stop_all INT TERM EXIT

# Waits (at most 15 s) until `check` succeeds.
wait_for() {
  local what="$1"; shift
  for _ in $(seq 150); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "$what did not come up; logs in $work" >&2
  exit 1
}
http_ok() { node -e "fetch(process.argv[1]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))" "$1"; }
# An OPTIONS to host:port answered 200 within 0.5 s.
sip_ok() {
  node -e '
    const [host, port] = process.argv[1].split(":");
    const s = require("node:dgram").createSocket("udp4");
    const msg = ["OPTIONS sip:" + host + ":" + port + " SIP/2.0",
      "Via: SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bK" + Date.now(), "Max-Forwards: 70",
      "From: <sip:probe@127.0.0.1>;tag=1", "To: <sip:" + host + ">", "Call-ID: " + Date.now() + "@probe",
      "CSeq: 1 OPTIONS", "Content-Length: 0", "", ""].join("\r\n");
    s.on("message", (m) => process.exit(m.toString().startsWith("SIP/2.0 200") ? 0 : 1));
    s.bind(0, "127.0.0.1", () => s.send(msg, Number(port), host));
    setTimeout(() => process.exit(1), 500);' "$1"
}

if [[ -z "${PB_REDIS_URL:-}" ]]; then
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
    >"$work/redis.log" 2>&1 &
  echo $! >"$work/redis.pid"
  wait_for redis redis-cli -p "$redis_port" ping
fi

cat >"$work/profiles/proxy.yaml" <<YAML
name: proxy
inbound:
  allowedCidrs: ["$proxy_host/32"]
  unknownSourceAction: drop
codecs: [PCMU, PCMA]
cps: { rate: ${PB_TRUNK_CPS:-50}, burst: ${PB_TRUNK_BURST:-50}, overflow: { action: reject } }
maxConcurrentCalls: ${PB_TRUNK_MAX_CALLS:-200}
probing: { enabled: false }
media: { encryption: ${PB_TRUNK_ENCRYPTION:-none} }
YAML

takeover=""
snapshot_secret=""
# Left as \${...} for each node to take from its environment: the secret is in no file.
[[ -n "${PB_TAKEOVER_SNAPSHOT_SECRET:-}" ]] &&
  snapshot_secret=', snapshotSecret: "${PB_TAKEOVER_SNAPSHOT_SECRET}"'
[[ -n "${PB_TAKEOVER_DEAD_AFTER_MS:-}" ]] &&
  takeover="  takeover: { enabled: true, deadAfterMs: $PB_TAKEOVER_DEAD_AFTER_MS$snapshot_secret }"
for node in a b; do
  cat >"$work/node-$node.yaml" <<YAML
listen:
  - { transport: udp, host: ${sip_host[$node]}, port: ${sip_port[$node]} }
rtp: { portMin: ${rtp_min[$node]}, portMax: $((rtp_min[$node] + 998)) }
media: { workers: ${PB_MEDIA_WORKERS:-0} }
api: { host: ${sip_host[$node]}, port: ${api_port[$node]}, bearerToken: "$token" }
logLevel: ${PB_LOG_LEVEL:-info}
callRecords: { enabled: true, path: "$work/node-$node-calls.jsonl" }
limits: { drainTimeoutSec: ${PB_DRAIN_TIMEOUT_SEC:-30} }
cluster:
  redis: "$redis_url"
  nodeId: node-$node
  heartbeatMs: ${PB_HEARTBEAT_MS:-1000}
  leaseTtlMs: ${PB_LEASE_TTL_MS:-5000}
$takeover
routes:
  - match: "*"
    target: { url: "$bot_url" }
sipProfilesDir: profiles
YAML
  node "$cli" start --config "$work/node-$node.yaml" >"$work/node-$node.log" 2>&1 &
  echo $! >"$work/node-$node.pid"
done
for node in a b; do wait_for "node $node" http_ok "http://${sip_host[$node]}:${api_port[$node]}/readyz"; done

# Load-aware dispatching (algorithm 10) needs a unique duid per node; maxload 0: no cap here,
# the nodes refuse past their own limits and Kamailio fails over.
{
  for node in a b; do echo "1 sip:${sip_host[$node]}:${sip_port[$node]} 0 0 duid=node-$node;maxload=0"; done
} >"$work/dispatcher.list"
kamailio -DD -E -f "${PB_KAMAILIO_CFG:-$here/kamailio/kamailio.cfg}" -Y "$work" -m 64 -M 8 \
  -A "LISTEN=udp:$proxy_host:$proxy_port" -A "DISPATCHER_LIST=\"$work/dispatcher.list\"" \
  -A "FR_TIMER=${PB_FR_TIMER_MS:-2000}" -A "DIALOG_FR_TIMER=${PB_DIALOG_FR_TIMER_MS:-2000}" \
  >"$work/kamailio.log" 2>&1 &
echo $! >"$work/kamailio.pid"
wait_for kamailio sip_ok "$proxy_host:$proxy_port"

printf 'READY {"workdir":"%s","proxy":"%s:%s","redis":"%s","nodes":{"a":{"sip":"%s:%s","api":"http://%s:%s"},"b":{"sip":"%s:%s","api":"http://%s:%s"}}}\n' \
  "$work" "$proxy_host" "$proxy_port" "$redis_url" \
  "${sip_host[a]}" "${sip_port[a]}" "${sip_host[a]}" "${api_port[a]}" \
  "${sip_host[b]}" "${sip_port[b]}" "${sip_host[b]}" "${api_port[b]}"
# Until told to stop or Kamailio exits (a node may be killed and restarted meanwhile).
wait "$(cat "$work/kamailio.pid")"

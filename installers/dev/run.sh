#!/usr/bin/env bash
# Development run: a collector on its embedded store in .run/data, and an
# agent reporting this machine. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN=.run
AGENT_ADDR=${PARC_AGENT_ADDR:-127.0.0.1:7443}
API_ADDR=${PARC_API_ADDR:-127.0.0.1:7080}
mkdir -p "$RUN/data" "$RUN/agent"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

bin/parc-collector --data "$RUN/data" --agent-addr "$AGENT_ADDR" --api-addr "$API_ADDR" \
  >"$RUN/collector.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  curl -fsS "http://$API_ADDR/readyz" >/dev/null 2>&1 && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$RUN/collector.log"; echo "collector failed to start" >&2; exit 1; }
  sleep 0.1
done

export PARC_API="http://$API_ADDR" PARC_DATA="$RUN/data"
enroll=()
if [ ! -f "$RUN/agent/agent.crt" ]; then
  # The CLI finds the admin token the collector wrote to $RUN/data.
  echo "== enrolling the local agent (mTLS from here on)"
  token=$(bin/parc enroll-token create --ttl 10m --uses 1 --note "make run" | tail -n 1)
  enroll=(--enroll-token "$token")
fi
echo "== first report of this machine"
bin/parc-agent --collector "$AGENT_ADDR" --state-dir "$RUN/agent" "${enroll[@]}" --once
bin/parc-agent --collector "$AGENT_ADDR" --state-dir "$RUN/agent" >"$RUN/agent.log" 2>&1 &
pids+=($!)

echo
bin/parc ci list --class computer
cat <<MSG

Parc is running.
  web UI:      http://$API_ADDR/#/?token=$(cat "$RUN/data/admin.token")
               (the link logs you in with the admin token of $RUN/data/admin.token)
  CLI:         PARC_API=http://$API_ADDR bin/parc ci list     (API token: $RUN/data/admin.token, found by itself)
               PARC_API=http://$API_ADDR bin/parc ci show $(hostname)
               PARC_API=http://$API_ADDR bin/parc ci history $(hostname)
  metrics:     http://$API_ADDR/metrics
  logs:        $RUN/collector.log, $RUN/agent.log
Ctrl-C stops the collector and the agent.
MSG
wait

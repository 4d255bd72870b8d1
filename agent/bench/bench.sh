#!/usr/bin/env bash
# make bench-agent: parc-agent's full inventory against FusionInventory's,
# in the same run on the same machine, then the idle agent's footprint.
# Targets (issue 3): wall time <= 1/10 and peak RSS <= 1/2 of
# fusioninventory-inventory; idle agent <= 20 MiB RSS and no busy loop.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-7}
IDLE_SECONDS=${IDLE_SECONDS:-20}

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

if ! command -v fusioninventory-inventory >/dev/null; then
  echo "== installing fusioninventory-agent"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends fusioninventory-agent >/dev/null
fi

echo "== building"
go build -trimpath -ldflags='-s -w' -o "$tmp/parc-agent" ./cmd/parc-agent
go build -o "$tmp/measure" ./agent/bench/measure
echo "parc-agent binary: $(du -k "$tmp/parc-agent" | cut -f1) KiB"
echo "software: parc-agent $("$tmp/parc-agent" inventory | grep -c '"source":') packages," \
  "fusioninventory $(fusioninventory-inventory 2>/dev/null | grep -c '<SOFTWARES>') packages"

echo "== full inventory, $RUNS runs each, alternating (machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
"$tmp/measure" compare -n "$RUNS" -- "$tmp/parc-agent" inventory --- fusioninventory-inventory

echo "== idle agent between runs (${IDLE_SECONDS} s)"
"$tmp/measure" collector > "$tmp/collector.addr" &
pids+=($!)
for _ in $(seq 50); do [ -s "$tmp/collector.addr" ] && break; sleep 0.1; done
"$tmp/parc-agent" --insecure-dev --collector "$(cat "$tmp/collector.addr")" --state-dir "$tmp/state" \
  --heartbeat-interval 10m --full-interval 24h --log-level warn &
agent=$!
pids+=($agent)
# Wait for the first FULL report to be acknowledged (the spool empties).
for _ in $(seq 100); do
  sleep 0.1
  [ -f "$tmp/state/agent-id" ] && [ -z "$(ls -A "$tmp/state/spool" 2>/dev/null)" ] && break
done
sleep 1
"$tmp/measure" idle -pid "$agent" -seconds "$IDLE_SECONDS"

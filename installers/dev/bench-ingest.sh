#!/usr/bin/env bash
# Ingest benchmark (make bench-ingest): a real parc-collector on its
# embedded Badger store, driven over gRPC by parc-sim's simulated fleet.
# Prints full reports/s, delta reports/s, the collector's RSS with the whole
# fleet connected, and 3-hop impact p50/p99 on a generated graph.
#
#   PARC_BENCH_AGENTS    simulated agents (default 2000; the target is set at 10000)
#   PARC_BENCH_PACKAGES  packages per host (default 800)
#   PARC_BENCH_CIS       CIs in the impact graph (default 1000000; 0 skips it)
#   PARC_BENCH_DEBUG_ADDR  serve the collector's pprof here while it runs (off by default)
#   PARC_BENCH_SIM_CPUPROFILE  write parc-sim's own CPU profile to this file (off by default)
#   PARC_BENCH_DELTAS    rounds of one delta per agent (default 3)
#   PARC_BENCH_HOLD      how long the fleet stays connected for the RSS sample (default 20s)
#   PARC_BENCH_DELTA_MIX weights of the kinds of delta (default: parc-sim's, filesystems=60,sockets=20,services=10,software=10)
#   PARC_BENCH_FLOOR     0 skips the transport floor (the deltas sent to an agent port that only acknowledges them)
#   PARC_BENCH_CONCURRENCY  reports in flight at once (default 256). Agents do not wait for one
#                        another: a fleet reporting faster than the collector applies keeps
#                        more reports waiting than this (up to the collector's 10,000), so the
#                        rates measured here are what the collector takes, not what a few
#                        dozen agents taking turns would send. 256 is where deltas/s stops
#                        rising on 2 cores (64 gave about 30% less, 512 and 1024 no more).
set -euo pipefail
cd "$(dirname "$0")/../.."
AGENTS=${PARC_BENCH_AGENTS:-2000}
PACKAGES=${PARC_BENCH_PACKAGES:-800}
CIS=${PARC_BENCH_CIS:-1000000}
HOLD=${PARC_BENCH_HOLD:-20s}
CONC=${PARC_BENCH_CONCURRENCY:-256}
MIX=${PARC_BENCH_DELTA_MIX:-}
GO=${GO:-go}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/parc-bench.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

mkdir -p bin
$GO build -o bin/parc-sim ./cmd/parc-sim
[ -x bin/parc-collector ] || $GO build -o bin/ ./cmd/parc-collector

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
AGENT_ADDR=127.0.0.1:$(free_port)
API_ADDR=127.0.0.1:$(free_port)

echo "== bench-ingest: $AGENTS agents × $PACKAGES packages, impact on $CIS CIs, collector GOMEMLIMIT=${PARC_BENCH_GOMEMLIMIT:-750MiB} ($(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
# The collector runs with a Go soft memory limit (PARC_BENCH_GOMEMLIMIT; "off" for none), as a deployment should set GOMEMLIMIT:
# the budget (1 GiB at 10,000 agents) less what Badger maps on top of the Go heap (about 270 MiB there).
GOMEMLIMIT=${PARC_BENCH_GOMEMLIMIT:-750MiB} bin/parc-collector --data "$WORK/data" --agent-addr "$AGENT_ADDR" --api-addr "$API_ADDR" --insecure-dev \
  ${PARC_BENCH_DEBUG_ADDR:+--debug-addr "$PARC_BENCH_DEBUG_ADDR"} --log-level warn >"$WORK/collector.log" 2>&1 &
COLLECTOR=$!
pids+=("$COLLECTOR")
for _ in $(seq 1 200); do
  curl -fsS "http://$API_ADDR/readyz" >/dev/null 2>&1 && break
  kill -0 "$COLLECTOR" 2>/dev/null || { cat "$WORK/collector.log"; echo "collector failed to start" >&2; exit 1; }
  sleep 0.1
done

rss_mib() { awk '/^VmRSS/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }
hwm_mib() { awk '/^VmHWM/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }

bin/parc-sim --collector "$AGENT_ADDR" --collector-pid "$COLLECTOR" --agents "$AGENTS" --packages "$PACKAGES" --concurrency "$CONC" \
  --deltas "${PARC_BENCH_DELTAS:-3}" ${MIX:+--delta-mix "$MIX"} --hold "$HOLD" --heartbeat 10s --settle "http://$API_ADDR/metrics" \
  ${PARC_BENCH_SIM_CPUPROFILE:+--cpuprofile "$PARC_BENCH_SIM_CPUPROFILE"} >"$WORK/sim.log" 2>&1 &
SIM=$!
pids+=("$SIM")
while ! grep -qs '^holding' "$WORK/sim.log"; do
  if ! kill -0 "$SIM" 2>/dev/null; then
    cat "$WORK/sim.log" "$WORK/collector.log" >&2
    echo "parc-sim failed" >&2
    exit 1
  fi
  sleep 0.5
done
cat "$WORK/sim.log"
sleep 5
RSS=$(rss_mib "$COLLECTOR")
sleep 5
RSS2=$(rss_mib "$COLLECTOR")
HWM=$(hwm_mib "$COLLECTOR")
STREAMS=$(curl -fsS "http://$API_ADDR/metrics" 2>/dev/null | awk '/^go_goroutines/ {print $2}')
MEM=$(curl -fsS "http://$API_ADDR/metrics" 2>/dev/null | awk '/^go_memstats_heap_inuse_bytes/ {h=$2} /^go_memstats_stack_inuse_bytes/ {s=$2} /^go_memstats_heap_alloc_bytes/ {a=$2} END {printf "go heap in use %.0f MiB (live+garbage %.0f MiB), stacks %.0f MiB", h/1048576, a/1048576, s/1048576}')
FILE=$(awk '/^Rss_File|^Pss_File/ {printf "%.0f", $2/1024; exit}' "/proc/$COLLECTOR/smaps_rollup" 2>/dev/null || echo "?")
wait "$SIM" || { cat "$WORK/sim.log" >&2; exit 1; }
# Stop the collector (its title index may still be catching up) so that it
# does not share the CPU with the impact benchmark.
kill "$COLLECTOR" 2>/dev/null || true
wait "$COLLECTOR" 2>/dev/null || true

FULL=$(awk '/^phase=full/ {for (i=1;i<=NF;i++) if ($i ~ /^rate=/) {sub("rate=","",$i); sub("/s","",$i); print $i}}' "$WORK/sim.log")
# Deltas per second over all delta rounds of a parc-sim log.
delta_rate() { awk '/^phase=delta/ {for (i=1;i<=NF;i++) if ($i ~ /^(reports|seconds)=/) {split($i,a,"="); s[a[1]]+=a[2]}} END {if (s["seconds"]>0) printf "%.0f", s["reports"]/s["seconds"]}' "$1"; }
# Where the deltas' time went: CPU per delta of the server and of the
# simulator (which share the cores), the share of the cores they kept busy,
# and the rate both would reach with every core busy at that CPU per delta.
delta_cpu() {
  awk -v cores="$(nproc)" -v server="$2" '/^phase=delta/ {for (i=1;i<=NF;i++) if ($i ~ /^(reports|seconds|collector_cpu_s|sim_cpu_s)=/) {split($i,a,"="); s[a[1]]+=a[2]}}
    END {if (s["reports"]>0 && s["seconds"]>0) {c=s["collector_cpu_s"]/s["reports"]; m=s["sim_cpu_s"]/s["reports"];
      printf "%s %.3f ms + simulator %.3f ms of CPU per delta, %.0f%% of %d cores busy; all cores busy at that cost: %.0f/s", server, 1000*c, 1000*m, 100*(s["collector_cpu_s"]+s["sim_cpu_s"])/s["seconds"]/cores, cores, cores/(c+m)}}' "$1"
}
DELTA=$(delta_rate "$WORK/sim.log")
MIX=$(sed -n 's/^fleet .*delta_mix=\([^ ]*\).*/\1/p' "$WORK/sim.log") # as parc-sim read it
DELTA_CPU=$(delta_cpu "$WORK/sim.log" collector)
# Bytes the collector had written to storage per report (pages it dirtied,
# /proc/PID/io), in the full phase and over the delta rounds.
writes_per_report() { awk -v p="$2" '$1 ~ "^phase="p {for (i=1;i<=NF;i++) if ($i ~ /^(reports|collector_write_mb)=/) {split($i,a,"="); s[a[1]]+=a[2]}} END {if (s["reports"]>0 && ("collector_write_mb" in s)) printf "%.1f", 1000*s["collector_write_mb"]/s["reports"]; else printf "?"}' "$1"; }
WRITES="$(writes_per_report "$WORK/sim.log" full) KB per full report, $(writes_per_report "$WORK/sim.log" delta) KB per delta"
DB=$(du -sm "$WORK/data" | cut -f1)
SETTLE=$(sed -n 's/^settled title_index_\([a-z_]*\)=\([^ ]*\) collector_cpu_s=\(.*\)/\1 \2 (collector CPU \3 s)/p' "$WORK/sim.log")

# The transport floor: the same fleet, the same agent port options, but a
# Submit that acknowledges without applying (parc-sim --serve-floor). What
# gRPC alone costs per delta on this machine, against which the deltas
# figure above is the collector's own work.
FLOOR=""
if [ "${PARC_BENCH_FLOOR:-1}" != 0 ]; then
  FLOOR_ADDR=127.0.0.1:$(free_port)
  bin/parc-sim --serve-floor "$FLOOR_ADDR" >"$WORK/floor-server.log" 2>&1 &
  FLOOR_SERVER=$!
  pids+=("$FLOOR_SERVER")
  for _ in $(seq 1 100); do
    grep -qs '^serving' "$WORK/floor-server.log" && break
    kill -0 "$FLOOR_SERVER" 2>/dev/null || { cat "$WORK/floor-server.log" >&2; echo "transport floor failed to start" >&2; exit 1; }
    sleep 0.1
  done
  bin/parc-sim --collector "$FLOOR_ADDR" --collector-pid "$FLOOR_SERVER" --agents "$AGENTS" --packages "$PACKAGES" --concurrency "$CONC" \
    --deltas "${PARC_BENCH_DELTAS:-3}" ${MIX:+--delta-mix "$MIX"} >"$WORK/floor.log" 2>&1 || { cat "$WORK/floor.log" >&2; echo "transport floor run failed" >&2; exit 1; }
  kill "$FLOOR_SERVER" 2>/dev/null || true
  wait "$FLOOR_SERVER" 2>/dev/null || true
  FLOOR=$(delta_rate "$WORK/floor.log")
  FLOOR_CPU=$(delta_cpu "$WORK/floor.log" server)
fi

touch "$WORK/impact.log"
if [ "$CIS" != 0 ]; then # PARC_BENCH_CIS=0 skips the impact benchmark
  echo
  echo "== impact traversal on $CIS generated CIs"
  PARC_BENCH_CIS=$CIS PARC_BENCH_DIR="$WORK/impact" $GO test -count=1 -run '^$' -bench BenchmarkImpact -benchtime 1x -timeout 30m ./cmdb/ | tee "$WORK/impact.log" | grep -E '^impact:|^Benchmark'
fi
P50=$(sed -n 's/^impact:.* p50=\([^ ]*\).*/\1/p' "$WORK/impact.log")
P99=$(sed -n 's/^impact:.* p99=\([^ ]*\).*/\1/p' "$WORK/impact.log")

echo
echo "== results ($AGENTS agents, $PACKAGES packages each, $CONC reports in flight; store ${DB} MiB)"
printf '%-44s %12s   %s\n' "full reports reconciled per second" "$FULL" "target ≥ 500"
printf '%-44s %12s   %s\n' "delta reports per second" "$DELTA" "target ≥ 5000 (mix $MIX)"
echo "  delta CPU: ${DELTA_CPU:-?}"
echo "  collector disk writes: $WRITES"
if [ -n "$FLOOR" ]; then
  echo "  transport floor, the same deltas acknowledged without applying: $FLOOR/s ($(awk -v d="$DELTA" -v f="$FLOOR" 'BEGIN {printf "Parc reaches %.0f%% of it", 100*d/f}'))"
  echo "    floor CPU: ${FLOOR_CPU:-?}"
fi
printf '%-44s %9s MiB   %s\n' "collector RSS, $AGENTS agents connected" "$RSS2" "target ≤ 1024 at 10000 agents (peak $HWM MiB, goroutines $STREAMS)"
echo "  RSS detail: $MEM, file-backed (Badger mmap) ${FILE} MiB"
echo "  title index after the last full report: ${SETTLE:-?}; the deltas were measured after that"
printf '%-44s %12s   %s\n' "impact 3 hops p50 ($CIS CIs)" "$P50" ""
printf '%-44s %12s   %s\n' "impact 3 hops p99 ($CIS CIs)" "$P99" "target ≤ 20ms"

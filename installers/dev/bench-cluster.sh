#!/usr/bin/env bash
# Ingest throughput of real collectors fed by a simulated fleet over gRPC:
# Badger with one collector, then a three-member etcd on loopback with 1, 2
# and 3 collectors; on etcd also the store's bytes per host. Everything
# shares this machine's cores (see cmdb/store/etcdstore/SIZING.md).
#
#   PARC_BENCH_AGENTS=200 PARC_BENCH_DELTAS=5 PARC_BENCH_PACKAGES=800 make bench-cluster
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v etcd >/dev/null || { echo "etcd not installed (apt-get install etcd-server)" >&2; exit 1; }
export PARC_BENCH_AGENTS=${PARC_BENCH_AGENTS:-200}
export PARC_BENCH_DELTAS=${PARC_BENCH_DELTAS:-5}
export PARC_BENCH_PACKAGES=${PARC_BENCH_PACKAGES:-800}
echo "== $PARC_BENCH_AGENTS agents: one FULL report with $PARC_BENCH_PACKAGES packages, then $PARC_BENCH_DELTAS deltas each; $(nproc) cores"
exec go test -count=1 -run '^$' -bench 'ClusterIngest' -benchtime 1x -timeout 60m ./cmd/e2e

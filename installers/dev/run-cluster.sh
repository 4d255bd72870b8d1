#!/usr/bin/env bash
# Development cluster: a three-member etcd on loopback, two collectors
# sharing it (one CA, one store), and an agent that enrolls and reports to
# either collector, failing over between them. State in .run/cluster.
# Ctrl-C stops everything. Try: kill one collector (its pid is printed) and
# watch the agent move to the other; kill one etcd member and keep writing.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v etcd >/dev/null || { echo "etcd not installed: apt-get install etcd-server" >&2; exit 1; }
RUN=.run/cluster
mkdir -p "$RUN"

pids=()
# Stop in reverse order: the agent, the collectors, then etcd.
cleanup() { for ((i=${#pids[@]}-1; i>=0; i--)); do kill "${pids[$i]}" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

# Three etcd members: client ports 23791-23793, peer ports 23801-23803.
peers=""
for i in 1 2 3; do peers+="${peers:+,}m$i=http://127.0.0.1:2380$i"; done
endpoints=""
for i in 1 2 3; do
  endpoints+="${endpoints:+,}127.0.0.1:2379$i"
  etcd --name "m$i" --data-dir "$RUN/etcd$i" \
    --listen-client-urls "http://127.0.0.1:2379$i" --advertise-client-urls "http://127.0.0.1:2379$i" \
    --listen-peer-urls "http://127.0.0.1:2380$i" --initial-advertise-peer-urls "http://127.0.0.1:2380$i" \
    --initial-cluster "$peers" --initial-cluster-state new --initial-cluster-token parc-dev \
    --logger zap --log-outputs stderr --log-level warn >"$RUN/etcd$i.log" 2>&1 &
  pids+=($!)
done
for i in 1 2 3; do
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:2379$i/health" 2>/dev/null | grep -q '"true"' && break
    sleep 0.1
  done
  curl -fsS "http://127.0.0.1:2379$i/health" | grep -q '"true"' || { cat "$RUN/etcd$i.log"; echo "etcd member $i not healthy" >&2; exit 1; }
done
STORE="etcd://$endpoints?prefix=/parc/"
echo "== etcd: $endpoints"

# Two collectors on the same store; the first creates the CA and the
# admin token, the second finds them in etcd.
agents=""
for i in 1 2; do
  mkdir -p "$RUN/collector$i"
  bin/parc-collector --data "$RUN/collector$i" --store "$STORE" \
    --agent-addr "127.0.0.1:744$i" --api-addr "127.0.0.1:708$i" >"$RUN/collector$i.log" 2>&1 &
  pids+=($!)
  agents+="${agents:+,}127.0.0.1:744$i"
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:708$i/readyz" >/dev/null 2>&1 && break
    kill -0 "${pids[-1]}" 2>/dev/null || { cat "$RUN/collector$i.log"; echo "collector $i failed to start" >&2; exit 1; }
    sleep 0.1
  done
  echo "== collector $i (pid ${pids[-1]}): agents 127.0.0.1:744$i, API http://127.0.0.1:708$i"
done

export PARC_API="http://127.0.0.1:7082" PARC_DATA="$RUN/collector1"
mkdir -p "$RUN/agent"
enroll=()
if [ ! -f "$RUN/agent/agent.crt" ]; then
  echo "== enrolling the local agent through the second collector's API (mTLS from here on)"
  token=$(bin/parc enroll-token create --ttl 10m --uses 1 --note "make run-cluster" | tail -n 1)
  enroll=(--enroll-token "$token")
fi
bin/parc-agent --collector "$agents" --state-dir "$RUN/agent" "${enroll[@]}" --once
bin/parc-agent --collector "$agents" --state-dir "$RUN/agent" >"$RUN/agent.log" 2>&1 &
pids+=($!)

echo
PARC_API="http://127.0.0.1:7081" bin/parc ci list --class computer
cat <<MSG

Parc cluster is running (store $STORE).
  collectors:  http://127.0.0.1:7081/  http://127.0.0.1:7082/   (either serves the same data)
  CLI:         PARC_API=http://127.0.0.1:7081 PARC_DATA=$RUN/collector1 bin/parc ci list
  leaders:     curl -s http://127.0.0.1:708{1,2}/metrics | grep '^parc_job_leader'
  etcd:        ETCDCTL_API=3 etcdctl --endpoints $endpoints endpoint status -w table
  logs:        $RUN/*.log
Ctrl-C stops the etcd members, the collectors and the agent.
MSG
wait

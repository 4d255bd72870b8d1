package e2e

import (
	"context"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"parc/cmdb/store"
	"parc/cmdb/store/etcdstore"
)

// BenchmarkClusterIngest measures ingest throughput of real collectors fed
// by a simulated fleet over gRPC: on Badger (one collector) and on a
// three-member etcd cluster with 1, 2 and 3 collectors. Everything (etcd
// members, collectors, the fleet) shares this machine's cores, so more
// collectors add no CPU: the figures show the cost of etcd and of
// coordination, not the scaling of a real cluster. On etcd it also
// measures the store's size per host (see cmdb/store/etcdstore/SIZING.md).
//
//	make bench-cluster   (or installers/dev/bench-cluster.sh)
//	PARC_BENCH_AGENTS=200 PARC_BENCH_DELTAS=10 PARC_BENCH_PACKAGES=800 \
//	  go test -run '^$' -bench ClusterIngest -benchtime 1x ./cmd/e2e
func BenchmarkClusterIngest(b *testing.B) {
	agents := envInt("PARC_BENCH_AGENTS", 100)
	deltas := envInt("PARC_BENCH_DELTAS", 5)
	packages := envInt("PARC_BENCH_PACKAGES", 800)
	for _, tc := range []struct {
		store      string
		collectors int
	}{{"badger", 1}, {"etcd", 1}, {"etcd", 2}, {"etcd", 3}} {
		b.Run(fmt.Sprintf("store=%s/collectors=%d", tc.store, tc.collectors), func(b *testing.B) {
			var cs []*collectorProc
			var ec *etcdClusterHandle
			if tc.store == "etcd" {
				c := etcdCluster(b)
				ec = &etcdClusterHandle{eps: c.Endpoints, st: openCluster(b, c.Endpoints)}
				cs = startCollectors(b, tc.collectors, c.Endpoints)
			} else {
				cs = []*collectorProc{startCollector(b, "--insecure-dev")}
			}
			for i := 0; i < b.N; i++ {
				pfx := fmt.Sprintf("bench%d", i)
				var base int64
				if ec != nil {
					base = ec.dbSize(b, cs)
				}
				b.ResetTimer()
				full := &fleet{addrs: agentAddrs(cs), agents: agents, reports: 1, packages: packages, prefix: pfx}
				fullTook := timeFleet(b, full)
				delta := &fleet{addrs: agentAddrs(cs), agents: agents, reports: deltas, packages: packages, prefix: pfx, first: 2}
				deltaTook := timeFleet(b, delta)
				b.StopTimer()
				b.ReportMetric(float64(agents)/fullTook.Seconds(), "full/s")
				b.ReportMetric(float64(agents*deltas)/deltaTook.Seconds(), "delta/s")
				if ec == nil {
					continue
				}
				// Size after the fleet's full reports and deltas, history
				// compacted and defragmented: what a fleet costs at rest.
				size := ec.dbSize(b, cs)
				b.ReportMetric(float64(size-base)/float64(agents), "dbB/host")
				kv, parts := ec.logical(b)
				b.ReportMetric(float64(kv)/float64(agents), "kvB/host")
				b.Logf("%d hosts × %d packages, %d deltas each: etcd db %d → %d bytes; key+value bytes by prefix: %s",
					agents, packages, deltas, base, size, parts)
			}
		})
	}
}

func timeFleet(b *testing.B, f *fleet) time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	start := time.Now()
	if err := f.run(ctx); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

type etcdClusterHandle struct {
	eps []string
	st  *etcdstore.Store
}

// dbSize waits until the software title index caught up, compacts the
// history, defragments every member and returns the largest member's
// database size.
func (h *etcdClusterHandle) dbSize(b *testing.B, cs []*collectorProc) int64 {
	b.Helper()
	ctx := context.Background()
	// The index's progress only moves on software changes, so "caught up"
	// is: the leader's pending count stopped moving for two seconds.
	deadline := time.Now().Add(5 * time.Minute)
	last, since := math.Inf(1), time.Now()
	for time.Now().Before(deadline) {
		pending := math.Inf(1)
		for _, c := range cs {
			metrics(b, c, func(name, _ string, v float64) {
				if name == "parc_software_index_pending_revisions" {
					pending = min(pending, v)
				}
			})
		}
		if pending != last {
			last, since = pending, time.Now()
		} else if pending <= 0 || time.Since(since) > 2*time.Second {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	rev, err := h.st.Rev(ctx)
	if err != nil {
		b.Fatal(err)
	}
	cli := h.st.Client()
	if _, err := cli.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil && !strings.Contains(err.Error(), "compacted") {
		b.Fatal(err)
	}
	var size int64
	for _, ep := range h.eps {
		ep = strings.TrimPrefix(ep, "http://")
		if _, err := cli.Defragment(ctx, ep); err != nil {
			b.Fatal(err)
		}
		s, err := cli.Status(ctx, ep)
		if err != nil {
			b.Fatal(err)
		}
		size = max(size, s.DbSize)
	}
	return size
}

// logical returns the key and value bytes in the store and their split by
// key prefix (up to the first '/').
func (h *etcdClusterHandle) logical(b *testing.B) (int64, string) {
	b.Helper()
	by := map[string]int64{}
	var total int64
	var after []byte
	for {
		kvs, err := h.st.Scan(context.Background(), store.Range{Start: []byte{1}, After: after, Limit: 2000})
		if err != nil {
			b.Fatal(err)
		}
		for _, kv := range kvs {
			p, _, _ := strings.Cut(string(kv.Key), "/")
			n := int64(len(clusterPrefix) + len(kv.Key) + len(kv.Value))
			by[p+"/"] += n
			total += n
		}
		if len(kvs) < 2000 {
			break
		}
		after = kvs[len(kvs)-1].Key
	}
	keys := make([]string, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return by[keys[i]] > by[keys[j]] })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, by[k]))
	}
	return total, strings.Join(parts, ", ")
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"parc/cmdb"
	"parc/cmdb/audit"
	"parc/cmdb/reconcile"
	"parc/cmdb/store"
	"parc/cmdb/store/etcdstore"
	"parc/cmdb/store/etcdstore/etcdtest"
	"parc/collector"
	"parc/collector/apiclient"
)

// The cluster tests run real parc-collector binaries on a real
// three-member etcd cluster on loopback. The collectors serve agents in
// --insecure-dev mode (plaintext, agent id trusted): the simulated fleet
// is what is under test, not enrollment.

const clusterPrefix = "/e2e/"

// etcdCluster starts a three-member etcd cluster for the test.
func etcdCluster(t testing.TB) *etcdtest.Cluster {
	t.Helper()
	etcdtest.SkipIfMissing(t)
	c, err := etcdtest.StartCluster(t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

func storeURL(eps []string) string {
	hosts := make([]string, len(eps))
	for i, ep := range eps {
		hosts[i] = strings.TrimPrefix(ep, "http://")
	}
	return "etcd://" + strings.Join(hosts, ",") + "?prefix=" + clusterPrefix
}

// openCluster opens the collectors' store directly, to check what they wrote.
func openCluster(t testing.TB, eps []string) *etcdstore.Store {
	t.Helper()
	st, err := etcdstore.Open(context.Background(), etcdstore.Config{Endpoints: eps, Prefix: clusterPrefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func startCollectors(t testing.TB, n int, eps []string, extra ...string) []*collectorProc {
	t.Helper()
	var cs []*collectorProc
	for range n {
		cs = append(cs, startCollector(t, append([]string{"--store", storeURL(eps), "--insecure-dev"}, extra...)...))
	}
	return cs
}

func agentAddrs(cs []*collectorProc) []string {
	var as []string
	for _, c := range cs {
		as = append(as, c.agentAddr)
	}
	return as
}

// checkExactlyOnce checks in the store that every report of every agent of
// f was applied exactly once: the agent's record holds the last sequence,
// the failing condition counted every report once, and the audit log holds
// one ingest record per report.
func checkExactlyOnce(t *testing.T, st store.Store, f *fleet) {
	t.Helper()
	ctx := context.Background()
	audited := map[string]int{}
	var after []byte
	for {
		kvs, err := st.Scan(ctx, store.Range{Prefix: []byte(audit.Prefix), After: after, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range kvs {
			var e audit.Entry
			if err := cmdb.Decode(kv.Value, &e); err != nil {
				t.Fatal(err)
			}
			if e.Action == "ingest.report" {
				audited[strings.TrimPrefix(e.Actor, "agent:")]++
			}
		}
		if len(kvs) < 1000 {
			break
		}
		after = kvs[len(kvs)-1].Key
	}
	bad := 0
	for i := range f.agents {
		id := f.agentID(i)
		rec, err := reconcile.LoadAgent(ctx, st, id)
		if err != nil {
			t.Errorf("agent %s: %v", id, err)
			bad++
			continue
		}
		var ev reconcile.EventRecord
		v, err := st.Get(ctx, reconcile.EventKey(rec.HostID, reconcile.EventFilesystemFull, "/var"))
		if err == nil {
			err = cmdb.Decode(v, &ev)
		}
		switch {
		case err != nil:
			t.Errorf("agent %s: condition record: %v", id, err)
		case rec.Seq != uint64(f.reports):
			t.Errorf("agent %s: last applied sequence %d, want %d", id, rec.Seq, f.reports)
		case ev.Count != int64(f.reports):
			t.Errorf("agent %s: %d reports applied, want %d (each exactly once)", id, ev.Count, f.reports)
		case audited[id] != f.reports:
			t.Errorf("agent %s: %d ingest audit records, want %d", id, audited[id], f.reports)
		default:
			continue
		}
		if bad++; bad > 10 {
			t.Fatal("too many agents wrong")
		}
	}
}

// streamUntil runs f in the background and calls at() once a fifth of its
// reports are acknowledged. It returns when the fleet is done.
func streamUntil(t *testing.T, f *fleet, at func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- f.run(ctx) }()
	total := int64(f.agents * f.reports)
	for f.acked.Load() < total/5 {
		select {
		case err := <-done:
			t.Fatalf("fleet ended before a fifth of its reports: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	before, streaming := f.acked.Load(), int64(f.agents)-f.finished.Load()
	at()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d agents, %d reports in %v: %d acknowledged before the failure (%d agents still streaming), %d after; %d stream failovers",
		f.agents, total, time.Since(start).Round(time.Millisecond), before, streaming, f.acked.Load()-before, f.failovers.Load())
}

// TestClusterKillCollector: kill -9 one of three collectors while 200
// simulated agents stream; the agents fail over to the others and every
// acknowledged report is stored exactly once.
func TestClusterKillCollector(t *testing.T) {
	ec := etcdCluster(t)
	cs := startCollectors(t, 3, ec.Endpoints)
	f := &fleet{addrs: agentAddrs(cs), agents: 200, reports: 12, packages: 20, prefix: "kill"}
	streamUntil(t, f, func() {
		if err := cs[0].cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		t.Logf("killed collector %s with SIGKILL", cs[0].agentAddr)
	})
	if f.failovers.Load() == 0 {
		t.Error("no agent failed over: the kill happened after the streams ended?")
	}
	checkExactlyOnce(t, openCluster(t, ec.Endpoints), f)
	t.Logf("replayed reports acknowledged without writing: %v", replayed(t, cs[1:]))
}

// TestClusterEtcdMemberDown: kill the etcd leader member while agents
// stream through two collectors; writes continue on the other two members.
func TestClusterEtcdMemberDown(t *testing.T) {
	ec := etcdCluster(t)
	cs := startCollectors(t, 2, ec.Endpoints)
	st := openCluster(t, ec.Endpoints)
	f := &fleet{addrs: agentAddrs(cs), agents: 100, reports: 12, packages: 20, prefix: "member"}
	var downEP string
	streamUntil(t, f, func() {
		i := etcdLeader(t, st, ec.Endpoints)
		downEP = ec.Endpoints[i]
		if err := ec.Kill(i); err != nil {
			t.Fatal(err)
		}
		t.Logf("killed etcd member %s (the raft leader)", downEP)
	})
	checkExactlyOnce(t, st, f)
	// And a fresh write after the failure, with one member still down.
	if _, err := st.Update(context.Background(), func(tx store.Txn) error {
		return tx.Put([]byte("e2e/after-member-down"), []byte("ok"))
	}); err != nil {
		t.Fatalf("write with %s down: %v", downEP, err)
	}
}

// etcdLeader returns the index of the member that leads the raft group.
func etcdLeader(t *testing.T, st *etcdstore.Store, eps []string) int {
	t.Helper()
	for i, ep := range eps {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err := st.Client().Status(ctx, strings.TrimPrefix(ep, "http://"))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if s.Leader == s.Header.MemberId {
			return i
		}
	}
	t.Fatal("no etcd member leads")
	return -1
}

// TestClusterLeaderFailover: kill -9 the collector that leads the
// singleton jobs; the other takes every one of them over within the lease
// time, and runs them (its stale sweep marks a silent host).
func TestClusterLeaderFailover(t *testing.T) {
	ec := etcdCluster(t)
	cs := startCollectors(t, 2, ec.Endpoints, "--stale-after", "2s", "--retire-after", "1h")
	st := openCluster(t, ec.Endpoints)

	// Wait until every singleton job has a leader, and find the leader of
	// the stale sweep.
	var victim, survivor *collectorProc
	var victimJobs []string
	deadline := time.Now().Add(30 * time.Second)
	for victim == nil {
		if time.Now().After(deadline) {
			t.Fatal("no collector leads stale-sweep")
		}
		for i, c := range cs {
			jobs := leading(t, c)
			if contains(jobs, "stale-sweep") {
				victim, survivor, victimJobs = c, cs[1-i], jobs
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("collector %s leads %v", victim.apiAddr, victimJobs)

	// A host reports once, then falls silent.
	f := &fleet{addrs: []string{survivor.agentAddr}, agents: 1, reports: 1, prefix: "silent"}
	if err := f.run(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec, err := reconcile.LoadAgent(context.Background(), st, f.agentID(0))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond) // past --stale-after

	killed := time.Now()
	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	var took time.Duration
	for {
		if time.Since(killed) > collector.LeaseTTL+10*time.Second {
			t.Fatalf("the survivor leads %v %v after the kill, want %v", leading(t, survivor), time.Since(killed), victimJobs)
		}
		now := leading(t, survivor)
		if all := func() bool {
			for _, j := range victimJobs {
				if !contains(now, j) {
					return false
				}
			}
			return true
		}(); all {
			took = time.Since(killed)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("the survivor took %v over %v after the kill (lease %v)", victimJobs, took.Round(time.Millisecond), collector.LeaseTTL)
	// The lease expires LeaseTTL after the victim's last keepalive, which
	// is at most a third of the lease before the kill; the campaign then
	// takes a round trip, and the test polls.
	if took > collector.LeaseTTL+2*time.Second {
		t.Errorf("take-over took %v, want within the lease time (%v) plus 2s", took, collector.LeaseTTL)
	}

	// The new leader's sweep ran: the silent host is stale.
	for {
		v, err := st.Get(context.Background(), reconcile.EventKey(rec.HostID, reconcile.EventHostStale, "agent"))
		if err == nil {
			var ev reconcile.EventRecord
			if err := cmdb.Decode(v, &ev); err != nil {
				t.Fatal(err)
			}
			if !ev.OK {
				break
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		if time.Since(killed) > collector.LeaseTTL+20*time.Second {
			t.Fatal("the new leader's stale sweep did not mark the silent host")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// leading returns the jobs c leads, from its parc_job_leader metric.
func leading(t *testing.T, c *collectorProc) []string {
	t.Helper()
	var jobs []string
	metrics(t, c, func(name, labels string, v float64) {
		if name == "parc_job_leader" && v == 1 {
			jobs = append(jobs, strings.TrimSuffix(strings.TrimPrefix(labels, `job="`), `"`))
		}
	})
	return jobs
}

// replayed sums parc_reports_total{outcome="replayed"} over cs.
func replayed(t *testing.T, cs []*collectorProc) float64 {
	var n float64
	for _, c := range cs {
		metrics(t, c, func(name, labels string, v float64) {
			if name == "parc_reports_total" && strings.Contains(labels, `outcome="replayed"`) {
				n += v
			}
		})
	}
	return n
}

// metrics reads c's /metrics and calls fn for every sample.
func metrics(t testing.TB, c *collectorProc, fn func(name, labels string, v float64)) {
	t.Helper()
	resp, err := http.Get("http://" + c.apiAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		var name, labels string
		var v float64
		series, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		name, labels, _ = strings.Cut(series, "{")
		labels = strings.TrimSuffix(labels, "}")
		if _, err := fmt.Sscan(val, &v); err != nil {
			continue
		}
		fn(name, labels, v)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestClusterSharedTrust: collectors of one cluster share the CA, the
// enrollment tokens, the API tokens and the revocations through etcd. An
// agent enrolls through one collector with a token made on the other,
// reports to both over mTLS, and once revoked through one collector it is
// refused by the other at its next report.
func TestClusterSharedTrust(t *testing.T) {
	ec := etcdCluster(t)
	a := startCollector(t, "--store", storeURL(ec.Endpoints))
	b := startCollector(t, "--store", storeURL(ec.Endpoints))
	tok := a.adminToken(t) // written by the first collector, valid on both
	cli := func(c *collectorProc, args ...string) string {
		return run(t, "parc", append([]string{"--api", "http://" + c.apiAddr, "--token", tok}, args...)...)
	}
	lines := strings.Split(strings.TrimSpace(cli(a, "enroll-token", "create", "--ttl", "10m", "--uses", "1")), "\n")
	enrollTok := strings.TrimSpace(lines[len(lines)-1])

	state := t.TempDir()
	run(t, "parc-agent", "--collector", b.agentAddr, "--state-dir", state, "--enroll-token", enrollTok, "--once")
	run(t, "parc-agent", "--collector", a.agentAddr, "--state-dir", state, "--once")

	var agents struct {
		Items []struct {
			AgentID string `json:"agent_id"`
		} `json:"items"`
	}
	if err := apiclient.New("http://"+a.apiAddr, tok).Get(context.Background(), "/agents", &agents); err != nil {
		t.Fatal(err)
	}
	if len(agents.Items) != 1 {
		t.Fatalf("agents = %+v, want the one enrolled", agents)
	}
	cli(b, "agent", "revoke", agents.Items[0].AgentID)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(bins, "parc-agent"), "--collector", a.agentAddr, "--state-dir", state, "--once").CombinedOutput()
	if err == nil {
		t.Fatalf("a revoked agent still reports to the other collector:\n%s", out)
	}
	if !strings.Contains(strings.ToLower(string(out)), "revoked") {
		t.Errorf("refusal does not say revoked:\n%s", out)
	}
}

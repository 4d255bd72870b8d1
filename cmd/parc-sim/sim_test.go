package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/test/bufconn"

	"parc/agent/sim"
	"parc/cmdb"
	"parc/cmdb/reconcile"
	"parc/cmdb/store"
	"parc/cmdb/store/badgerstore"
	"parc/cmdb/store/teststore"
	"parc/collector/agentsvc"
	parcv1 "parc/proto/parc/v1"
)

// connectFleet builds the fleet of cfg and connects it, closed when the
// test ends.
func connectFleet(t *testing.T, cfg sim.Config) (*sim.Runner, context.Context) {
	t.Helper()
	r, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	ctx := context.Background()
	if err := r.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	return r, ctx
}

// TestTransportFloor drives a fleet against the transport floor over
// loopback TCP, as make bench-ingest does: every report is acknowledged
// with its own sequence, through the agent port's options and codec.
func TestTransportFloor(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := agentsvc.NewFloorServer()
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	r, ctx := connectFleet(t, sim.Config{Target: lis.Addr().String(), Agents: 30, Packages: 50, Concurrency: 4, RunID: "floor"})
	for _, mk := range []func(*sim.Host) *parcv1.Report{(*sim.Host).Full, (*sim.Host).Delta, (*sim.Host).Delta} {
		if s := r.Phase(ctx, "floor", mk); s.Errors > 0 || s.Reports != 30 {
			t.Fatalf("%v (first error %v)", s, s.FirstErr)
		}
	}
}

// TestFleetOverGRPC drives a small simulated fleet through the real agent
// service and checks what the graph made of it.
func TestFleetOverGRPC(t *testing.T) {
	st := teststore.Open(t)
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	parcv1.RegisterAgentServiceServer(srv, agentsvc.New(agentsvc.Config{Engine: reconcile.New(st, reconcile.Config{})}))
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)

	r, ctx := connectFleet(t, sim.Config{Target: "bufnet", Agents: 40, Packages: 120, Concurrency: 8, AgentsPerConn: 10, RunID: "t",
		Dial: func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }})
	for _, phase := range []struct {
		name string
		mk   func(*sim.Host) *parcv1.Report
	}{{"full", (*sim.Host).Full}, {"delta", (*sim.Host).Delta}, {"delta", (*sim.Host).Delta}, {"delta", (*sim.Host).Delta},
		{"delta", (*sim.Host).Delta}, {"delta", (*sim.Host).Delta}, {"heartbeat", (*sim.Host).Heartbeat}} {
		s := r.Phase(ctx, phase.name, phase.mk)
		if s.Errors > 0 || s.Resyncs > 0 || s.Reports != 40 {
			t.Fatalf("%s: %v (first error %v)", phase.name, s, s.FirstErr)
		}
	}
	g := cmdb.NewGraph(st)
	hosts, _, err := g.List(ctx, cmdb.ListOptions{Class: cmdb.ClassComputer, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 40 {
		t.Fatalf("%d computers, want 40", len(hosts))
	}
	// Packages vary a few percent per host around the target count, and
	// each host's record is what its agent last reported (upgrades came as
	// package changes).
	byName := map[string]*sim.Host{}
	for _, h := range r.Fleet.Hosts {
		byName[h.Full().GetInventory().GetSystem().GetHostname()] = h
		if !h.SoftwareChanges {
			t.Errorf("agent %s: the collector's Acks do not offer package changes", h.AgentID)
		}
	}
	for _, h := range hosts {
		rec, err := g.Software(ctx, h.ID)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(rec.Items); n < 110 || n > 130 {
			t.Errorf("%s has %d packages", h.Name, n)
		}
		var want, got []string
		for _, p := range byName[h.Name].Software() {
			want = append(want, p.Name+"@"+p.Version)
		}
		for _, it := range rec.Items {
			got = append(got, it.Name+"@"+it.Version)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: stored software differs from the agent's", h.Name)
		}
	}
	services, _, _ := g.List(ctx, cmdb.ListOptions{Class: cmdb.ClassService, Limit: 1000})
	deps, _ := st.Scan(ctx, store.Range{Prefix: []byte(reconcile.PrefixDependency)})
	if len(services) == 0 || len(deps) == 0 {
		t.Errorf("%d services and %d dependencies mapped from the fleet's sockets", len(services), len(deps))
	}
	t.Logf("%d services, %d depends_on", len(services), len(deps))
}

// BenchmarkFleet runs the simulated fleet in process (agent service over
// bufconn, engine, title indexer) for profiling: PARC_BENCH_AGENTS agents.
func BenchmarkFleet(b *testing.B) {
	n := 300
	if v := os.Getenv("PARC_BENCH_AGENTS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	st, err := badgerstore.Open(b.TempDir(), badgerstore.Options{SyncWrites: os.Getenv("PARC_BENCH_NOSYNC") == ""})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if os.Getenv("PARC_BENCH_NOINDEX") == "" {
		go cmdb.NewTitleIndexer(st, nil).Run(ctx)
	}
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	cs := &countingStore{Store: st}
	parcv1.RegisterAgentServiceServer(srv, agentsvc.New(agentsvc.Config{Engine: reconcile.New(cs, reconcile.Config{})}))
	go srv.Serve(lis)
	defer srv.Stop()
	defer func() { fmt.Printf("updates=%d attempts=%d\n", cs.updates.Load(), cs.attempts.Load()) }()
	r, err := sim.New(sim.Config{Target: "bufnet", Agents: n, Packages: 800, Concurrency: 64, AgentsPerConn: 1, RunID: "b",
		Dial: func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	if err := r.Connect(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	fmt.Println(r.Phase(ctx, "full", (*sim.Host).Full))
	for range 3 {
		fmt.Println(r.Phase(ctx, "delta", (*sim.Host).Delta))
	}
}

// countingStore counts transactions and their attempts (conflict retries).
type countingStore struct {
	store.Store
	updates, attempts atomic.Int64
}

func (c *countingStore) Update(ctx context.Context, fn func(store.Txn) error) (int64, error) {
	c.updates.Add(1)
	return c.Store.Update(ctx, func(tx store.Txn) error { c.attempts.Add(1); return fn(tx) })
}

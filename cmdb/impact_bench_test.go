package cmdb

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"parc/cmdb/store"
	"parc/cmdb/store/badgerstore"
)

// benchGraph is a generated CMDB-shaped graph:
//
//	hosts (1/8 of the CIs), each containing 4 components;
//	application services (1/8), each running on a host, providing one
//	business service (1/100) and depending on another service;
//	every host depends on 2 services;
//	the rest (about a quarter) unrelated CIs (titles, people, ...).
type benchGraph struct {
	hosts, services, business []string
}

func benchID(kind byte, i int) string { return fmt.Sprintf("01%c%023d", kind, i) }

var benchLoaded = []byte("bench/impact/loaded")

// loadBenchGraph bulk-loads n CIs through ordinary store transactions of at
// most store.MaxTxnOps writes, from 4 goroutines. A store that already
// holds a graph of n CIs (PARC_BENCH_DIR) is reused.
func loadBenchGraph(tb testing.TB, st store.Store, n int) *benchGraph {
	tb.Helper()
	rnd := rand.New(rand.NewPCG(1, 2))
	g := &benchGraph{}
	nh, ns, nb := n/8, n/8, max(1, n/100)
	for i := range nh {
		g.hosts = append(g.hosts, benchID('H', i))
	}
	for i := range ns {
		g.services = append(g.services, benchID('S', i))
	}
	for i := range nb {
		g.business = append(g.business, benchID('B', i))
	}
	if v, err := st.Get(context.Background(), benchLoaded); err == nil && string(v) == strconv.Itoa(n) {
		return g
	}
	type op struct{ k, v []byte }
	ops := make(chan op, 4096)
	var wg sync.WaitGroup
	var failed error
	var mu sync.Mutex
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			batch := make([]op, 0, store.MaxTxnOps)
			flush := func() {
				if len(batch) == 0 {
					return
				}
				_, err := st.Update(context.Background(), func(tx store.Txn) error {
					for _, o := range batch {
						if err := tx.Put(o.k, o.v); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
				}
				batch = batch[:0]
			}
			for o := range ops {
				batch = append(batch, o)
				if len(batch) == store.MaxTxnOps {
					flush()
				}
			}
			flush()
		}()
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	putCI := func(id, class, name string) {
		ci := &CI{ID: id, Class: class, Name: name, State: "use", Created: now, Updated: now,
			Attrs: map[string]Attr{"source_id": {Value: id, Source: SourceImport, Updated: now}}}
		v, err := Encode(ci)
		if err != nil {
			tb.Fatal(err)
		}
		ops <- op{ciKey(id), v}
		ops <- op{classKey(class, id), nil}
	}
	putRel := func(from, typ, to string) {
		v, err := Encode(Relationship{From: from, To: to, Type: typ, Source: SourceAgent, FirstSeen: now, LastSeen: now})
		if err != nil {
			tb.Fatal(err)
		}
		ops <- op{relOutKey(from, typ, to), v}
		ops <- op{relInKey(to, typ, from), nil}
	}
	made := 0
	for i, h := range g.hosts {
		putCI(h, ClassComputer, "host-"+strconv.Itoa(i))
		for c := range 4 {
			id := benchID('C', i*4+c)
			putCI(id, []string{ClassCPU, ClassDisk, ClassNIC, ClassDisk}[c], fmt.Sprintf("host-%d part %d", i, c))
			putRel(h, RelContains, id)
		}
		for range 2 {
			putRel(h, RelDependsOn, g.services[rnd.IntN(ns)])
		}
		made += 5
	}
	for i, b := range g.business {
		putCI(b, ClassService, "business-"+strconv.Itoa(i))
		made++
	}
	for i, s := range g.services {
		putCI(s, ClassService, "app-"+strconv.Itoa(i))
		putRel(s, RelRunsOn, g.hosts[rnd.IntN(nh)])
		putRel(s, RelProvides, g.business[rnd.IntN(nb)])
		if o := g.services[rnd.IntN(ns)]; o != s {
			putRel(s, RelDependsOn, o)
		}
		made++
	}
	for i := 0; made < n; i++ {
		putCI(benchID('X', i), ClassSoftware, "title-"+strconv.Itoa(i))
		made++
	}
	close(ops)
	wg.Wait()
	if failed != nil {
		tb.Fatal(failed)
	}
	if _, err := st.Update(context.Background(), func(tx store.Txn) error { return tx.Put(benchLoaded, []byte(strconv.Itoa(n))) }); err != nil {
		tb.Fatal(err)
	}
	return g
}

// openBenchStore returns the benchmark graph size (PARC_BENCH_CIS, default
// 20000) and a Badger store in PARC_BENCH_DIR (reused between runs) or a
// temp dir, closed when b ends.
func openBenchStore(b *testing.B) (int, *badgerstore.Store) {
	n := 20000
	if v := os.Getenv("PARC_BENCH_CIS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			b.Fatalf("PARC_BENCH_CIS=%q: want a number ≥ 1000", v)
		}
	}
	dir := os.Getenv("PARC_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	st, err := badgerstore.Open(dir, badgerstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return n, st
}

// BenchmarkImpact measures 3-hop impact traversals on a generated graph of
// PARC_BENCH_CIS CIs (default 20000; make bench-ingest uses 1,000,000) on
// a Badger store (in PARC_BENCH_DIR, reused between runs, or a temp dir),
// first walking the store, then from the graph index, and reports the
// latency percentiles of both and the index's build time and memory.
func BenchmarkImpact(b *testing.B) {
	n, st := openBenchStore(b)
	t := time.Now()
	bg := loadBenchGraph(b, st, n)
	loaded := time.Since(t)
	g := NewGraph(st)
	ctx := context.Background()
	// Let the bulk load's compactions and garbage settle, and warm the
	// block cache as a running collector's would be.
	runtime.GC()
	for i := range 500 {
		if _, err := g.Impact(ctx, []string{bg.hosts[(i*7919)%len(bg.hosts)]}, ImpactOptions{Direction: Both, Depth: 3}); err != nil {
			b.Fatal(err)
		}
	}
	queries := max(b.N, 2000)
	b.ResetTimer()
	walk := runImpactQueries(b, g, bg, queries)
	b.StopTimer()
	walk.print("impact-walk", n, loaded, queries)

	// The same queries from the index. Its memory is what the heap loses
	// when it stops (measured around the build, Badger's own memtable
	// flushes would blur it).
	ictx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- g.RunIndex(ictx, IndexOptions{}) }()
	for g.IndexStats().State != "ready" {
		time.Sleep(10 * time.Millisecond)
	}
	b.StartTimer()
	idx := runImpactQueries(b, g, bg, queries)
	b.StopTimer()
	is := g.IndexStats()
	if is.Hits < int64(queries) {
		b.Errorf("only %d of %d traversals from the index (%+v)", is.Hits, queries, is)
	}
	var running, stopped runtime.MemStats
	runtime.GC()
	runtime.GC() // and the traversals' pooled sets
	runtime.ReadMemStats(&running)
	cancel()
	if err := <-done; err != nil {
		b.Error(err)
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&stopped)
	heap := int64(running.HeapAlloc) - int64(stopped.HeapAlloc)
	fmt.Printf("index: nodes=%d relationships=%d built_in=%s heap=%.1fMiB (%.0f B/CI) estimate=%.1fMiB\n",
		is.Nodes, is.Relationships, is.BuildTime.Round(time.Millisecond), float64(heap)/(1<<20), float64(heap)/float64(n), float64(is.Bytes)/(1<<20))
	idx.print("impact", n, loaded, queries)
	b.ReportMetric(float64(idx.p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(idx.p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(walk.p99.Microseconds())/1000, "walk-p99-ms")
	b.ReportMetric(float64(heap)/float64(n), "index-B/CI")
}

type impactRun struct {
	p50, p99, max time.Duration
	reached       int
	slow          []string
}

// runImpactQueries runs 3-hop traversals from random hosts, services and
// business services in random directions (the same sequence every time).
func runImpactQueries(b *testing.B, g *Graph, bg *benchGraph, queries int) impactRun {
	rnd := rand.New(rand.NewPCG(3, 4))
	dirs := []Direction{Downstream, Upstream, Both}
	type sample struct {
		d     time.Duration
		kind  string
		nodes int
	}
	lat := make([]time.Duration, 0, queries)
	samples := make([]sample, 0, queries)
	var r impactRun
	for i := range queries {
		var start, kind string
		switch i % 3 {
		case 0:
			start, kind = bg.hosts[rnd.IntN(len(bg.hosts))], "host"
		case 1:
			start, kind = bg.services[rnd.IntN(len(bg.services))], "service"
		default:
			start, kind = bg.business[rnd.IntN(len(bg.business))], "business"
		}
		dir := dirs[rnd.IntN(3)]
		q := time.Now()
		res, err := g.Impact(context.Background(), []string{start}, ImpactOptions{Direction: dir, Depth: 3})
		d := time.Since(q)
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, d)
		r.reached += len(res.Nodes)
		samples = append(samples, sample{d, kind + "/" + string(dir), len(res.Nodes)})
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	r.p50, r.p99, r.max = lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	sort.Slice(samples, func(i, j int) bool { return samples[i].d > samples[j].d })
	for _, s := range samples[:len(samples)/100] {
		r.slow = append(r.slow, fmt.Sprintf("  slow: %s %s reached %d", s.d.Round(time.Microsecond), s.kind, s.nodes))
	}
	return r
}

func (r impactRun) print(label string, n int, loaded time.Duration, queries int) {
	if os.Getenv("PARC_BENCH_VERBOSE") != "" {
		for _, s := range r.slow {
			fmt.Println(s)
		}
	}
	var load string
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	fmt.Printf("%s: cis=%d loaded_in=%s queries=%d depth=3 mean_reached=%.1f p50=%s p99=%s max=%s load=%s\n",
		label, n, loaded.Round(time.Second), queries, float64(r.reached)/float64(queries), r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.max.Round(time.Microsecond), load)
}

// BenchmarkIndexBuild builds the graph index from the benchmark graph of
// BenchmarkImpact (same PARC_BENCH_CIS and PARC_BENCH_DIR) and reports the
// build time and the heap the index holds.
func BenchmarkIndexBuild(b *testing.B) {
	n, st := openBenchStore(b)
	loadBenchGraph(b, st, n)
	b.ResetTimer()
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		t := time.Now()
		x, err := buildIndex(context.Background(), st, 4096)
		took := time.Since(t)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
		fmt.Printf("index build: nodes=%d relationships=%d took=%s heap=%.1fMiB (%.0f B/CI) estimate=%.1fMiB\n",
			len(x.ids), x.rels, took.Round(time.Millisecond), float64(heap)/(1<<20), float64(heap)/float64(n), float64(x.bytes())/(1<<20))
		b.ReportMetric(float64(heap)/float64(n), "B/CI")
		runtime.KeepAlive(x)
	}
}

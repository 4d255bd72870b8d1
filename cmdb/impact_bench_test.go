package cmdb

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sort"
	"strconv"
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

// loadBenchGraph bulk-loads n CIs through ordinary store transactions of at
// most store.MaxTxnOps writes, from 4 goroutines.
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
	return g
}

// BenchmarkImpact measures 3-hop impact traversals on a generated graph of
// PARC_BENCH_CIS CIs (default 20000; make bench-ingest uses 1,000,000) on
// a Badger store in a temp dir, and reports the latency percentiles.
func BenchmarkImpact(b *testing.B) {
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
	defer st.Close()
	t := time.Now()
	bg := loadBenchGraph(b, st, n)
	loaded := time.Since(t)
	g := NewGraph(st)
	rnd := rand.New(rand.NewPCG(3, 4))
	dirs := []Direction{Downstream, Upstream, Both}
	queries := max(b.N, 2000)
	lat := make([]time.Duration, 0, queries)
	reached := 0
	type sample struct {
		d     time.Duration
		kind  string
		nodes int
	}
	var samples []sample
	// Let the bulk load's compactions and garbage settle, and warm the
	// block cache as a running collector's would be.
	runtime.GC()
	for i := range 500 {
		if _, err := g.Impact(context.Background(), []string{bg.hosts[(i*7919)%len(bg.hosts)]}, ImpactOptions{Direction: Both, Depth: 3}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
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
		lat = append(lat, d)
		if err != nil {
			b.Fatal(err)
		}
		reached += len(res.Nodes)
		samples = append(samples, sample{d, kind + "/" + string(dir), len(res.Nodes)})
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	sort.Slice(samples, func(i, j int) bool { return samples[i].d > samples[j].d })
	if os.Getenv("PARC_BENCH_VERBOSE") != "" {
		for _, s := range samples[:len(samples)/100] {
			fmt.Printf("  slow: %s %s reached %d\n", s.d.Round(time.Microsecond), s.kind, s.nodes)
		}
	}
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	fmt.Printf("impact: cis=%d loaded_in=%s queries=%d depth=3 mean_reached=%.1f p50=%s p99=%s max=%s\n",
		n, loaded.Round(time.Second), queries, float64(reached)/float64(queries), p50.Round(time.Microsecond), p99.Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
}

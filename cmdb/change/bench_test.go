package change_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"parc/cmdb"
	"parc/cmdb/change"
	"parc/cmdb/incident"
	"parc/cmdb/problem"
	"parc/cmdb/store"
	"parc/cmdb/store/badgerstore"
)

// benchGraph is a generated CMDB-shaped graph of n CIs:
//
//	hosts (1/8), each containing 4 components and depending on 2 services;
//	application services (1/8), each running on a host, providing one
//	business service (1/100, a tenth of them critical) and depending on
//	another service; the rest unrelated CIs (software titles).
type benchGraph struct {
	hosts []string
}

func benchID(kind byte, i int) string { return fmt.Sprintf("01%c%023d", kind, i) }

var benchLoaded = []byte(change.Prefix + "bench/loaded")

// loadBenchGraph writes the graph through ordinary store transactions of
// at most store.MaxTxnOps writes, from 4 goroutines. A store that already
// holds a graph of n CIs (PARC_BENCH_DIR) is reused.
func loadBenchGraph(tb testing.TB, st store.Store, n int) *benchGraph {
	tb.Helper()
	rnd := rand.New(rand.NewPCG(1, 2))
	nh, ns, nb := n/8, n/8, max(1, n/100)
	g := &benchGraph{}
	for i := range nh {
		g.hosts = append(g.hosts, benchID('H', i))
	}
	if v, err := st.Get(context.Background(), benchLoaded); err == nil && string(v) == strconv.Itoa(n) {
		return g
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		tb.Fatal(err)
	}
	type op struct{ k, v []byte }
	ops := make(chan op, 4096)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed error
	for range 4 {
		wg.Go(func() {
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
				if batch = append(batch, o); len(batch) == store.MaxTxnOps {
					flush()
				}
			}
			flush()
		})
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	putCI := func(id, class, name string, attrs map[string]cmdb.Attr) {
		v, err := cmdb.Encode(&cmdb.CI{ID: id, Class: class, Name: name, State: "use", Created: now, Updated: now, Attrs: attrs})
		if err != nil {
			tb.Fatal(err)
		}
		ops <- op{[]byte(cmdb.PrefixCI + id), v}
		ops <- op{[]byte(cmdb.PrefixClass + class + "/" + id), nil}
	}
	putRel := func(from, typ, to string) {
		v, err := cmdb.Encode(cmdb.Relationship{From: from, To: to, Type: typ, Source: cmdb.SourceAgent, FirstSeen: now, LastSeen: now})
		if err != nil {
			tb.Fatal(err)
		}
		ops <- op{[]byte(cmdb.PrefixRelOut + from + "/" + typ + "/" + to), v}
		ops <- op{[]byte(cmdb.PrefixRelIn + to + "/" + typ + "/" + from), nil}
	}
	services := make([]string, ns)
	for i := range ns {
		services[i] = benchID('S', i)
	}
	made := 0
	for i, h := range g.hosts {
		putCI(h, cmdb.ClassComputer, "host-"+strconv.Itoa(i), nil)
		for c := range 4 {
			id := benchID('C', i*4+c)
			putCI(id, []string{cmdb.ClassCPU, cmdb.ClassDisk, cmdb.ClassNIC, cmdb.ClassDisk}[c], fmt.Sprintf("host-%d part %d", i, c), nil)
			putRel(h, cmdb.RelContains, id)
		}
		for range 2 {
			putRel(h, cmdb.RelDependsOn, services[rnd.IntN(ns)])
		}
		made += 5
	}
	for i := range nb {
		attrs := map[string]cmdb.Attr{"owner": {Value: "owner-" + strconv.Itoa(i%50)}}
		if i%10 == 0 {
			attrs["criticality"] = cmdb.Attr{Value: "critical"}
		}
		putCI(benchID('B', i), cmdb.ClassService, "business-"+strconv.Itoa(i), attrs)
		made++
	}
	for i, s := range services {
		putCI(s, cmdb.ClassService, "app-"+strconv.Itoa(i), nil)
		putRel(s, cmdb.RelRunsOn, g.hosts[rnd.IntN(nh)])
		putRel(s, cmdb.RelProvides, benchID('B', rnd.IntN(nb)))
		if o := services[rnd.IntN(ns)]; o != s {
			putRel(s, cmdb.RelDependsOn, o)
		}
		made++
	}
	for i := 0; made < n; i++ {
		putCI(benchID('X', i), cmdb.ClassSoftware, "title-"+strconv.Itoa(i), nil)
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

func benchEnv(tb testing.TB, name string, def, least int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < least {
		tb.Fatalf("%s=%q: want a number ≥ %d", name, v, least)
	}
	return n
}

// BenchmarkChangeImpact measures the impact analysis of a change on 50
// hosts (dependants and upstream CIs to depth 3 with paths, open incidents
// and problems, collisions with 200 open changes, freeze windows, risk) on
// a generated graph of PARC_BENCH_CIS CIs (default 20000; the target is
// p99 ≤ 50 ms at 1,000,000) in Badger, over PARC_BENCH_RUNS analyses
// (default 200), and reports the latency percentiles. PARC_BENCH_DIR keeps
// the generated store between runs.
func BenchmarkChangeImpact(b *testing.B) {
	n := benchEnv(b, "PARC_BENCH_CIS", 20000, 1000)
	runs := benchEnv(b, "PARC_BENCH_RUNS", 200, 10)
	dir := os.Getenv("PARC_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	st, err := badgerstore.Open(dir, badgerstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	t := time.Now()
	bg := loadBenchGraph(b, st, n)
	loaded := time.Since(t)

	g := cmdb.NewGraph(st)
	// The graph index, as the collector runs it (PARC_BENCH_NOINDEX=1
	// walks the store instead).
	useIndex := os.Getenv("PARC_BENCH_NOINDEX") == ""
	if useIndex {
		ictx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- g.RunIndex(ictx, cmdb.IndexOptions{}) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				b.Error(err)
			}
		}()
		for g.IndexStats().State != "ready" {
			time.Sleep(10 * time.Millisecond)
		}
	}
	svc := change.New(g, change.Config{OpenIncidents: incident.OpenOnCI, OpenProblems: problem.OpenOnCI})
	rnd := rand.New(rand.NewPCG(5, 6))
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	pick := func(k int) []string {
		out := make([]string, 0, k)
		for len(out) < k {
			if h := bg.hosts[rnd.IntN(len(bg.hosts))]; !slices.Contains(out, h) {
				out = append(out, h)
			}
		}
		return out
	}
	windowAt := func() change.Window {
		s := base.Add(time.Duration(rnd.IntN(30*24)) * time.Hour)
		return change.Window{Start: s, End: s.Add(4 * time.Hour)}
	}
	// Open changes to collide with, and a freeze window (once per store).
	benchOpen := []byte(change.Prefix + "bench/open")
	if _, err := st.Get(ctx, benchOpen); errors.Is(err, store.ErrNotFound) {
		for range 200 {
			c, err := svc.Create(ctx, "bench", base, change.Input{Title: "background change", CIs: pick(1 + rnd.IntN(5)), Window: windowAt(), BackoutPlan: "b", ImplPlan: "i"})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := svc.Submit(ctx, c.Number, "bench", base); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := svc.PutFreeze(ctx, "bench", base, change.Freeze{Name: "quarter end", Window: change.Window{Start: base.Add(20 * 24 * time.Hour), End: base.Add(22 * 24 * time.Hour)}}); err != nil {
			b.Fatal(err)
		}
		if _, err := st.Update(ctx, func(tx store.Txn) error { return tx.Put(benchOpen, []byte("200")) }); err != nil {
			b.Fatal(err)
		}
	} else if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	for range 20 { // warm the block cache as a running collector's would be
		if _, err := svc.Analyze(ctx, &change.Change{Number: "CHG-WARM", Type: change.Normal, CIs: pick(50), Window: windowAt()}, base); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	lat := make([]time.Duration, 0, runs)
	cpu := make([]time.Duration, 0, runs)
	nodes, collisions, freezes := 0, 0, 0
	for range max(runs, b.N) {
		c := &change.Change{Number: "CHG-BENCH", Type: change.Normal, CIs: pick(50), Window: windowAt(), BackoutPlan: "b"}
		c0 := cpuTime()
		q := time.Now()
		imp, err := svc.Analyze(ctx, c, base)
		d := time.Since(q)
		cpu = append(cpu, cpuTime()-c0)
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, d)
		nodes += len(imp.Downstream) + len(imp.Upstream)
		collisions += len(imp.Collisions)
		freezes += len(imp.Freezes)
	}
	b.StopTimer()
	slices.Sort(lat)
	slices.Sort(cpu)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(float64(len(lat))*p))] }
	cpct := func(p float64) time.Duration { return cpu[min(len(cpu)-1, int(float64(len(cpu))*p))] }
	var load [3]float64
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Sscan(string(b), &load[0], &load[1], &load[2])
	}
	b.ReportMetric(float64(pct(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(pct(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(nodes)/float64(len(lat)), "nodes/change")
	b.ReportMetric(float64(cpct(0.99).Microseconds())/1000, "cpu-p99-ms")
	if useIndex {
		is := g.IndexStats()
		b.Logf("graph index: built in %s, %d nodes, %d relationships, about %.1f MiB; %d reads from it, %d from the store",
			is.BuildTime.Round(time.Millisecond), is.Nodes, is.Relationships, float64(is.Bytes)/(1<<20), is.Hits, is.Fallbacks)
	}
	b.Logf("%d CIs loaded in %s; %d analyses of 50-CI changes: p50 %s p99 %s max %s (process CPU per analysis p50 %s p99 %s; load average %.1f on %d CPUs); %.0f reached CIs, %.1f collisions, %.2f freezes per change (target p99 ≤ 50ms at 1,000,000 CIs)",
		n, loaded.Round(time.Millisecond), len(lat), pct(0.50).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond),
		cpct(0.50).Round(time.Microsecond), cpct(0.99).Round(time.Microsecond), load[0], runtime.NumCPU(),
		float64(nodes)/float64(len(lat)), float64(collisions)/float64(len(lat)), float64(freezes)/float64(len(lat)))
}

package incident

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"parc/cmdb"
	"parc/cmdb/reconcile"
	"parc/cmdb/store"
	"parc/cmdb/store/teststore"
)

// Benchmarks print p50 and p99 latencies (b.ReportMetric) over a fixed
// number of operations per b.N round, with data generated at run time:
//
//	go test -run '^$' -bench . -benchtime 1x ./cmdb/incident

func percentiles(b *testing.B, samples []time.Duration) {
	slices.Sort(samples)
	at := func(q float64) float64 {
		i := min(len(samples)-1, int(q*float64(len(samples))))
		return float64(samples[i].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
	b.ReportMetric(float64(len(samples)), "samples")
}

// hostWithDependants builds a server with n CIs depending on it (every
// 100th a service).
func hostWithDependants(b *testing.B, st store.Store, n int) string {
	ctx := context.Background()
	host := &cmdb.CI{ID: cmdb.DerivedID("bench", "host"), Class: cmdb.ClassComputer, Subclass: "server", Name: "big-01",
		Identifiers: map[string][]string{"hostname": {"big-01"}}}
	if _, err := st.Update(ctx, func(tx store.Txn) error {
		_, err := cmdb.NewTx(ctx, tx, "bench", t0).PutCI(nil, host)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i += 10 {
		if _, err := st.Update(ctx, func(tx store.Txn) error {
			x := cmdb.NewTx(ctx, tx, "bench", t0)
			for j := i; j < min(i+10, n); j++ {
				class := cmdb.ClassSoftware
				if j%100 == 0 {
					class = cmdb.ClassService
				}
				dep := &cmdb.CI{ID: cmdb.DerivedID("bench", fmt.Sprint("dep", j)), Class: class, Name: fmt.Sprint("dep-", j)}
				if _, err := x.PutCI(nil, dep); err != nil {
					return err
				}
				if err := x.PutRel(cmdb.Relationship{From: dep.ID, To: host.ID, Type: cmdb.RelDependsOn, Source: cmdb.SourceManual}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	return host.ID
}

// BenchmarkAutoLinkImpact opens incidents on a host with 1,000 dependants:
// from a health event (the linker: dedup lookup, graph impact, create) and
// from text naming the host (identifier lookup, graph impact, create).
// Target: p99 ≤ 10 ms.
func BenchmarkAutoLinkImpact(b *testing.B) {
	st := teststore.Open(b)
	ctx := context.Background()
	host := hostWithDependants(b, st, 1000)
	s := New(st)
	l := NewLinker(s, nil, func() time.Time { return t0 })
	const ops = 200
	b.Run("event", func(b *testing.B) {
		var samples []time.Duration
		for range b.N {
			for i := range ops {
				rec := reconcile.EventRecord{Host: host, Kind: reconcile.EventServiceFailed, Subject: "nginx", Message: "exited", At: t0, Count: int64(i)}
				start := time.Now()
				if err := l.Handle(ctx, rec, nil, false); err != nil {
					b.Fatal(err)
				}
				samples = append(samples, time.Since(start))
				// Recover so that the next event opens a new incident.
				rec.OK = true
				if err := l.Handle(ctx, rec, nil, false); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.StopTimer()
		in, err := openAuto(ctx, st, host, reconcile.EventServiceFailed)
		if err != nil || in != nil {
			b.Fatalf("auto incident still open: %v %v", in, err)
		}
		last, _, _ := s.List(ctx, Filter{Limit: 1})
		if got, _ := s.Get(ctx, last[0].Number); got.ImpactBasis == nil || got.ImpactBasis.Dependants != 1000 || got.Impact != 1 {
			b.Fatalf("impact not derived over 1,000 dependants: %+v", got.ImpactBasis)
		}
		percentiles(b, samples)
	})
	b.Run("text", func(b *testing.B) {
		var samples []time.Duration
		for range b.N {
			for range ops {
				start := time.Now()
				in, err := s.Create(ctx, "bench", t0, NewIncident{ShortDescription: "big-01 answers slowly", Category: "software"})
				if err != nil {
					b.Fatal(err)
				}
				samples = append(samples, time.Since(start))
				if len(in.CIs) != 1 || in.ImpactBasis.Dependants != 1000 {
					b.Fatalf("not linked: %+v", in.CIs)
				}
			}
		}
		percentiles(b, samples)
	})
}

// bulkIncidents writes n incidents straight through the module's write
// path (records, summaries and indexes), many per transaction.
func bulkIncidents(b *testing.B, st store.Store, n int, cis []string) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	const perTxn = 10
	for i := 1; i <= n; i += perTxn {
		if _, err := st.Update(ctx, func(tx store.Txn) error {
			for seq := i; seq < min(i+perTxn, n+1); seq++ {
				status := Statuses[rng.IntN(len(Statuses))]
				at := t0.Add(time.Duration(seq) * time.Minute)
				in := &Incident{Seq: int64(seq), Number: FormatNumber(int64(seq)), ShortDescription: fmt.Sprintf("generated incident %d", seq),
					Category: BuiltinCategories[rng.IntN(4)], Status: status, Impact: 1 + rng.IntN(3), Urgency: 1 + rng.IntN(3),
					Reported: at, Occurred: at, Created: at, Updated: at, OpenedBy: "bench",
					StatusLog: []StatusChange{{At: at, Status: status}}}
				in.Priority = DefaultConfig().Priority(in.Impact, in.Urgency)
				if rng.IntN(3) > 0 {
					in.Assignee = fmt.Sprintf("agent-%02d", rng.IntN(50))
					in.Group = fmt.Sprintf("group-%d", rng.IntN(8))
				}
				in.Major = rng.IntN(100) == 0
				in.CIs = []Link{{CI: cis[rng.IntN(len(cis))], Source: LinkManual, Added: at}}
				if err := write(tx, nil, in); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := st.Update(ctx, func(tx store.Txn) error { return tx.Put(keySeq, []byte(fmt.Sprint(n))) }); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkList100k lists and filters 100,000 incidents in pages of 50:
// first pages and deep pages (a cursor anywhere) for no filter, one
// indexed filter, and two filters. Target: p99 ≤ 50 ms.
func BenchmarkList100k(b *testing.B) {
	st := teststore.Open(b)
	ctx := context.Background()
	cis := make([]string, 2000)
	for i := range cis {
		cis[i] = cmdb.DerivedID("bench", fmt.Sprint("ci", i))
	}
	const n = 100_000
	start := time.Now()
	bulkIncidents(b, st, n, cis)
	b.Logf("generated %d incidents in %v", n, time.Since(start).Round(time.Millisecond))
	s := New(st)
	filters := []Filter{
		{},
		{Status: "open"},
		{Status: StatusInProgress},
		{Priority: 1},
		{Assignee: "agent-07"},
		{CI: cis[42]},
		{Category: "network", Priority: 2},
		{Status: "open", Group: "group-3", Priority: 3},
		{Major: true},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	const ops = 1000
	b.ResetTimer()
	var samples []time.Duration
	for range b.N {
		for i := range ops {
			f := filters[i%len(filters)]
			f.Limit = 50
			if i%2 == 1 {
				f.After = FormatNumber(int64(1 + rng.IntN(n)))
			}
			t := time.Now()
			items, next, err := s.List(ctx, f)
			if err != nil {
				b.Fatal(err)
			}
			if next != "" {
				f.After = next
				if _, _, err := s.List(ctx, f); err != nil {
					b.Fatal(err)
				}
			}
			samples = append(samples, time.Since(t))
			_ = items
		}
	}
	b.StopTimer()
	percentiles(b, samples)
}

package reconcile_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"parc/cmdb"
	"parc/cmdb/reconcile"
	"parc/cmdb/store/badgerstore"
)

// benchReport is a full report of host i with about 800 packages from a
// shared pool of 2400, a few percent differing per host.
func benchReport(i int, seq uint64) *reconcile.Report {
	m := machine{agent: fmt.Sprintf("bench-%05d", i), host: fmt.Sprintf("host-%05d", i), vendor: "Dell Inc.",
		serial: fmt.Sprintf("SN%07d", i), uuid: fmt.Sprintf("4c4c4544-0000-0000-0000-%012d", i), mid: fmt.Sprintf("%032x", i+1),
		macs: []string{fmt.Sprintf("00:16:3e:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff)}, ip: fmt.Sprintf("10.3.%d.%d", i/250, i%250+1), seq: seq}
	r := m.report()
	r.Sections[reconcile.SecSoftware] = true
	for k := range 800 {
		p := k
		if k%40 == i%40 {
			p = 800 + (i*31+k)%1600 // this host's own few percent
		}
		r.Inventory.Software = append(r.Inventory.Software, reconcile.Package{Name: fmt.Sprintf("package-%04d", p),
			Version: fmt.Sprintf("1.%d.%d-1", p%7, p%13), Arch: "amd64", Publisher: "Debian", Source: "dpkg", InstallDate: 1_700_000_000})
	}
	return r
}

// BenchmarkApplyFull reports first-time full reports reconciled per
// second with 8 reports in flight, on a Badger store in a temp dir.
func BenchmarkApplyFull(b *testing.B) {
	// PARC_BENCH_SYNC=1 fsyncs every commit, as the collector does.
	st, err := badgerstore.Open(b.TempDir(), badgerstore.Options{SyncWrites: os.Getenv("PARC_BENCH_SYNC") == "1"})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	e := reconcile.New(st, reconcile.Config{NoGroupCommit: os.Getenv("PARC_BENCH_NOGROUP") == "1"})
	n := max(b.N, 500)
	reports := make([]*reconcile.Report, n)
	for i := range n {
		reports[i] = benchReport(i, 1)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if _, err := e.Apply(context.Background(), reports[i], t0); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "reports/s")
}

// BenchmarkApplyDelta reports small delta reports (memory or filesystem
// sections, as most deltas are) applied per second, 64 in flight.
func BenchmarkApplyDelta(b *testing.B) {
	st, err := badgerstore.Open(b.TempDir(), badgerstore.Options{SyncWrites: os.Getenv("PARC_BENCH_SYNC") == "1"})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	e := reconcile.New(st, reconcile.Config{NoGroupCommit: os.Getenv("PARC_BENCH_NOGROUP") == "1"})
	const hosts = 200
	for i := range hosts {
		if _, err := e.Apply(context.Background(), benchReport(i, 1), t0); err != nil {
			b.Fatal(err)
		}
	}
	n := max(b.N, 5000)
	seqs := make([]atomic.Uint64, hosts)
	for i := range seqs {
		seqs[i].Store(1)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1) - 1)
				if k >= n {
					return
				}
				h := k % hosts
				r := &reconcile.Report{AgentID: fmt.Sprintf("bench-%05d", h), BootID: "boot-1", Seq: seqs[h].Add(1), Kind: reconcile.Delta,
					CollectedAt: t0.Add(time.Duration(k) * time.Millisecond), Sections: map[string]bool{reconcile.SecFilesystems: true},
					Inventory: reconcile.Inventory{Filesystems: []reconcile.Filesystem{{Device: "/dev/sda1", MountPoint: "/", SizeBytes: 1 << 40, UsedBytes: uint64(k) << 20}}}}
				if _, err := e.Apply(context.Background(), r, t0.Add(time.Duration(k)*time.Millisecond)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "reports/s")
}

// BenchmarkTitleIndex reports hosts folded into the software title index
// per second: 300 hosts' first reports are applied, then the indexer
// catches up from the feed.
func BenchmarkTitleIndex(b *testing.B) {
	st, err := badgerstore.Open(b.TempDir(), badgerstore.Options{SyncWrites: os.Getenv("PARC_BENCH_SYNC") == "1"})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	e := reconcile.New(st, reconcile.Config{})
	const hosts = 300
	for i := range hosts {
		if _, err := e.Apply(context.Background(), benchReport(i, 1), t0); err != nil {
			b.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	want, _ := st.Rev(ctx)
	b.ResetTimer()
	start := time.Now()
	x := cmdb.NewTitleIndexer(st, nil)
	go x.Run(ctx)
	for x.Done() < want {
		time.Sleep(5 * time.Millisecond)
	}
	b.ReportMetric(hosts/time.Since(start).Seconds(), "hosts/s")
}

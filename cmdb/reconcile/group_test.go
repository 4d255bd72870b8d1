package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"parc/cmdb"
	"parc/cmdb/reconcile"
	"parc/cmdb/store"
	"parc/cmdb/store/teststore"
)

// TestGroupCommit applies many concurrent reports: they share commits,
// each gets its own result, and a report that fails takes no other down.
func TestGroupCommit(t *testing.T) {
	st := teststore.Open(t)
	errPoison := errors.New("poisoned report")
	e := reconcile.New(st, reconcile.Config{OnApplied: func(_ *cmdb.Tx, r *reconcile.Report, _ *reconcile.Result) error {
		if r.AgentID == "g-07" && r.Seq == 2 {
			return errPoison
		}
		return nil
	}})
	const n = 40
	hosts := make([]string, n)
	for i := range n {
		m := machine{agent: fmt.Sprintf("g-%02d", i), host: fmt.Sprintf("g-%02d", i), mid: fmt.Sprintf("%032x", 0xabc00+i)}
		hosts[i] = apply(t, e, m.report(), t0).HostID
	}
	var wg sync.WaitGroup
	results := make([]reconcile.Result, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &reconcile.Report{AgentID: fmt.Sprintf("g-%02d", i), BootID: "boot-1", Seq: 2, Kind: reconcile.Delta,
				CollectedAt: t0.Add(time.Hour), Sections: map[string]bool{reconcile.SecMemory: true},
				Inventory: reconcile.Inventory{Memory: reconcile.Memory{TotalBytes: uint64(i+1) << 30}}}
			results[i], errs[i] = e.Apply(context.Background(), r, t0.Add(time.Hour))
		}()
	}
	wg.Wait()
	revs := map[int64]int{}
	g := cmdb.NewGraph(st)
	for i := range n {
		if i == 7 {
			if !errors.Is(errs[i], errPoison) {
				t.Errorf("poisoned report: err = %v", errs[i])
			}
			continue
		}
		if errs[i] != nil {
			t.Fatalf("report %d: %v", i, errs[i])
		}
		if results[i].HostID != hosts[i] || results[i].Changed != 1 {
			t.Errorf("report %d: %+v", i, results[i])
		}
		revs[results[i].Rev]++
		ci, _ := g.CI(context.Background(), hosts[i])
		if got := cmdb.Canon(ci.Attr("memory_bytes")); got != int64(i+1)<<30 {
			t.Errorf("host %d memory = %v", i, got)
		}
	}
	rec, err := reconcile.LoadAgent(context.Background(), st, "g-07")
	if err != nil || rec.Seq != 1 {
		t.Errorf("the failed report moved its agent to seq %d (%v)", rec.Seq, err)
	}
	t.Logf("%d reports in %d commits", n-1, len(revs))
}

// TestGroupCommitFullReports applies concurrent first-time full reports of
// 800 packages: on a store with wide transactions (Badger) several share a
// commit, and every host comes out whole either way.
func TestGroupCommitFullReports(t *testing.T) {
	st := teststore.Open(t)
	var slow sync.Once
	e := reconcile.New(st, reconcile.Config{OnApplied: func(*cmdb.Tx, *reconcile.Report, *reconcile.Result) error {
		slow.Do(func() { time.Sleep(50 * time.Millisecond) }) // let the others queue
		return nil
	}})
	const n = 24
	var wg sync.WaitGroup
	results := make([]reconcile.Result, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = e.Apply(context.Background(), benchReport(1000+i, 1), t0)
		}()
	}
	wg.Wait()
	revs := map[int64]int{}
	biggest := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("report %d: %v", i, errs[i])
		}
		if !results[i].Created || results[i].Writes < 20 {
			t.Errorf("report %d: %+v", i, results[i])
		}
		revs[results[i].Rev]++
		biggest = max(biggest, revs[results[i].Rev])
		sw, err := cmdb.NewGraph(st).Software(context.Background(), results[i].HostID)
		if err != nil || len(sw.Items) != 800 {
			t.Fatalf("host %d software: %d items, %v", i, len(sw.Items), err)
		}
	}
	if store.LimitsOf(st).Ops > store.MaxTxnOps && biggest < 2 {
		t.Errorf("%d full reports took %d commits: none shared one", n, len(revs))
	}
	t.Logf("%d full reports in %d commits (largest %d)", n, len(revs), biggest)
}

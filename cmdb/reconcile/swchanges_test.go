package reconcile_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"parc/cmdb"
	"parc/cmdb/reconcile"
	"parc/cmdb/store/teststore"
)

// TestSoftwareChanges: package changes apply on top of the list the
// collector holds, and only there; otherwise the rest of the delta applies
// and the agent is asked for a full report.
func TestSoftwareChanges(t *testing.T) {
	st := teststore.Open(t)
	e := reconcile.New(st, reconcile.Config{})
	ctx := context.Background()
	full := benchReport(1, 1)
	full.SoftwareHash = "hash-1"
	host := apply(t, e, full, t0).HostID
	versionOf := func(name string) string {
		t.Helper()
		rec, err := cmdb.NewGraph(st).Software(ctx, host)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range rec.Items {
			if it.Name == name {
				return it.Version
			}
		}
		return ""
	}
	delta := func(seq uint64, hash, base string, set, removed []reconcile.Package) *reconcile.Report {
		return &reconcile.Report{AgentID: "bench-00001", BootID: "boot-1", Seq: seq, Kind: reconcile.Delta,
			CollectedAt: t0.Add(time.Duration(seq) * time.Minute), Sections: map[string]bool{reconcile.SecMemory: true},
			Inventory:    reconcile.Inventory{Memory: reconcile.Memory{TotalBytes: seq << 30}},
			SoftwareHash: hash, SoftwareChanges: &reconcile.SoftwareChanges{Base: base, Set: set, Removed: removed}}
	}
	upgrade := []reconcile.Package{{Name: "package-0002", Version: "9.9", Arch: "amd64", Publisher: "Debian", Source: "dpkg"},
		{Name: "zz-new", Version: "1", Arch: "amd64", Source: "dpkg"}}
	gone := []reconcile.Package{{Name: "package-0003", Arch: "amd64", Source: "dpkg"}}

	res := apply(t, e, delta(2, "hash-2", "hash-1", upgrade, gone), t0.Add(time.Minute))
	if res.Resync || res.Changed == 0 {
		t.Fatalf("patch on its base: %+v", res)
	}
	if versionOf("package-0002") != "9.9" || versionOf("zz-new") != "1" || versionOf("package-0003") != "" {
		t.Fatal("the patch is not in the host's record")
	}
	if r := apply(t, e, delta(2, "hash-2", "hash-1", upgrade, gone), t0.Add(time.Minute)); !r.Replayed {
		t.Fatalf("replayed patch: %+v", r)
	}

	// A base this collector does not hold (a report lost in between):
	// the memory applies, the packages do not, and a full report is due.
	res = apply(t, e, delta(3, "hash-4", "hash-3", []reconcile.Package{{Name: "package-0004", Version: "0.0", Source: "dpkg", Arch: "amd64"}}, nil), t0.Add(2*time.Minute))
	if !res.Resync {
		t.Fatalf("patch on an unknown base: %+v", res)
	}
	if versionOf("package-0004") == "0.0" {
		t.Fatal("a patch on an unknown base was applied")
	}
	ci, _ := cmdb.NewGraph(st).CI(ctx, host)
	if got := cmdb.Canon(ci.Attr("memory_bytes")); got != int64(3)<<30 {
		t.Errorf("memory = %v: the rest of the delta did not apply", got)
	}
	// Until then no patch applies, even one naming the agent's last hash.
	if res := apply(t, e, delta(4, "hash-5", "hash-4", upgrade, nil), t0.Add(3*time.Minute)); !res.Resync {
		t.Fatalf("patch before the full report: %+v", res)
	}
	full = benchReport(1, 5)
	full.SoftwareHash = "hash-6"
	apply(t, e, full, t0.Add(4*time.Minute))
	if versionOf("package-0002") == "9.9" {
		t.Fatal("the full report did not restate the software")
	}
	if res := apply(t, e, delta(6, "hash-7", "hash-6", upgrade, nil), t0.Add(5*time.Minute)); res.Resync || versionOf("package-0002") != "9.9" {
		t.Fatalf("patch after the full report: %+v", res)
	}
}

func TestSoftwareChangesBadInput(t *testing.T) {
	st := teststore.Open(t)
	e := reconcile.New(st, reconcile.Config{})
	full := benchReport(2, 1)
	full.SoftwareHash = "h1"
	apply(t, e, full, t0)
	p := reconcile.Package{Name: "a", Version: "1"}
	for name, mutate := range map[string]func(r *reconcile.Report){
		"in a full report": func(r *reconcile.Report) { r.Kind = reconcile.Full; r.Sections[reconcile.SecSystem] = true },
		"with the section": func(r *reconcile.Report) {
			r.Sections[reconcile.SecSoftware] = true
		},
		"without a base":    func(r *reconcile.Report) { r.SoftwareChanges.Base = "" },
		"without a result":  func(r *reconcile.Report) { r.SoftwareHash = "" },
		"a package twice":   func(r *reconcile.Report) { r.SoftwareChanges.Set = []reconcile.Package{p, p} },
		"set and removed":   func(r *reconcile.Report) { r.SoftwareChanges.Removed = []reconcile.Package{p} },
		"a package unnamed": func(r *reconcile.Report) { r.SoftwareChanges.Set = []reconcile.Package{{Name: " "}} },
		"a base too long":   func(r *reconcile.Report) { r.SoftwareChanges.Base = strings.Repeat("x", 200) },
	} {
		r := &reconcile.Report{AgentID: "bench-00002", BootID: "boot-1", Seq: 2, Kind: reconcile.Delta, CollectedAt: t0.Add(time.Minute),
			Sections: map[string]bool{}, SoftwareHash: "h2", SoftwareChanges: &reconcile.SoftwareChanges{Base: "h1", Set: []reconcile.Package{p}}}
		r.Inventory.System.Hostname = "host-00002"
		mutate(r)
		if _, err := e.Apply(context.Background(), r, t0.Add(time.Minute)); !errors.Is(err, reconcile.ErrBadReport) {
			t.Errorf("%s: err = %v, want ErrBadReport", name, err)
		}
	}
	if rec, err := reconcile.LoadAgent(context.Background(), st, "bench-00002"); err != nil || rec.Seq != 1 {
		t.Errorf("refused reports moved the agent to seq %d (%v)", rec.Seq, err)
	}
}

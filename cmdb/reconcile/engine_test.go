package reconcile_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"parc/cmdb"
	"parc/cmdb/reconcile"
	"parc/cmdb/store"
	"parc/cmdb/store/teststore"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// fixture returns a full report of a small machine with n packages.
func fixture(agent, host string, n int) *reconcile.Report {
	r := &reconcile.Report{
		AgentID: agent, BootID: "boot-1", Seq: 1, Kind: reconcile.Full, CollectedAt: t0,
		Sections: map[string]bool{},
		Inventory: reconcile.Inventory{
			System: reconcile.System{Hostname: host, FQDN: host + ".example.net", OSName: "debian", OSVersion: "12",
				Kernel: "6.1.0", Arch: "x86_64", MachineID: "mid-" + host, VirtualizationRole: "guest", VirtType: "kvm"},
			Firmware: reconcile.Firmware{Vendor: "QEMU", Serial: "To be filled by O.E.M.", UUID: "00000000-0000-0000-0000-000000000000"},
			CPU:      reconcile.CPU{Model: "Xeon", Cores: 2, Thread: 2, Sockets: 1},
			Memory:   reconcile.Memory{TotalBytes: 24 << 30},
			Disks:    []reconcile.Disk{{Name: "vda", SizeBytes: 250 << 30, Type: "virtio"}},
			NICs: []reconcile.NIC{
				{Name: "eth0", MAC: fmt.Sprintf("52:54:00:00:00:%02x", len(host)), Addresses: []string{"10.0.0.5/24"}},
				{Name: "docker0", MAC: "02:42:ac:11:00:01", Virtual: true},
			},
		},
	}
	for _, s := range []string{reconcile.SecSystem, reconcile.SecFirmware, reconcile.SecCPU, reconcile.SecMemory, reconcile.SecDisks, reconcile.SecNICs, reconcile.SecSoftware} {
		r.Sections[s] = true
	}
	for i := range n {
		r.Inventory.Software = append(r.Inventory.Software, reconcile.Package{Name: fmt.Sprintf("pkg%03d", i), Version: "1.0", Arch: "amd64", Source: "dpkg"})
	}
	return r
}

func apply(t *testing.T, e *reconcile.Engine, r *reconcile.Report, at time.Time) reconcile.Result {
	t.Helper()
	res, err := e.Apply(context.Background(), r, at)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return res
}

// changedKeys returns the keys written after rev.
func changedKeys(t *testing.T, st store.Store, rev int64) []string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now, _ := st.Rev(ctx)
	if now == rev {
		return nil
	}
	ch, err := st.Watch(ctx, nil, rev)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for ev := range ch {
		if ev.Err != nil {
			t.Fatal(ev.Err)
		}
		keys = append(keys, string(ev.Key))
		if ev.Rev >= now && ev.Last {
			break
		}
	}
	return keys
}

func TestFirstReportBuildsGraph(t *testing.T) {
	st := teststore.Open(t)
	e := reconcile.New(st, reconcile.Config{})
	res := apply(t, e, fixture("agent-a", "web-01", 50), t0)
	if !res.Created || res.HostID == "" {
		t.Fatalf("result = %+v, want a created host", res)
	}
	g := cmdb.NewGraph(st)
	host, err := g.Resolve(context.Background(), "web-01")
	if err != nil {
		t.Fatal(err)
	}
	if host.Class != cmdb.ClassComputer || host.Subclass != "virtual_machine" || host.State != "use" {
		t.Errorf("host = %s/%s state %s", host.Class, host.Subclass, host.State)
	}
	if got := host.AttrString("serial"); got != "" {
		t.Errorf("junk serial stored as %q", got)
	}
	if got := host.Identifiers["machine_id"]; len(got) != 1 || got[0] != "mid-web-01" {
		t.Errorf("machine_id identifier = %v", got)
	}
	edges, err := g.Edges(context.Background(), host.ID)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, ed := range edges {
		count[ed.Type+"/"+ed.Direction]++
		if ed.Type == cmdb.RelInstalledOn && ed.Attrs["version"] != "1.0" {
			t.Errorf("installed_on without version: %+v", ed)
		}
	}
	// cpu, vda and eth0 (docker0 is virtual)
	if count["contains/out"] != 3 || count["installed_on/in"] != 50 {
		t.Errorf("edges = %v, want 3 contains and 50 installed_on", count)
	}
	h, err := g.History(context.Background(), host.ID, cmdb.HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(h) == 0 || h[0].Kind != cmdb.HistCreated || h[0].Actor != "agent:agent-a" {
		t.Errorf("history starts with %+v", h)
	}
}

func TestIdenticalRepeatChangesNothing(t *testing.T) {
	st := teststore.Open(t)
	e := reconcile.New(st, reconcile.Config{})
	g := cmdb.NewGraph(st)
	first := apply(t, e, fixture("agent-a", "web-01", 20), t0)
	before, _ := g.History(context.Background(), first.HostID, cmdb.HistoryOptions{})
	rev, _ := st.Rev(context.Background())

	again := fixture("agent-a", "web-01", 20)
	again.Seq, again.CollectedAt = 2, t0.Add(time.Hour)
	res := apply(t, e, again, t0.Add(time.Hour))
	if res.Changed != 0 || res.HostID != first.HostID {
		t.Fatalf("repeat: %+v", res)
	}
	keys := changedKeys(t, st, rev)
	if len(keys) != 1 || keys[0] != string(reconcile.AgentKey("agent-a")) {
		t.Errorf("identical repeat wrote %v, want only the agent's sequence record", keys)
	}
	after, _ := g.History(context.Background(), first.HostID, cmdb.HistoryOptions{})
	if len(after) != len(before) {
		t.Errorf("history grew from %d to %d", len(before), len(after))
	}
}

func TestReplayedSequenceWritesNothing(t *testing.T) {
	st := teststore.Open(t)
	e := reconcile.New(st, reconcile.Config{})
	apply(t, e, fixture("agent-a", "web-01", 5), t0)
	rev, _ := st.Rev(context.Background())
	changed := fixture("agent-a", "web-01-renamed", 7) // same seq: a replay, whatever it says
	res := apply(t, e, changed, t0.Add(time.Minute))
	if !res.Replayed {
		t.Errorf("replay not recognised: %+v", res)
	}
	if now, _ := st.Rev(context.Background()); now != rev {
		t.Errorf("replay moved the store from rev %d to %d", rev, now)
	}
}

func TestChangedAttributeAddsOneHistoryEntry(t *testing.T) {
	st := teststore.Open(t)
	e := reconcile.New(st, reconcile.Config{})
	g := cmdb.NewGraph(st)
	first := apply(t, e, fixture("agent-a", "web-01", 5), t0)
	before, _ := g.History(context.Background(), first.HostID, cmdb.HistoryOptions{})

	r := fixture("agent-a", "web-01", 5)
	r.Seq, r.Inventory.System.Kernel = 2, "6.1.99"
	apply(t, e, r, t0.Add(time.Hour))
	after, _ := g.History(context.Background(), first.HostID, cmdb.HistoryOptions{})
	if len(after) != len(before)+1 {
		t.Fatalf("history %d → %d entries, want one more", len(before), len(after))
	}
	last := after[len(after)-1]
	if len(last.Changes) != 1 || last.Changes[0].Field != "attrs.kernel" || last.Changes[0].Before != "6.1.0" || last.Changes[0].After != "6.1.99" {
		t.Errorf("last entry = %+v", last)
	}
	if !last.At.Equal(t0.Add(time.Hour)) || last.Actor != "agent:agent-a" {
		t.Errorf("entry stamped %v by %s", last.At, last.Actor)
	}
}

func TestSoftwareChangeIsInHistory(t *testing.T) {
	st := teststore.Open(t)
	e := reconcile.New(st, reconcile.Config{})
	g := cmdb.NewGraph(st)
	first := apply(t, e, fixture("agent-a", "web-01", 3), t0)
	r := fixture("agent-a", "web-01", 3)
	r.Seq, r.Kind = 2, reconcile.Delta
	r.Sections = map[string]bool{reconcile.SecSoftware: true}
	r.Inventory.Software[1].Version = "2.0"
	apply(t, e, r, t0.Add(time.Hour))
	h, _ := g.History(context.Background(), first.HostID, cmdb.HistoryOptions{Reverse: true, Limit: 1})
	if len(h) != 1 || len(h[0].Changes) != 1 || h[0].Changes[0].Field != "software:pkg001:amd64" || h[0].Changes[0].After != "2.0" {
		t.Errorf("software change entry = %+v", h)
	}
	host, _ := g.CI(context.Background(), first.HostID)
	if host.AttrString("hostname") != "web-01" {
		t.Errorf("delta without a system section dropped host attributes: %v", host.Attrs)
	}
}

func TestTwoHostsShareTitles(t *testing.T) {
	st := teststore.Open(t)
	e := reconcile.New(st, reconcile.Config{})
	g := cmdb.NewGraph(st)
	a := apply(t, e, fixture("agent-a", "web-01", 30), t0)
	b := apply(t, e, fixture("agent-b", "web-02", 30), t0)
	if a.HostID == b.HostID {
		t.Fatal("two machines merged into one host")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	x := cmdb.NewTitleIndexer(st, nil)
	go x.Run(ctx)
	want, _ := st.Rev(ctx)
	deadline := time.Now().Add(20 * time.Second)
	for x.Done() < want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	titles, _, err := g.List(ctx, cmdb.ListOptions{Class: cmdb.ClassSoftware, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(titles) != 30 {
		t.Fatalf("%d title CIs, want 30 shared by both hosts", len(titles))
	}
	edges, err := g.Edges(ctx, titles[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	hosts := map[string]bool{}
	for _, ed := range edges {
		if ed.Type == cmdb.RelInstalledOn {
			hosts[ed.Other] = true
		}
	}
	if !hosts[a.HostID] || !hosts[b.HostID] || len(hosts) != 2 {
		t.Errorf("title %s installed on %v, want both hosts", titles[0].Name, hosts)
	}
}

func TestBadReportsAreRejectedAndWriteNothing(t *testing.T) {
	st := teststore.Open(t)
	e := reconcile.New(st, reconcile.Config{})
	cases := map[string]func(r *reconcile.Report){
		"no agent id":         func(r *reconcile.Report) { r.AgentID = "" },
		"agent id with /":     func(r *reconcile.Report) { r.AgentID = "a/b" },
		"sequence zero":       func(r *reconcile.Report) { r.Seq = 0 },
		"no boot id":          func(r *reconcile.Report) { r.BootID = "" },
		"unknown kind":        func(r *reconcile.Report) { r.Kind = 9 },
		"full without system": func(r *reconcile.Report) { delete(r.Sections, reconcile.SecSystem) },
		"empty hostname":      func(r *reconcile.Report) { r.Inventory.System.Hostname = " " },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			r := fixture("agent-a", "web-01", 2)
			mutate(r)
			rev, _ := st.Rev(context.Background())
			if _, err := e.Apply(context.Background(), r, t0); err == nil {
				t.Fatal("accepted")
			}
			if now, _ := st.Rev(context.Background()); now != rev {
				t.Error("a rejected report wrote to the store")
			}
		})
	}
}

// TestDeltasKeepTheHostWhole: deltas that read only the host's head (no
// host sections) leave its attributes alone, add disks through it, and
// revive it when it went stale, with every attribute kept.
func TestDeltasKeepTheHostWhole(t *testing.T) {
	st := teststore.Open(t)
	e := reconcile.New(st, reconcile.Config{})
	g := cmdb.NewGraph(st)
	ctx := context.Background()
	host := apply(t, e, fixture("a1", "db-1", 3), t0).HostID
	// An asset manager sets the owner by hand.
	if _, err := st.Update(ctx, func(stx store.Txn) error {
		tx := cmdb.NewTx(ctx, stx, "user:alice", t0)
		old, err := tx.CI(host)
		if err != nil {
			return err
		}
		next := *old
		next.Attrs = map[string]cmdb.Attr{}
		for k, v := range old.Attrs {
			next.Attrs[k] = v
		}
		reconcile.SetAttr(reconcile.DefaultPrecedence(), &next, "owner", "alice", cmdb.SourceManual, t0)
		_, err = tx.PutCI(old, &next)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	before, _ := g.CI(ctx, host)
	delta := func(seq uint64, at time.Time, sections ...string) reconcile.Result {
		r := fixture("a1", "db-1", 3)
		r.Seq, r.Kind, r.CollectedAt, r.Sections = seq, reconcile.Delta, at, map[string]bool{}
		for _, s := range sections {
			r.Sections[s] = true
		}
		r.Inventory.Disks = append(r.Inventory.Disks, reconcile.Disk{Name: "vdb", SizeBytes: 10 << 30, Type: "virtio"})
		r.Inventory.Filesystems = []reconcile.Filesystem{{Device: "/dev/vda1", MountPoint: "/", SizeBytes: 200 << 30, UsedBytes: seq << 30}}
		return apply(t, e, r, at)
	}
	delta(2, t0.Add(time.Minute), reconcile.SecFilesystems)
	delta(3, t0.Add(2*time.Minute), reconcile.SecDisks)
	after, _ := g.CI(ctx, host)
	if len(after.Attrs) != len(before.Attrs) || after.Attrs["owner"].Value != "alice" || after.Attrs["os_name"].Value != "debian" {
		t.Errorf("host attributes after deltas: %v, before %v", after.Attrs, before.Attrs)
	}
	edges, err := g.Edges(ctx, host)
	if err != nil {
		t.Fatal(err)
	}
	contains := 0
	for _, ed := range edges {
		if ed.Direction == "out" && ed.Type == cmdb.RelContains {
			contains++
		}
	}
	if contains != 4 { // cpu, vda, vdb, eth0
		t.Errorf("host contains %d components, want 4", contains)
	}
	if _, err := reconcile.NewSweeper(st, nil).Sweep(ctx, t0.Add(8*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if ci, _ := g.CI(ctx, host); !ci.Flags[reconcile.FlagStale] {
		t.Fatalf("host not stale after 8 quiet days: %v", ci.Flags)
	}
	if res := delta(4, t0.Add(9*24*time.Hour), reconcile.SecFilesystems); !res.Revived {
		t.Errorf("a delta did not revive the stale host: %+v", res)
	}
	revived, _ := g.CI(ctx, host)
	if len(revived.Flags) != 0 || revived.Attrs["owner"].Value != "alice" || len(revived.Attrs) != len(before.Attrs) {
		t.Errorf("revived host: flags %v, attributes %v", revived.Flags, revived.Attrs)
	}
}

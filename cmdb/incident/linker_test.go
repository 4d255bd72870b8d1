package incident

import (
	"context"
	"testing"
	"time"

	"parc/cmdb"
	"parc/cmdb/reconcile"
	"parc/cmdb/store"
)

func putEvent(t *testing.T, st store.Store, rec reconcile.EventRecord) {
	t.Helper()
	v, err := cmdb.Encode(rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Update(context.Background(), func(tx store.Txn) error {
		return tx.Put(reconcile.EventKey(rec.Host, rec.Kind, rec.Subject), v)
	}); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds (the linker runs on the change feed).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLinkerFollowsHealthEvents(t *testing.T) {
	f := newFixture(t)
	s := New(f.st)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := NewLinker(s, nil, func() time.Time { return t0 })
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()

	open := func(ci string) []string {
		n, err := OpenOnCI(context.Background(), f.st, ci)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	ev := reconcile.EventRecord{Host: f.srv, Kind: reconcile.EventFilesystemFull, Subject: "/var", Message: "97% used", At: t0, Count: 1}
	putEvent(t, f.st, ev)
	waitFor(t, "an incident on srv-01", func() bool { return len(open(f.srv)) == 1 })
	num := open(f.srv)[0]
	in, _ := s.Get(context.Background(), num)
	if in.Category != "hardware" || in.Priority != 2 || in.Impact != 1 || in.Auto == nil || in.OpenedBy != LinkerActor {
		t.Errorf("auto incident: %+v", in)
	}

	// Repeats and a second subject go to the same incident.
	ev.Count = 2
	putEvent(t, f.st, ev)
	putEvent(t, f.st, reconcile.EventRecord{Host: f.srv, Kind: reconcile.EventFilesystemFull, Subject: "/home", At: t0, Count: 1})
	// Another kind on the same CI opens its own incident.
	putEvent(t, f.st, reconcile.EventRecord{Host: f.srv, Kind: reconcile.EventServiceFailed, Subject: "nginx", At: t0, Count: 1})
	waitFor(t, "two incidents on srv-01", func() bool { return len(open(f.srv)) == 2 })
	waitFor(t, "repeats on the first", func() bool {
		in, _ := s.Get(context.Background(), num)
		return in.Auto.Repeats == 2 && len(in.Auto.Failing) == 2
	})

	// /var recovers: still open (/home fails); /home recovers: auto-resolved.
	putEvent(t, f.st, reconcile.EventRecord{Host: f.srv, Kind: reconcile.EventFilesystemFull, Subject: "/var", OK: true, At: t0})
	putEvent(t, f.st, reconcile.EventRecord{Host: f.srv, Kind: reconcile.EventFilesystemFull, Subject: "/home", OK: true, At: t0})
	waitFor(t, "auto-resolve", func() bool {
		in, _ := s.Get(context.Background(), num)
		return in.Status == StatusResolved
	})
	if got := open(f.srv); len(got) != 1 {
		t.Errorf("open after recovery = %v, want the service incident", got)
	}
	// A new failure after resolution opens a new incident.
	putEvent(t, f.st, reconcile.EventRecord{Host: f.srv, Kind: reconcile.EventFilesystemFull, Subject: "/var", At: t0, Count: 1})
	waitFor(t, "a fresh incident", func() bool { return len(open(f.srv)) == 2 })

	// Disk failure does not auto-resolve.
	putEvent(t, f.st, reconcile.EventRecord{Host: f.ws, Kind: reconcile.EventDiskFailure, Subject: "sda", At: t0, Count: 1})
	putEvent(t, f.st, reconcile.EventRecord{Host: f.ws, Kind: reconcile.EventDiskFailure, Subject: "sda", OK: true, At: t0})
	waitFor(t, "disk recovery noted", func() bool {
		n := open(f.ws)
		if len(n) != 1 {
			return false
		}
		in, _ := s.Get(context.Background(), n[0])
		return len(in.Auto.Failing) == 0
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Restarting from the stored position repeats nothing.
	items, _, _ := s.List(context.Background(), Filter{Limit: 100})
	before := len(items)
	rev, _ := f.st.Rev(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { done <- NewLinker(s, nil, nil).Run(ctx2) }()
	putEvent(t, f.st, reconcile.EventRecord{Host: f.ws, Kind: reconcile.EventHostStale, At: t0, Count: 1})
	waitFor(t, "stale incident", func() bool {
		items, _, _ := s.List(context.Background(), Filter{Limit: 100})
		return len(items) == before+1
	})
	cancel2()
	<-done
	if p, _ := l.progress(context.Background()); p.rev <= rev {
		t.Errorf("progress %v not past %d", p, rev)
	}

	// Resync after compaction changes nothing for conditions already handled.
	if err := l.Resync(context.Background()); err != nil {
		t.Fatal(err)
	}
	items, _, _ = s.List(context.Background(), Filter{Limit: 100})
	if len(items) != before+1 {
		t.Errorf("resync created incidents: %d, want %d", len(items), before+1)
	}
}

// TestLinkerWithIngest goes through the real reconcile engine: a report
// carrying a failed service opens an incident on the reported host, a
// repeat extends it, and the recovery resolves it.
func TestLinkerWithIngest(t *testing.T) {
	st := newFixture(t).st
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := reconcile.New(st, reconcile.Config{})
	s := New(st)
	go func() { _ = NewLinker(s, nil, func() time.Time { return t0 }).Run(ctx) }()
	report := func(seq uint64, ok bool) reconcile.Result {
		r := &reconcile.Report{AgentID: "agent-mail", BootID: "b1", Seq: seq, Kind: reconcile.Full, CollectedAt: t0.Add(time.Duration(seq) * time.Minute),
			Sections:  map[string]bool{reconcile.SecSystem: true},
			Inventory: reconcile.Inventory{System: reconcile.System{Hostname: "mail-02", MachineID: "mid-mail-02"}},
			Events:    []reconcile.HealthEvent{{Kind: reconcile.EventServiceFailed, Subject: "postfix.service", OK: ok, Message: "exit 1"}}}
		res, err := e.Apply(context.Background(), r, t0.Add(time.Duration(seq)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := report(1, false)
	waitFor(t, "incident from ingest", func() bool {
		n, _ := OpenOnCI(context.Background(), st, res.HostID)
		return len(n) == 1
	})
	report(2, false)
	n, _ := OpenOnCI(context.Background(), st, res.HostID)
	waitFor(t, "repeat on the timeline", func() bool {
		in, _ := s.Get(context.Background(), n[0])
		return in.Auto.Repeats == 1
	})
	report(3, true)
	waitFor(t, "auto-resolve", func() bool {
		in, _ := s.Get(context.Background(), n[0])
		return in.Status == StatusResolved && in.ShortDescription == "Service failed on mail-02: postfix.service"
	})
}

package change_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"parc/cmdb"
	"parc/cmdb/change"
	"parc/cmdb/store"
)

// follower runs the discovery follower of w until the test ends.
func (w *world) follower() {
	w.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.svc.Follow(ctx) }()
	w.t.Cleanup(func() { cancel(); <-done })
}

// eventually polls cond until it holds (the follower is asynchronous).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// caughtUp waits until the follower has handled every revision so far.
func (w *world) caughtUp() {
	w.t.Helper()
	rev, err := w.st.Rev(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	eventually(w.t, "follower to catch up", func() bool { return w.svc.FollowedRev() >= rev })
}

func software(items ...string) cmdb.SoftwareRecord {
	var rec cmdb.SoftwareRecord
	for i := 0; i+1 < len(items); i += 2 {
		rec.Items = append(rec.Items, cmdb.Installed{Name: items[i], Title: cmdb.NormalizeTitle(items[i]), Version: items[i+1]})
	}
	return rec
}

func (w *world) setSoftware(host string, rec cmdb.SoftwareRecord) {
	w.t.Helper()
	w.update("agent:a1", func(tx *cmdb.Tx) error { _, err := tx.PutSoftware(w.id(host), rec); return err })
}

func (w *world) setAttr(name, attr string, v any) {
	w.t.Helper()
	w.update("agent:a1", func(tx *cmdb.Tx) error {
		old, err := tx.CI(w.id(name))
		if err != nil {
			return err
		}
		next := *old
		next.Attrs = map[string]cmdb.Attr{}
		for k, a := range old.Attrs {
			next.Attrs[k] = a
		}
		next.Attrs[attr] = cmdb.Attr{Value: v, Source: cmdb.SourceAgent}
		_, err = tx.PutCI(old, &next)
		return err
	})
}

func TestVerificationByDiscovery(t *testing.T) {
	w := newWorld(t, change.Config{Now: func() time.Time { return t0.Add(90 * time.Minute) }})
	w.setSoftware("web-01", software("openssl", "3.0.2-0ubuntu1.15", "nginx", "1.18.0"))
	w.setAttr("web-01", "os_version", "22.04")
	w.follower()
	c := w.create("rita", change.Input{CIs: []string{"web-01"}, Window: window(1), Risk: change.RiskLow,
		Expect: []change.Expectation{
			{CI: "web-01", Software: "openssl", MinVersion: "3.0.13"},
			{CI: "web-01", Software: "telnetd", Absent: true},
			{CI: "web-01", Attr: "os_version", Value: "24.04"},
		}})
	must := func(c *change.Change, err error) *change.Change {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	must(w.svc.Submit(w.ctx, c.Number, "rita", t0))
	must(w.svc.Decide(w.ctx, c.Number, "mike", true, "", t0))
	must(w.svc.Decide(w.ctx, c.Number, "alice", true, "shop owner agrees", t0))
	must(w.svc.Schedule(w.ctx, c.Number, "mike", change.Window{}, t0))
	c = must(w.svc.Implement(w.ctx, c.Number, "ivan", t0.Add(time.Hour)))
	if len(c.Verify) != 1 || c.Verify[0].Status != change.VerifyPending {
		t.Fatalf("verification after implement %+v", c.Verify)
	}
	status := func() string {
		c, err := w.svc.Get(w.ctx, c.Number)
		if err != nil || len(c.Verify) == 0 {
			return ""
		}
		return c.Verify[0].Status
	}
	// Half done: openssl upgraded, OS not yet.
	w.setSoftware("web-01", software("openssl", "3.0.13-0ubuntu3.1", "nginx", "1.18.0"))
	eventually(t, "not verified", func() bool { return status() == change.VerifyNotVerified })
	w.setAttr("web-01", "os_version", "24.04")
	eventually(t, "verified", func() bool { return status() == change.VerifyVerified })
	c = must(w.svc.Get(w.ctx, c.Number))
	if want := []string{"openssl 3.0.13-0ubuntu3.1 ≥ 3.0.13", "telnetd absent", "os_version = 24.04"}; !slices.Equal(c.Verify[0].Detail, want) {
		t.Fatalf("detail %q, want %q", c.Verify[0].Detail, want)
	}
	// A regression is seen too.
	w.setSoftware("web-01", software("openssl", "3.0.13-0ubuntu3.1", "nginx", "1.18.0", "telnetd", "0.17"))
	eventually(t, "not verified again", func() bool { return status() == change.VerifyNotVerified })
	if got := w.auditActions("change/" + c.Number); !slices.Contains(got, "change.verify") {
		t.Fatalf("verification not audited: %v", got)
	}
	// After the review, the report carries the verification.
	must(w.svc.Review(w.ctx, c.Number, "ivan", change.OutcomePartial, "telnetd came back", t0.Add(2*time.Hour)))
	rep, err := w.svc.ReviewReport(w.ctx, c.Number, t0.Add(5*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verified || len(rep.Verify) != 1 || rep.Outcome != change.OutcomePartial {
		t.Fatalf("review report %+v", rep)
	}
}

func TestDriftOnChangeControlledCIs(t *testing.T) {
	var mu sync.Mutex
	now := t0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	setNow := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	var opened []string
	cfg := change.Config{Now: clock, OpenIncident: func(_ context.Context, d *change.Drift, actor string, at time.Time) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		opened = append(opened, d.CI+":"+d.Kind)
		return "INC-000042", nil
	}}
	w := newWorld(t, cfg)
	w.setSoftware("web-01", software("nginx", "1.18.0"))
	w.setSoftware("db-01", software("postgresql", "14.1"))
	if _, err := w.svc.SetControl(w.ctx, "admin", "web-01", true, true, "PCI scope", t0); err != nil {
		t.Fatal(err)
	}
	w.setAttr("db-01", "change_controlled", true)
	w.follower()

	drifts := func() []string {
		ds, err := w.svc.Drifts(w.ctx, change.DriftOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range ds {
			out = append(out, d.CIName+":"+d.Kind)
		}
		slices.Sort(out)
		return out
	}
	// Uncovered software upgrade on a controlled CI: drift, with an incident.
	w.setSoftware("web-01", software("nginx", "1.24.0"))
	eventually(t, "drift on web-01", func() bool { return len(drifts()) == 1 })
	w.caughtUp()
	ds, _ := w.svc.Drifts(w.ctx, change.DriftOptions{})
	if ds[0].Kind != change.DriftSoftwareUpgraded || ds[0].Incident != "INC-000042" || ds[0].Changes[0].Field != "software:nginx" {
		t.Fatalf("drift %+v", ds[0])
	}
	// Software added on a CI controlled by attribute; no incident asked.
	w.setSoftware("db-01", software("postgresql", "14.1", "netcat", "1.10"))
	eventually(t, "drift on db-01", func() bool { return len(drifts()) == 2 })
	// Hardware change (more memory) and a removed disk.
	w.setAttr("web-01", "memory_bytes", int64(64<<30))
	w.update("agent:a1", func(tx *cmdb.Tx) error {
		return tx.DeleteRel(w.id("web-01"), cmdb.RelContains, w.id("web-01 disk sda"))
	})
	eventually(t, "hardware drifts", func() bool { return len(drifts()) == 4 })
	want := []string{"db-01:software_added", "web-01:hardware_changed", "web-01:hardware_changed", "web-01:software_changed"}
	if got := drifts(); !slices.Equal(got, want) {
		t.Fatalf("drifts %v, want %v", got, want)
	}
	w.caughtUp()
	mu.Lock()
	got := slices.Clone(opened)
	mu.Unlock()
	if !slices.Equal(got, []string{w.id("web-01") + ":software_changed", w.id("web-01") + ":hardware_changed", w.id("web-01") + ":hardware_changed"}) {
		t.Fatalf("incidents opened for %v", got)
	}

	// Uncontrolled CI: nothing.
	w.setSoftware("lonely", software("vim", "9.0"))
	w.setSoftware("lonely", software("vim", "9.1"))

	// A change implementing on web-01 in its window covers the upgrade.
	c := w.create("rita", change.Input{Type: change.Emergency, CIs: []string{"web-01"}, Window: window(1)})
	for _, step := range []func() (*change.Change, error){
		func() (*change.Change, error) { return w.svc.Submit(w.ctx, c.Number, "rita", t0) },
		func() (*change.Change, error) { return w.svc.Decide(w.ctx, c.Number, "mike", true, "", t0) },
		func() (*change.Change, error) { return w.svc.Implement(w.ctx, c.Number, "ivan", t0.Add(time.Hour)) },
	} {
		if _, err := step(); err != nil {
			t.Fatal(err)
		}
	}
	setNow(t0.Add(70 * time.Minute))
	w.setSoftware("web-01", software("nginx", "1.26.0"))
	w.caughtUp()
	if got := drifts(); len(got) != 4 {
		t.Fatalf("a change in its window did not cover the upgrade: %v", got)
	}
	// Outside the window and after the change was reviewed: drift again.
	if _, err := w.svc.Review(w.ctx, c.Number, "ivan", change.OutcomeSuccessful, "", t0.Add(80*time.Minute)); err != nil {
		t.Fatal(err)
	}
	setNow(t0.Add(10 * time.Hour))
	w.setSoftware("web-01", software("nginx", "1.27.0"))
	eventually(t, "drift after the window", func() bool { return len(drifts()) == 5 })
	ds, _ = w.svc.Drifts(w.ctx, change.DriftOptions{CI: w.id("web-01")})
	if len(ds) != 4 || ds[0].Changes[0].After != "1.27.0" {
		t.Fatalf("newest drift on web-01 %+v", ds[0])
	}
	// Resolving takes it off the open list.
	if _, err := w.svc.ResolveDrift(w.ctx, ds[0].ID, "mike", "covered by CHG-000001 late", t0); err != nil {
		t.Fatal(err)
	}
	if got := drifts(); len(got) != 4 {
		t.Fatalf("open drifts after resolve %v", got)
	}
	if all, _ := w.svc.Drifts(w.ctx, change.DriftOptions{All: true}); len(all) != 5 {
		t.Fatalf("all drifts %d", len(all))
	}
}

// conflictOnce is the real store, except that in its first Update the key
// fn read first is rewritten by another transaction before the commit: the
// commit conflicts for real, and Update runs fn again.
type conflictOnce struct {
	store.Store
	runs int
}

// firstRead notes the first key read through it.
type firstRead struct {
	store.Txn
	key []byte
}

func (f *firstRead) Get(ctx context.Context, key []byte) ([]byte, error) {
	if f.key == nil {
		f.key = slices.Clone(key)
	}
	return f.Txn.Get(ctx, key)
}

func (c *conflictOnce) Update(ctx context.Context, fn func(store.Txn) error) (int64, error) {
	return c.Store.Update(ctx, func(tx store.Txn) error {
		c.runs++
		rd := &firstRead{Txn: tx}
		if err := fn(rd); err != nil || c.runs > 1 || rd.key == nil {
			return err
		}
		v, err := c.Store.Get(ctx, rd.key)
		if err != nil {
			return err
		}
		_, err = c.Store.Update(ctx, func(o store.Txn) error { return o.Put(rd.key, v) })
		return err
	})
}

// TestResolveDriftRetries resolves a drift through a commit that conflicts
// once: the retry must start from the stored drift, not from the first
// attempt's (which had it resolved already and failed the retry).
func TestResolveDriftRetries(t *testing.T) {
	w := newWorld(t, change.Config{Now: func() time.Time { return t0 }})
	w.setSoftware("web-01", software("nginx", "1.18.0"))
	if _, err := w.svc.SetControl(w.ctx, "admin", "web-01", true, false, "PCI scope", t0); err != nil {
		t.Fatal(err)
	}
	w.follower()
	w.setSoftware("web-01", software("nginx", "1.24.0"))
	var ds []change.Drift
	eventually(t, "a drift on web-01", func() bool {
		var err error
		ds, err = w.svc.Drifts(w.ctx, change.DriftOptions{})
		return err == nil && len(ds) == 1
	})
	st := &conflictOnce{Store: w.st}
	d, err := change.New(cmdb.NewGraph(st), change.Config{}).ResolveDrift(w.ctx, ds[0].ID, "mike", "covered late", t0)
	if err != nil {
		t.Fatalf("resolve through a conflict: %v", err)
	}
	if st.runs != 2 || d.ResolvedBy != "mike" {
		t.Fatalf("%d attempts, resolved by %q; want 2 attempts, mike", st.runs, d.ResolvedBy)
	}
	if open, _ := w.svc.Drifts(w.ctx, change.DriftOptions{}); len(open) != 0 {
		t.Fatalf("open drifts after resolving: %v", open)
	}
}

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

func event(t *testing.T, st store.Store, host, kind, subject string) *reconcile.EventRecord {
	t.Helper()
	v, err := st.Get(context.Background(), reconcile.EventKey(host, kind, subject))
	if err != nil {
		return nil
	}
	var ev reconcile.EventRecord
	if err := cmdb.Decode(v, &ev); err != nil {
		t.Fatal(err)
	}
	return &ev
}

func TestStalenessSweep(t *testing.T) {
	st := teststore.Open(t)
	e := reconcile.New(st, reconcile.Config{})
	g := cmdb.NewGraph(st)
	m := machine{agent: "a1", host: "pc", mid: "88888888222233334444555566667777"}
	host := apply(t, e, m.report(), t0).HostID
	other := apply(t, e, machine{agent: "a2", host: "fresh", mid: "99999999222233334444555566667777"}.report(), t0.Add(6*24*time.Hour)).HostID
	sw := reconcile.NewSweeper(st, nil)
	ctx := context.Background()

	steps := []struct {
		name                    string
		at                      time.Duration
		wantStale, wantProposed bool
		wantEventOK             *bool
	}{
		{"fresh host untouched", 6 * 24 * time.Hour, false, false, nil},
		{"stale after 7 days", 8 * 24 * time.Hour, true, false, ptr(false)},
		{"sweeping again changes nothing", 9 * 24 * time.Hour, true, false, ptr(false)},
		{"retirement proposed after 30 days", 31 * 24 * time.Hour, true, true, ptr(false)},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if _, err := sw.Sweep(ctx, t0.Add(s.at)); err != nil {
				t.Fatal(err)
			}
			ci, err := g.CI(ctx, host)
			if err != nil {
				t.Fatalf("host gone: %v", err)
			}
			if ci.Flags[reconcile.FlagStale] != s.wantStale || ci.Flags[reconcile.FlagRetirementProposed] != s.wantProposed {
				t.Errorf("flags = %v", ci.Flags)
			}
			ev := event(t, st, host, reconcile.EventHostStale, "agent")
			switch {
			case s.wantEventOK == nil && ev != nil:
				t.Errorf("unexpected event %+v", ev)
			case s.wantEventOK != nil && (ev == nil || ev.OK != *s.wantEventOK):
				t.Errorf("event = %+v, want OK=%v", ev, *s.wantEventOK)
			}
		})
	}
	if ci, _ := g.CI(ctx, other); ci.Flags[reconcile.FlagRetirementProposed] || !ci.Flags[reconcile.FlagStale] {
		t.Errorf("host last seen 25 days before the last sweep: flags %v, want stale only", ci.Flags)
	}
	h, _ := g.History(ctx, host, cmdb.HistoryOptions{})
	last := h[len(h)-1]
	if last.Actor != "system:stale-sweeper" || len(last.Changes) != 1 || last.Changes[0].Field != "flags.retirement_proposed" {
		t.Errorf("last history entry = %+v", last)
	}

	// The host reports again (a heartbeat): flags cleared, condition OK.
	hb := m.report()
	hb.Seq, hb.Kind, hb.Sections, hb.CollectedAt = 2, reconcile.Heartbeat, nil, t0.Add(32*24*time.Hour)
	res := apply(t, e, hb, t0.Add(32*24*time.Hour))
	if !res.Revived {
		t.Errorf("heartbeat did not revive: %+v", res)
	}
	ci, _ := g.CI(ctx, host)
	if len(ci.Flags) != 0 {
		t.Errorf("flags after report = %v", ci.Flags)
	}
	if ev := event(t, st, host, reconcile.EventHostStale, "agent"); ev == nil || !ev.OK {
		t.Errorf("host_stale event after report = %+v, want OK", ev)
	}
}

func ptr[T any](v T) *T { return &v }

// TestDependencySightings: a connection seen again within SightingEvery
// is counted in the client's sockets record, not written to the
// relationship; the count reaches the relationship once the interval has
// passed, or when a sockets report no longer shows the connection. With a
// negative SightingEvery every sighting is written.
func TestDependencySightings(t *testing.T) {
	for _, every := range []time.Duration{0, -1} {
		t.Run(fmt.Sprint("every=", every), func(t *testing.T) {
			st := teststore.Open(t)
			e := reconcile.New(st, reconcile.Config{SightingEvery: every})
			ctx := context.Background()
			db := machine{agent: "db", host: "db-01", mid: "d0000000000000000000000000000001", ip: "10.1.0.20", macs: []string{"00:1f:00:00:00:20"},
				listen: []reconcile.Socket{{Protocol: "tcp", LocalIP: "0.0.0.0", LocalPort: 5432, Process: "postgres"}}}
			toDB := reconcile.Socket{Protocol: "tcp", LocalIP: "10.1.0.21", LocalPort: 51000, RemoteIP: "10.1.0.20", RemotePort: 5432, Process: "gunicorn"}
			web := machine{agent: "web", host: "web-01", mid: "d0000000000000000000000000000002", ip: "10.1.0.21", macs: []string{"00:1f:00:00:00:21"},
				connections: []reconcile.Socket{toDB}}
			dbID := apply(t, e, db.report(), t0).HostID
			webID := ""
			svcID := reconcile.ServiceID(dbID, "tcp", 5432)
			dep := func() cmdb.Relationship {
				t.Helper()
				var rel cmdb.Relationship
				err := st.View(ctx, func(r store.Reader) error {
					v, err := r.Get(ctx, []byte("ro/"+webID+"/"+cmdb.RelDependsOn+"/"+svcID))
					if err != nil {
						return err
					}
					return cmdb.Decode(v, &rel)
				})
				if err != nil {
					t.Fatal(err)
				}
				return rel
			}
			report := func(at time.Duration, conns ...reconcile.Socket) {
				t.Helper()
				web.seq++
				web.connections = append([]reconcile.Socket{}, conns...) // a sockets section even when empty
				webID = apply(t, e, web.report(), t0.Add(at)).HostID
			}
			report(time.Minute, toDB)
			report(10*time.Minute, toDB)
			report(20*time.Minute, toDB)
			rel := dep()
			if every < 0 {
				if rel.Observations != 3 || !rel.LastSeen.Equal(t0.Add(20*time.Minute)) {
					t.Fatalf("every sighting written: %+v", rel)
				}
				return
			}
			if rel.Observations != 1 || !rel.LastSeen.Equal(t0.Add(time.Minute)) {
				t.Fatalf("sightings within the interval were written: %+v", rel)
			}
			report(61*time.Minute+time.Second, toDB) // the interval has passed: all four
			if rel = dep(); rel.Observations != 4 || !rel.LastSeen.Equal(t0.Add(61*time.Minute+time.Second)) {
				t.Fatalf("after the interval: %+v, want 4 observations", rel)
			}
			report(70*time.Minute, toDB)
			report(80 * time.Minute) // the connection is gone: its last sighting is written
			if rel = dep(); rel.Observations != 5 || !rel.LastSeen.Equal(t0.Add(70*time.Minute)) {
				t.Fatalf("after the connection went: %+v, want 5 observations, last seen at 70m", rel)
			}
			report(90 * time.Minute)
			if rel = dep(); rel.Observations != 5 {
				t.Fatalf("a report without the connection counted it: %+v", rel)
			}
		})
	}
}

func TestDependencyMapping(t *testing.T) {
	st := teststore.Open(t)
	e := reconcile.New(st, reconcile.Config{})
	g := cmdb.NewGraph(st)
	ctx := context.Background()
	db := machine{agent: "db", host: "db-01", mid: "d0000000000000000000000000000001", ip: "10.1.0.20", macs: []string{"00:1f:00:00:00:20"},
		listen: []reconcile.Socket{{Protocol: "tcp", LocalIP: "0.0.0.0", LocalPort: 5432, Process: "postgres"},
			{Protocol: "tcp", LocalIP: "127.0.0.1", LocalPort: 6379, Process: "redis"}},
		connections: []reconcile.Socket{{Protocol: "tcp", LocalIP: "10.1.0.20", LocalPort: 40000, RemoteIP: "10.1.0.21", RemotePort: 8080, Process: "postgres"}}}
	web := machine{agent: "web", host: "web-01", mid: "d0000000000000000000000000000002", ip: "10.1.0.21", macs: []string{"00:1f:00:00:00:21"},
		listen: []reconcile.Socket{{Protocol: "tcp", LocalIP: "::", LocalPort: 8080, Process: "gunicorn"}},
		connections: []reconcile.Socket{
			{Protocol: "tcp", LocalIP: "10.1.0.21", LocalPort: 51000, RemoteIP: "10.1.0.20", RemotePort: 5432, Process: "gunicorn"},
			{Protocol: "tcp", LocalIP: "10.1.0.21", LocalPort: 51001, RemoteIP: "10.1.0.20", RemotePort: 5432, Process: "gunicorn"},
			{Protocol: "tcp", LocalIP: "127.0.0.1", LocalPort: 51002, RemoteIP: "127.0.0.1", RemotePort: 6379, Process: "gunicorn"},
			{Protocol: "tcp", LocalIP: "10.1.0.21", LocalPort: 51003, RemoteIP: "10.9.9.9", RemotePort: 443, Process: "curl"},
		}}

	// db reports first and connects to web, which is not known yet.
	dbID := apply(t, e, db.report(), t0).HostID
	webID := apply(t, e, web.report(), t0.Add(time.Minute)).HostID
	svcID := reconcile.ServiceID(dbID, "tcp", 5432)

	svc, err := g.CI(ctx, svcID)
	if err != nil {
		t.Fatalf("no service CI for postgres: %v", err)
	}
	if svc.Class != cmdb.ClassService || svc.Name != "postgres on db-01:5432" {
		t.Errorf("service = %s %q", svc.Class, svc.Name)
	}
	rels := func(from, typ string) []cmdb.Relationship {
		t.Helper()
		var out []cmdb.Relationship
		err := st.View(ctx, func(r store.Reader) error {
			kvs, err := r.Scan(ctx, store.Range{Prefix: []byte("ro/" + from + "/" + typ + "/")})
			for _, kv := range kvs {
				var rel cmdb.Relationship
				if err := cmdb.Decode(kv.Value, &rel); err != nil {
					return err
				}
				out = append(out, rel)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if r := rels(svcID, cmdb.RelRunsOn); len(r) != 1 || r[0].To != dbID {
		t.Errorf("service runs_on = %+v", r)
	}
	dep := rels(webID, cmdb.RelDependsOn)
	if len(dep) != 1 || dep[0].To != svcID || dep[0].Observations != 1 || dep[0].Attrs["client_process"] != "gunicorn" {
		t.Fatalf("web depends_on = %+v", dep)
	}
	// db's connection to web:8080 was reported before web listened: it
	// maps on db's next sockets report.
	if r := rels(dbID, cmdb.RelDependsOn); len(r) != 0 {
		t.Errorf("db depends_on before web was known: %+v", r)
	}
	db.seq = 2
	apply(t, e, db.report(), t0.Add(2*time.Minute))
	if r := rels(dbID, cmdb.RelDependsOn); len(r) != 1 || r[0].To != reconcile.ServiceID(webID, "tcp", 8080) {
		t.Errorf("db depends_on = %+v", r)
	}

	// Seen again, past SightingEvery: count and last-seen move, history
	// does not.
	hist, _ := g.History(ctx, webID, cmdb.HistoryOptions{})
	web.seq = 2
	apply(t, e, web.report(), t0.Add(2*time.Hour))
	dep = rels(webID, cmdb.RelDependsOn)
	if dep[0].Observations != 2 || !dep[0].LastSeen.Equal(t0.Add(2*time.Hour)) || !dep[0].FirstSeen.Equal(t0.Add(time.Minute)) {
		t.Errorf("after a second sighting: %+v", dep[0])
	}
	if h2, _ := g.History(ctx, webID, cmdb.HistoryOptions{}); len(h2) != len(hist) {
		t.Errorf("a mere sighting added history: %d → %d", len(hist), len(h2))
	}

	// Impact: a failure of db-01 reaches the service and web-01.
	imp, err := g.Impact(ctx, []string{dbID}, cmdb.ImpactOptions{Direction: cmdb.Downstream, Types: []string{cmdb.RelRunsOn, cmdb.RelDependsOn}})
	if err != nil {
		t.Fatal(err)
	}
	reached := map[string]bool{}
	for _, n := range imp.Nodes {
		reached[n.ID] = true
	}
	if !reached[svcID] || !reached[webID] {
		t.Errorf("impact of db-01 = %+v", imp.Nodes)
	}

	// Not observed for longer than the max age: removed, with history.
	ager := reconcile.NewDependencyAger(st, nil)
	if n, err := ager.Age(ctx, t0.Add(24*time.Hour)); err != nil || n != 0 {
		t.Fatalf("early ageing removed %d (%v)", n, err)
	}
	n, err := ager.Age(ctx, t0.Add(8*24*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("ageing removed %d (%v), want 2", n, err)
	}
	if r := rels(webID, cmdb.RelDependsOn); len(r) != 0 {
		t.Errorf("depends_on survived ageing: %+v", r)
	}
	h, _ := g.History(ctx, webID, cmdb.HistoryOptions{Reverse: true, Limit: 1})
	if len(h) != 1 || h[0].Kind != cmdb.HistRelRemoved || h[0].Actor != "system:dependency-ager" {
		t.Errorf("last history of web = %+v", h)
	}
}

func TestDependencyMappingStaysUnderTheWriteLimit(t *testing.T) {
	st := teststore.Open(t)
	e := reconcile.New(st, reconcile.Config{})
	ctx := context.Background()
	// 60 servers each listening on one port, then one client talking to
	// all of them in its first report.
	for i := range 60 {
		m := machine{agent: fmt.Sprintf("s%02d", i), host: fmt.Sprintf("srv-%02d", i), mid: fmt.Sprintf("e%031d", i),
			ip: fmt.Sprintf("10.2.0.%d", i+1), macs: []string{fmt.Sprintf("00:1f:00:00:02:%02x", i)}, listen: []reconcile.Socket{{Protocol: "tcp", LocalIP: "0.0.0.0", LocalPort: 9000, Process: "app"}}}
		apply(t, e, m.report(), t0)
	}
	c := machine{agent: "client", host: "client", mid: "f0000000000000000000000000000001", macs: []string{"00:1f:00:00:01:00"}}
	for i := range 60 {
		c.connections = append(c.connections, reconcile.Socket{Protocol: "tcp", LocalIP: "10.1.0.9", LocalPort: uint32(50000 + i),
			RemoteIP: fmt.Sprintf("10.2.0.%d", i+1), RemotePort: 9000, Process: "worker"})
	}
	r := c.report()
	res := apply(t, e, r, t0.Add(time.Minute))
	if res.Writes > store.MaxTxnOps {
		t.Fatalf("first report wrote %d keys, over the limit", res.Writes)
	}
	count := func() int {
		kvs, err := st.Scan(ctx, store.Range{Prefix: []byte("ro/" + res.HostID + "/depends_on/")})
		if err != nil {
			t.Fatal(err)
		}
		return len(kvs)
	}
	if n := count(); n == 0 || n > 20 {
		t.Errorf("first report made %d dependencies, want 1..20", n)
	}
	// Heartbeats carry the rest over.
	for seq := uint64(2); seq < 10 && count() < 60; seq++ {
		hb := &reconcile.Report{AgentID: "client", BootID: "boot-1", Seq: seq, Kind: reconcile.Heartbeat, CollectedAt: t0.Add(time.Duration(seq) * time.Minute)}
		res := apply(t, e, hb, t0.Add(time.Duration(seq)*time.Minute))
		if res.Writes > store.MaxTxnOps {
			t.Fatalf("heartbeat %d wrote %d keys", seq, res.Writes)
		}
	}
	if n := count(); n != 60 {
		t.Errorf("%d dependencies after the heartbeats, want 60", n)
	}
}

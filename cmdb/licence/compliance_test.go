package licence_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"parc/cmdb"
	"parc/cmdb/licence"
	"parc/cmdb/store"
	"parc/cmdb/store/teststore"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func newService(t testing.TB, st store.Store) *licence.Service {
	t.Helper()
	n, err := licence.DefaultNormalizer("")
	if err != nil {
		t.Fatal(err)
	}
	return licence.NewService(st, n)
}

func mustCreate(t testing.TB, s *licence.Service, id string, in licence.Input) {
	t.Helper()
	if _, err := s.Create(context.Background(), in, "user:test", t0, id); err != nil {
		t.Fatalf("create %s: %v", id, err)
	}
}

// putHost writes a host CI and its software record.
func putHost(t testing.TB, st store.Store, id, name string, cores int64, owner string, items ...cmdb.Installed) {
	t.Helper()
	_, err := st.Update(context.Background(), func(stx store.Txn) error {
		tx := cmdb.NewTx(context.Background(), stx, "test", t0)
		old, err := tx.CI(id)
		if err != nil {
			old = nil
		}
		ci := &cmdb.CI{ID: id, Class: cmdb.ClassComputer, Name: name, State: "use",
			Attrs: map[string]cmdb.Attr{"cpu_cores": {Value: cores, Source: "agent"}}}
		if owner != "" {
			ci.Attrs["owner"] = cmdb.Attr{Value: owner, Source: "manual"}
		}
		if _, err := tx.PutCI(old, ci); err != nil {
			return err
		}
		_, err = tx.PutSoftware(id, cmdb.SoftwareRecord{Items: items})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func retireHost(t testing.TB, st store.Store, id string) {
	t.Helper()
	_, err := st.Update(context.Background(), func(stx store.Txn) error {
		tx := cmdb.NewTx(context.Background(), stx, "test", t0)
		old, err := tx.CI(id)
		if err != nil {
			return err
		}
		next := *old
		next.State = "retire"
		_, err = tx.PutCI(old, &next)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func pkg(title, version string) cmdb.Installed {
	return cmdb.Installed{Title: title, Name: title, Version: version, Publisher: "Acme Corp"}
}

func TestEntitlementValidation(t *testing.T) {
	st := teststore.Open(t)
	s := newService(t, st)
	tests := []struct {
		name string
		in   licence.Input
		ok   bool
	}{
		{"device", licence.Input{Name: "Office", Product: "Microsoft Office Professional Plus 2021", Metric: "device", Seats: 10}, true},
		{"site without seats", licence.Input{Name: "7z", Product: "7-Zip", Metric: "site"}, true},
		{"no name", licence.Input{Product: "x", Seats: 1}, false},
		{"no product", licence.Input{Name: "x", Seats: 1}, false},
		{"bad metric", licence.Input{Name: "x", Product: "x", Metric: "socket", Seats: 1}, false},
		{"no seats", licence.Input{Name: "x", Product: "x", Metric: "core"}, false},
		{"bad expiry", licence.Input{Name: "x", Product: "x", Seats: 1, Expiry: "31/12/2026"}, false},
		{"bad range", licence.Input{Name: "x", Product: "x", Seats: 1, Versions: ">="}, false},
		{"negative cost", licence.Input{Name: "x", Product: "x", Seats: 1, Cost: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Validate(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("Validate = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	ctx := context.Background()
	mustCreate(t, s, "01LIC00000000000000000000A", licence.Input{Name: "Office", Product: "Microsoft Office Professional Plus 2021", Metric: "device", Seats: 10})
	if _, err := s.Create(ctx, licence.Input{Name: "office", Product: "x", Seats: 1}, "u", t0, "01LIC00000000000000000000B"); err == nil {
		t.Error("duplicate name accepted")
	}
	e, err := licence.Get(ctx, st, "Office")
	if err != nil || e.Title != "microsoft office" {
		t.Fatalf("Get by name: %+v, %v", e, err)
	}
	ci, err := cmdb.NewGraph(st).CI(ctx, e.ID)
	if err != nil || ci.Class != cmdb.ClassLicence {
		t.Fatalf("licence CI: %+v, %v", ci, err)
	}
	if err := s.Delete(ctx, "Office", "u", t0); err != nil {
		t.Fatal(err)
	}
	if ci, _ := cmdb.NewGraph(st).CI(ctx, e.ID); ci == nil || ci.State != "retire" {
		t.Errorf("deleted licence CI should stay, retired: %+v", ci)
	}
}

func TestComplianceScenarios(t *testing.T) {
	type host struct {
		id, name, owner string
		cores           int64
		retired         bool
		items           []cmdb.Installed
	}
	tests := []struct {
		name  string
		ents  []licence.Input
		hosts []host
		// want per licence name: used, unused, over, status
		want       map[string][4]any
		unlicensed int
	}{
		{
			name: "device over-deployed",
			ents: []licence.Input{{Name: "W", Product: "widget", Metric: "device", Seats: 2}},
			hosts: []host{{id: "h1", name: "a", items: []cmdb.Installed{pkg("widget", "1")}},
				{id: "h2", name: "b", items: []cmdb.Installed{pkg("widget", "1")}},
				{id: "h3", name: "c", items: []cmdb.Installed{pkg("widget", "1")}}},
			want:       map[string][4]any{"W": {int64(2), int64(0), int64(1), "over_deployed"}},
			unlicensed: 1,
		},
		{
			name:       "device unused seats",
			ents:       []licence.Input{{Name: "W", Product: "widget", Metric: "device", Seats: 5}},
			hosts:      []host{{id: "h1", name: "a", items: []cmdb.Installed{pkg("widget", "1"), pkg("other", "1")}}},
			want:       map[string][4]any{"W": {int64(1), int64(4), int64(0), "compliant"}},
			unlicensed: 0,
		},
		{
			name: "per user counts a user once",
			ents: []licence.Input{{Name: "U", Product: "widget", Metric: "user", Seats: 1}},
			hosts: []host{{id: "h1", name: "a", owner: "ann", items: []cmdb.Installed{pkg("widget", "1")}},
				{id: "h2", name: "b", owner: "ann", items: []cmdb.Installed{pkg("widget", "1")}},
				{id: "h3", name: "c", owner: "bob", items: []cmdb.Installed{pkg("widget", "1")}}},
			want:       map[string][4]any{"U": {int64(1), int64(0), int64(1), "over_deployed"}},
			unlicensed: 1,
		},
		{
			name: "per core",
			ents: []licence.Input{{Name: "C", Product: "widget", Metric: "core", Seats: 10}},
			hosts: []host{{id: "h1", name: "a", cores: 8, items: []cmdb.Installed{pkg("widget", "1")}},
				{id: "h2", name: "b", cores: 4, items: []cmdb.Installed{pkg("widget", "1")}}},
			want:       map[string][4]any{"C": {int64(8), int64(2), int64(4), "over_deployed"}},
			unlicensed: 1,
		},
		{
			name: "site covers all",
			ents: []licence.Input{{Name: "S", Product: "widget", Metric: "site"}},
			hosts: []host{{id: "h1", name: "a", items: []cmdb.Installed{pkg("widget", "1")}},
				{id: "h2", name: "b", items: []cmdb.Installed{pkg("widget", "1")}}},
			want: map[string][4]any{"S": {int64(2), int64(0), int64(0), "compliant"}},
		},
		{
			name: "version range and pooling",
			ents: []licence.Input{{Name: "V1", Product: "widget", Versions: "1", Metric: "device", Seats: 1},
				{Name: "Vany", Product: "widget", Metric: "device", Seats: 1}},
			hosts: []host{{id: "h1", name: "a", items: []cmdb.Installed{pkg("widget", "1.5")}},
				{id: "h2", name: "b", items: []cmdb.Installed{pkg("widget", "1.2")}},
				{id: "h3", name: "c", items: []cmdb.Installed{pkg("widget", "2.0")}}},
			want: map[string][4]any{"V1": {int64(1), int64(0), int64(0), "compliant"},
				"Vany": {int64(1), int64(0), int64(1), "over_deployed"}},
			unlicensed: 1,
		},
		{
			name:       "expired",
			ents:       []licence.Input{{Name: "E", Product: "widget", Metric: "device", Seats: 3, Expiry: "2026-01-01"}},
			hosts:      []host{{id: "h1", name: "a", items: []cmdb.Installed{pkg("widget", "1")}}},
			want:       map[string][4]any{"E": {int64(0), int64(0), int64(0), "expired"}},
			unlicensed: 1,
		},
		{
			name: "retired hosts consume nothing",
			ents: []licence.Input{{Name: "W", Product: "widget", Metric: "device", Seats: 1}},
			hosts: []host{{id: "h1", name: "a", items: []cmdb.Installed{pkg("widget", "1")}},
				{id: "h2", name: "b", retired: true, items: []cmdb.Installed{pkg("widget", "1")}}},
			want: map[string][4]any{"W": {int64(1), int64(0), int64(0), "compliant"}},
		},
		{
			name:       "publisher must match",
			ents:       []licence.Input{{Name: "P", Product: "widget", Publisher: "Other Inc", Metric: "device", Seats: 3}},
			hosts:      []host{{id: "h1", name: "a", items: []cmdb.Installed{pkg("widget", "1")}}},
			want:       map[string][4]any{"P": {int64(0), int64(3), int64(0), "compliant"}},
			unlicensed: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := teststore.Open(t)
			s := newService(t, st)
			for i, in := range tt.ents {
				mustCreate(t, s, fmt.Sprintf("01LIC0000000000000000000%02d", i), in)
			}
			for _, h := range tt.hosts {
				putHost(t, st, h.id, h.name, h.cores, h.owner, h.items...)
				if h.retired {
					retireHost(t, st, h.id)
				}
			}
			rep, err := licence.Compute(context.Background(), st, t0, 0)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][4]any{}
			for _, l := range rep.Licences {
				got[l.Name] = [4]any{l.Used, l.Unused, l.OverDeployed, l.Status}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("licences = %v, want %v", got, tt.want)
			}
			if len(rep.Unlicensed) != tt.unlicensed || rep.Summary.Unlicensed != tt.unlicensed {
				t.Errorf("unlicensed = %+v (summary %d), want %d", rep.Unlicensed, rep.Summary.Unlicensed, tt.unlicensed)
			}
		})
	}
}

// TestIncrementalMatchesFull applies random host deltas through the feed
// path and checks the report equals a full computation after each.
func TestIncrementalMatchesFull(t *testing.T) {
	st := teststore.Open(t)
	ctx := context.Background()
	s := newService(t, st)
	mustCreate(t, s, "01LIC00000000000000000000A", licence.Input{Name: "A", Product: "alpha", Metric: "device", Seats: 5})
	mustCreate(t, s, "01LIC00000000000000000000B", licence.Input{Name: "B", Product: "beta", Versions: ">=2", Metric: "core", Seats: 16})
	mustCreate(t, s, "01LIC00000000000000000000C", licence.Input{Name: "C", Product: "gamma", Metric: "user", Seats: 2})
	rng := rand.New(rand.NewPCG(1, 2))
	titles := []string{"alpha", "beta", "gamma", "delta"}
	randomItems := func() []cmdb.Installed {
		var out []cmdb.Installed
		for _, ti := range titles {
			if rng.IntN(2) == 0 {
				out = append(out, pkg(ti, fmt.Sprintf("%d.0", 1+rng.IntN(3))))
			}
		}
		return out
	}
	rev, _ := st.Rev(ctx)
	c, err := licence.Full(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	feed, err := st.Watch(wctx, []byte(cmdb.PrefixSoftware), rev)
	if err != nil {
		t.Fatal(err)
	}
	for step := range 40 {
		h := fmt.Sprintf("h%d", rng.IntN(8))
		putHost(t, st, h, "name-"+h, int64(1+rng.IntN(8)), []string{"ann", "bob", "cy"}[rng.IntN(3)], randomItems()...)
		ev := <-feed
		if err := c.ApplyEvent(ctx, st, ev); err != nil {
			t.Fatal(err)
		}
		inc := c.Report(t0, 0)
		full, err := licence.Compute(ctx, st, t0, 0)
		if err != nil {
			t.Fatal(err)
		}
		full.Rev = 0
		if !reflect.DeepEqual(inc, full) {
			t.Fatalf("step %d: incremental report differs from full:\n inc %+v\nfull %+v", step, inc, full)
		}
	}
}

func TestFollowerStoresReport(t *testing.T) {
	for _, every := range []time.Duration{0, 20 * time.Millisecond} {
		t.Run(fmt.Sprint("flush every ", every), func(t *testing.T) { testFollower(t, every) })
	}
}

func testFollower(t *testing.T, every time.Duration) {
	st := teststore.Open(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := newService(t, st)
	mustCreate(t, s, "01LIC00000000000000000000A", licence.Input{Name: "A", Product: "alpha", Metric: "device", Seats: 1})
	f := licence.NewFollower(st, nil)
	f.Now = func() time.Time { return t0 }
	f.FlushEvery = every
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	putHost(t, st, "h1", "one", 1, "", pkg("alpha", "1"))
	putHost(t, st, "h2", "two", 1, "", pkg("alpha", "1"))
	waitReport(t, st, func(r *licence.Report) bool { return r.Summary.Unlicensed == 1 })
	// A new entitlement makes the follower recompute.
	mustCreate(t, s, "01LIC00000000000000000000B", licence.Input{Name: "B", Product: "alpha", Metric: "device", Seats: 1})
	waitReport(t, st, func(r *licence.Report) bool { return r.Summary.Licences == 2 && r.Summary.Unlicensed == 0 })
	putHost(t, st, "h2", "two", 1, "")
	waitReport(t, st, func(r *licence.Report) bool { return r.Summary.UnusedSeats == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func waitReport(t *testing.T, st store.Store, ok func(*licence.Report) bool) {
	t.Helper()
	var last *licence.Report
	for range 500 {
		if r, err := licence.LoadReport(context.Background(), st); err == nil {
			last = r
			if ok(r) {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("report never reached the expected state; last: %+v", last)
}

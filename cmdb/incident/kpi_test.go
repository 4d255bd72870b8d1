package incident

import (
	"math"
	"testing"
	"time"
)

// TestKPIs runs a fixture week through the service and checks every KPI
// against answers computed by hand (see the comments).
func TestKPIs(t *testing.T) {
	f := newFixture(t)
	s := New(f.st)
	ctx := f.ctx
	at := func(h float64) time.Time { return t0.Add(time.Duration(h * float64(time.Hour))) }
	must := func(in *Incident, err error) *Incident {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	create := func(h float64, cis []string, urgency int) *Incident {
		return must(s.Create(ctx, "ann", at(h), NewIncident{ShortDescription: "x", Category: "software", CIs: cis, Urgency: urgency}))
	}
	tr := func(who string, h float64, in *Incident, to string) {
		must(s.Transition(ctx, who, at(h), in.Number, Transition{To: to, Reason: "dup"}))
	}
	// A: P1 (srv-01, urgency 1); assigned to ann after 10m, resolved by ann at 2h.
	a := create(0, []string{"srv-01"}, 1)
	must(s.Assign(ctx, "ann", at(10.0/60), a.Number, "ann", ""))
	tr("ann", 20.0/60, a, StatusInProgress)
	tr("ann", 2, a, StatusResolved)
	// B: P4; assigned to bob 1.5h after, paused 3h→10h, resolved by bob at 30h.
	b := create(1, nil, 2)
	must(s.Assign(ctx, "ann", at(2.5), b.Number, "bob", ""))
	tr("bob", 3, b, StatusAwaitingInfo)
	tr("bob", 10, b, StatusInProgress)
	tr("bob", 30, b, StatusResolved)
	// C: P3 (ws-01, urgency 1); assigned 5h after (late), resolved 40h,
	// reopened 50h, resolved again 60h.
	c := create(2, []string{"ws-01"}, 1)
	must(s.Assign(ctx, "ann", at(7), c.Number, "carl", ""))
	tr("carl", 8, c, StatusInProgress)
	tr("carl", 40, c, StatusResolved)
	tr("ann", 50, c, StatusReopened)
	must(s.Assign(ctx, "ann", at(51), c.Number, "carl", "ops"))
	tr("carl", 52, c, StatusInProgress)
	tr("carl", 60, c, StatusResolved)
	// D: P5, never touched.
	d := create(3, nil, 3)
	// E: P2 (srv-01, urgency 2); assigned after 30m, rejected at 5h.
	e := create(4, []string{"srv-01"}, 2)
	must(s.Assign(ctx, "ann", at(4.5), e.Number, "dan", ""))
	tr("dan", 5, e, StatusRejected)
	// F: reported after the period.
	create(200, nil, 1)

	for _, x := range []struct {
		in   *Incident
		prio int
	}{{a, 1}, {b, 4}, {c, 3}, {d, 5}, {e, 2}} {
		if got, _ := s.Get(ctx, x.in.Number); got.Priority != x.prio {
			t.Fatalf("%s is P%d, fixture expects P%d", x.in.Number, got.Priority, x.prio)
		}
	}

	k, err := s.ComputeKPIs(ctx, t0, at(168))
	if err != nil {
		t.Fatal(err)
	}
	dur := func(d Duration) time.Duration { return time.Duration(d) }
	checks := []struct {
		name      string
		got, want float64
	}{
		{"opened (A-E)", float64(k.Opened), 5},
		{"assigned (A,B,C,E)", float64(k.Assigned), 4},
		// (10m + 90m + 300m + 30m) / 4 = 107.5m
		{"mean time to assign (min)", dur(k.MeanTimeToAssign).Minutes(), 107.5},
		{"resolved (A,B,C)", float64(k.Resolved), 3},
		// (2h + 29h + 58h) / 3 = 29h40m
		{"mean time to resolve (min)", dur(k.MeanTimeToResolve).Minutes(), 29*60 + 40},
		// only A: resolved by its opener, one assignment, no pause, no reopen
		{"first contact", k.FirstContactRate, 1.0 / 3},
		// C reopened, of A, B, C
		{"reopen", k.ReopenRate, 1.0 / 3},
		// A 2h ≤ 4h; B 29h-7h paused = 22h ≤ 72h; C 38h+10h = 48h > 24h
		{"SLA compliance", k.SLAComplianceRate, 2.0 / 3},
		// A 10m ≤ 15m, B 1.5h ≤ 8h, C 5h > 4h, D unanswered 165h > 24h, E 30m ≤ 1h
		{"responded population", float64(k.Responded), 5},
		{"first response", k.FirstResponseRate, 3.0 / 5},
		// at the end only D is open
		{"backlog P5", float64(k.Backlog["P5"]), 1},
		{"backlog total", float64(len(k.Backlog)), 1},
	}
	for _, ch := range checks {
		t.Run(ch.name, func(t *testing.T) {
			if math.Abs(ch.got-ch.want) > 1e-9 {
				t.Errorf("got %v, want %v", ch.got, ch.want)
			}
		})
	}
	// Backlog in the middle of the week: at 45h A, B resolved; C (resolved
	// at 40h), D open, E rejected → only D.
	k2, err := s.ComputeKPIs(ctx, t0, at(45))
	if err != nil {
		t.Fatal(err)
	}
	if k2.Backlog["P5"] != 1 || len(k2.Backlog) != 1 {
		t.Errorf("backlog at 45h = %v", k2.Backlog)
	}
	// At 55h C is reopened again.
	k3, _ := s.ComputeKPIs(ctx, t0, at(55))
	if k3.Backlog["P3"] != 1 || k3.Backlog["P5"] != 1 {
		t.Errorf("backlog at 55h = %v", k3.Backlog)
	}
}

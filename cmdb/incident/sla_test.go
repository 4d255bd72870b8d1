package incident

import (
	"testing"
	"time"
)

func TestSLAClock(t *testing.T) {
	h := func(n float64) time.Time { return t0.Add(time.Duration(n * float64(time.Hour))) }
	office := Calendar{Enabled: true, TZ: "UTC", Days: []int{1, 2, 3, 4, 5}, Start: "08:00", End: "18:00"}
	paused := []StatusChange{{h(0), StatusNew}, {h(1), StatusAwaitingInfo}, {h(5), StatusInProgress}}
	tests := []struct {
		name       string
		cal        Calendar
		log        []StatusChange
		reported   time.Time
		responded  time.Time
		at         time.Time
		priority   int
		wantRes    time.Duration
		wantResp   time.Duration
		wantBreach bool
		wantNear   bool
	}{
		// 24×7: 1h new + 4h paused + 25h in progress (Mon 14:00 → Tue 15:00).
		{"around the clock with a pause", Calendar{}, paused, h(0), h(1), h(30), 3, 26 * time.Hour, time.Hour, true, false},
		// Office hours: 1h Monday morning, paused 10-14, then 14-18 and Tuesday 08-15.
		{"office hours with a pause", office, paused, h(0), h(1), h(30), 3, 12 * time.Hour, time.Hour, false, false},
		// Friday 17:00 to Monday 09:00: one hour each side of the weekend.
		{"over a weekend", office, []StatusChange{{h(4*24 + 8), StatusNew}}, h(4*24 + 8), time.Time{}, h(7 * 24), 3, 2 * time.Hour, 2 * time.Hour, false, false},
		{"holiday counts nothing", Calendar{Enabled: true, Start: "08:00", End: "18:00", Holidays: []string{"2026-03-03"}},
			[]StatusChange{{h(0), StatusNew}}, h(0), time.Time{}, h(30), 3, 9 * time.Hour, 9 * time.Hour, false, false},
		// P3 resolution 24h: 20h elapsed is past 80%.
		{"near breach", Calendar{}, []StatusChange{{h(0), StatusNew}}, h(0), h(0.5), h(20), 3, 20 * time.Hour, 30 * time.Minute, false, true},
		{"resolved stops the clock", Calendar{}, []StatusChange{{h(0), StatusNew}, {h(2), StatusResolved}}, h(0), h(0.5), h(100), 3, 2 * time.Hour, 30 * time.Minute, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Calendar = tc.cal
			last := tc.log[len(tc.log)-1]
			in := &Incident{Priority: tc.priority, Reported: tc.reported, RespondedAt: tc.responded, StatusLog: tc.log, Status: last.Status}
			if last.Status == StatusResolved {
				in.ResolvedAt = last.At
			}
			st, err := SLA(in, cfg, tc.at)
			if err != nil {
				t.Fatal(err)
			}
			if time.Duration(st.ResolutionElapsed) != tc.wantRes || time.Duration(st.ResponseElapsed) != tc.wantResp {
				t.Errorf("elapsed resolution %v response %v, want %v %v", time.Duration(st.ResolutionElapsed), time.Duration(st.ResponseElapsed), tc.wantRes, tc.wantResp)
			}
			if st.ResolutionBreached != tc.wantBreach || st.NearBreach != tc.wantNear {
				t.Errorf("breached %v near %v, want %v %v", st.ResolutionBreached, st.NearBreach, tc.wantBreach, tc.wantNear)
			}
		})
	}
}

func TestSweepSLA(t *testing.T) {
	f := newFixture(t)
	s := New(f.st)
	// srv-01 with urgency 1 is P1: response 15m, resolution 4h.
	in, err := s.Create(f.ctx, "ann", t0, NewIncident{ShortDescription: "shop down", Category: "software", CIs: []string{"srv-01"}, Urgency: 1})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		at          time.Duration
		wantChanged int
		want        SLAFlags
	}{
		{5 * time.Minute, 0, SLAFlags{}},
		{13 * time.Minute, 1, SLAFlags{NearBreach: true}},
		{20 * time.Minute, 1, SLAFlags{ResponseBreached: true}},
		{21 * time.Minute, 0, SLAFlags{ResponseBreached: true}},
		{3*time.Hour + 30*time.Minute, 1, SLAFlags{ResponseBreached: true, NearBreach: true}},
		{5 * time.Hour, 1, SLAFlags{ResponseBreached: true, ResolutionBreached: true}},
	}
	for _, st := range steps {
		n, err := s.SweepSLA(f.ctx, t0.Add(st.at))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := s.Get(f.ctx, in.Number)
		if n != st.wantChanged || got.SLA.clean() != st.want {
			t.Errorf("at +%v: changed %d flags %+v, want %d %+v", st.at, n, got.SLA.clean(), st.wantChanged, st.want)
		}
	}
	items, _, err := s.List(f.ctx, Filter{Breached: true})
	if err != nil || len(items) != 1 {
		t.Errorf("breached list = %v, %v", items, err)
	}
}

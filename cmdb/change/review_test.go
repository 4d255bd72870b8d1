package change_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"parc/cmdb"
	"parc/cmdb/change"
	"parc/cmdb/store"
)

func TestReviewReportListsIncidentsDuringAndAfter(t *testing.T) {
	var incs []change.IncidentInfo
	w := newWorld(t, change.Config{Incidents: func(_ context.Context, _ store.Reader, ci string) ([]change.IncidentInfo, error) {
		return incs, nil
	}})
	c := w.create("rita", change.Input{Type: change.Emergency, CIs: []string{"web-01", "lonely"}, Window: window(1)})
	_, err := w.svc.LinkIncident(w.ctx, c.Number, "INC-000001", "sam", t0)
	wantErr(t, err, cmdb.ErrForbidden) // a draft changed nothing yet
	steps := []func() (*change.Change, error){
		func() (*change.Change, error) { return w.svc.Submit(w.ctx, c.Number, "rita", t0) },
		func() (*change.Change, error) { return w.svc.Decide(w.ctx, c.Number, "mike", true, "", t0) },
		func() (*change.Change, error) { return w.svc.Schedule(w.ctx, c.Number, "mike", change.Window{}, t0) },
		func() (*change.Change, error) { return w.svc.Implement(w.ctx, c.Number, "ivan", t0.Add(time.Hour)) },
		func() (*change.Change, error) {
			return w.svc.Review(w.ctx, c.Number, "ivan", change.OutcomeFailed, "", t0.Add(3*time.Hour+30*time.Minute))
		},
		func() (*change.Change, error) {
			return w.svc.LinkIncident(w.ctx, c.Number, "INC-000002", "sam", t0.Add(4*time.Hour))
		},
	}
	for i, s := range steps {
		if _, err := s(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	_, err = w.svc.LinkIncident(w.ctx, c.Number, "INC-000002", "sam", t0)
	wantErr(t, err, cmdb.ErrConflict)
	incs = []change.IncidentInfo{
		{Number: "INC-000001", Opened: t0.Add(-time.Hour)},                        // before
		{Number: "INC-000002", Opened: t0.Add(90 * time.Minute)},                  // during the window
		{Number: "INC-000003", Opened: t0.Add(3*time.Hour + 15*time.Minute)},      // during the overrun
		{Number: "INC-000004", Opened: t0.Add(5 * time.Hour), CausedBy: c.Number}, // after, linked by the incident
		{Number: "INC-000005", Opened: t0.Add(50 * time.Hour)},                    // after "now"
	}
	rep, err := w.svc.ReviewReport(w.ctx, c.Number, t0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	nums := func(in []change.IncidentInfo) []string {
		var out []string
		for _, x := range in {
			out = append(out, x.Number)
		}
		return out
	}
	if got := nums(rep.During); !slices.Equal(got, []string{"INC-000002", "INC-000003"}) {
		t.Errorf("during %v", got)
	}
	if got := nums(rep.After); !slices.Equal(got, []string{"INC-000004"}) {
		t.Errorf("after %v", got)
	}
	if !slices.Equal(rep.CausedBy, []string{"INC-000002", "INC-000004"}) {
		t.Errorf("caused by %v", rep.CausedBy)
	}
	if rep.Outcome != change.OutcomeFailed || rep.State != change.Review {
		t.Errorf("report %+v", rep)
	}
	if got := w.auditActions("change/" + c.Number); !slices.Contains(got, "change.link_incident") {
		t.Errorf("link not audited: %v", got)
	}
}

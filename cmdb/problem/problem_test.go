package problem

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"parc/cmdb"
	"parc/cmdb/incident"
	"parc/cmdb/store"
	"parc/cmdb/store/teststore"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func putCI(t *testing.T, st store.Store, name string, sw ...string) string {
	t.Helper()
	ci := &cmdb.CI{ID: cmdb.DerivedID("test", name), Class: cmdb.ClassComputer, Name: name, Identifiers: map[string][]string{"hostname": {name}}}
	_, err := st.Update(context.Background(), func(tx store.Txn) error {
		x := cmdb.NewTx(context.Background(), tx, "test", t0)
		if _, err := x.PutCI(nil, ci); err != nil {
			return err
		}
		var rec cmdb.SoftwareRecord
		for _, s := range sw {
			rec.Items = append(rec.Items, cmdb.Installed{Title: cmdb.NormalizeTitle(s), Name: s, Version: "1"})
		}
		_, err := x.PutSoftware(ci.ID, rec)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ci.ID
}

func TestProblemsAndKnownErrors(t *testing.T) {
	st := teststore.Open(t)
	ctx := context.Background()
	web := putCI(t, st, "web-01", "OpenSSL", "nginx")
	db := putCI(t, st, "db-01", "postgresql")
	putCI(t, st, "web-02", "OpenSSL")
	inc := incident.New(st)
	ps := New(st)
	mk := func(text string, cis ...string) *incident.Incident {
		in, err := inc.Create(ctx, "ann", t0, incident.NewIncident{ShortDescription: text, Category: "software", CIs: cis})
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	i1 := mk("TLS handshake errors", "web-01")
	i2 := mk("TLS handshake errors again", "web-01", "db-01")

	if _, err := ps.Create(ctx, "ann", t0, NewProblem{Title: "x", Incidents: []string{"INC-000999"}}); !errors.Is(err, cmdb.ErrNotFound) {
		t.Errorf("unknown incident: err = %v", err)
	}
	p, err := ps.Create(ctx, "ann", t0, NewProblem{Title: "TLS handshake failures after certificate renewal", Incidents: []string{i1.Number, i2.Number}, Software: []string{"OpenSSL"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Number != "PRB-000001" || !slices.Equal(p.CIs, []string{web, db}) || len(p.Keywords) == 0 {
		t.Errorf("problem: %+v", p)
	}
	if open, _ := OpenOnCI(ctx, st, db); !slices.Equal(open, []string{p.Number}) {
		t.Errorf("OpenOnCI(db) = %v", open)
	}
	if got, _ := ps.ForIncident(ctx, i1.Number); len(got) != 1 {
		t.Errorf("ForIncident = %v", got)
	}
	// Known error needs root cause and workaround; nothing is written otherwise.
	rev, _ := st.Rev(ctx)
	if _, err := ps.Transition(ctx, "ann", t0, p.Number, StatusKnownError, ""); !errors.Is(err, cmdb.ErrInvalid) {
		t.Errorf("known error without workaround: err = %v", err)
	}
	if _, err := ps.Transition(ctx, "ann", t0, p.Number, StatusClosed+"x", ""); !errors.Is(err, cmdb.ErrInvalid) {
		t.Errorf("bad status: err = %v", err)
	}
	if r, _ := st.Rev(ctx); r != rev {
		t.Errorf("refused changes wrote something")
	}
	rc, wa := "intermediate certificate missing", "restart with the old chain"
	if _, err := ps.Update(ctx, "ann", t0, p.Number, Update{RootCause: &rc, Workaround: &wa}); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.Transition(ctx, "ann", t0, p.Number, StatusKnownError, "documented"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   *incident.Incident
		want int // suggestions
	}{
		{"same CI", mk("slow pages", "web-01"), 1},
		{"same software elsewhere", mk("something odd", "web-02"), 1},
		{"same words", mk("handshake failures with certificate"), 1},
		{"one shared word is not enough", mk("certificate question"), 0},
		{"nothing shared", mk("printer jam"), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ps.Suggest(ctx, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want {
				t.Fatalf("suggestions = %+v, want %d", got, tc.want)
			}
			if tc.want > 0 && (got[0].Number != p.Number || got[0].Workaround != wa) {
				t.Errorf("suggestion = %+v", got[0])
			}
		})
	}
	if _, err := ps.Transition(ctx, "ann", t0, p.Number, StatusResolved, ""); err != nil {
		t.Fatal(err)
	}
	if open, _ := OpenOnCI(ctx, st, db); len(open) != 0 {
		t.Errorf("OpenOnCI after resolve = %v", open)
	}
	if got, _ := ps.Suggest(ctx, i1); len(got) != 0 {
		t.Errorf("resolved problem still suggested: %v", got)
	}
}

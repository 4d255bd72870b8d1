package incident

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"parc/cmdb"
	"parc/cmdb/audit"
	"parc/cmdb/store"
)

func TestTransitionTable(t *testing.T) {
	// The full from × to table: what the table allows, and nothing else.
	allowed := map[string]string{
		StatusNew:          "assigned in_progress awaiting_info pending resolved rejected",
		StatusAssigned:     "in_progress awaiting_info pending resolved rejected",
		StatusInProgress:   "assigned awaiting_info pending resolved",
		StatusAwaitingInfo: "assigned in_progress resolved rejected",
		StatusPending:      "assigned in_progress resolved",
		StatusResolved:     "closed reopened",
		StatusClosed:       "reopened",
		StatusRejected:     "",
		StatusReopened:     "assigned in_progress awaiting_info pending resolved",
	}
	for _, from := range Statuses {
		for _, to := range Statuses {
			want := slices.Contains(strings.Fields(allowed[from]), to)
			t.Run(from+"->"+to, func(t *testing.T) {
				if got := CanTransition(from, to); got != want {
					t.Errorf("CanTransition(%s, %s) = %v, want %v", from, to, got, want)
				}
				in := &Incident{Number: "INC-000001", Status: from, Assignee: "ann"}
				err := checkTransition(in, to, "dup")
				if want && err != nil {
					t.Errorf("allowed transition refused: %v", err)
				}
				if !want && !errors.Is(err, cmdb.ErrForbidden) {
					t.Errorf("forbidden transition: err = %v, want ErrForbidden", err)
				}
			})
		}
	}
	for _, to := range []string{StatusReopened} {
		for _, from := range Statuses {
			if CanTransition(from, to) && from != StatusResolved && from != StatusClosed {
				t.Errorf("reopened reachable from %s", from)
			}
		}
	}
}

func TestTransitionRules(t *testing.T) {
	tests := []struct {
		name     string
		status   string
		assignee string
		to       string
		reason   string
		wantErr  error
	}{
		{"in progress needs an assignee", StatusNew, "", StatusInProgress, "", cmdb.ErrInvalid},
		{"in progress with an assignee", StatusNew, "ann", StatusInProgress, "", nil},
		{"rejected needs a reason", StatusNew, "", StatusRejected, " ", cmdb.ErrInvalid},
		{"rejected with a reason", StatusNew, "", StatusRejected, "duplicate", nil},
		{"assigned needs someone", StatusNew, "", StatusAssigned, "", cmdb.ErrInvalid},
		{"reopen from new", StatusNew, "", StatusReopened, "", cmdb.ErrForbidden},
		{"unknown status", StatusNew, "", "done", "", cmdb.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkTransition(&Incident{Status: tc.status, Assignee: tc.assignee}, tc.to, tc.reason)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestPriorityMatrix(t *testing.T) {
	cfg := DefaultConfig()
	want := [][]int{{1, 2, 3}, {2, 3, 4}, {3, 4, 5}}
	for i := 1; i <= 3; i++ {
		for u := 1; u <= 3; u++ {
			if got := cfg.Priority(i, u); got != want[i-1][u-1] {
				t.Errorf("Priority(%d, %d) = P%d, want P%d", i, u, got, want[i-1][u-1])
			}
		}
	}
	bad := []struct {
		name string
		cfg  Config
	}{
		{"ragged matrix", Config{Matrix: [][]int{{1, 2}, {2}}}},
		{"priority zero", Config{Matrix: [][]int{{0}}}},
		{"too few SLA targets", Config{Matrix: [][]int{{1, 7}}}},
		{"response after resolution", Config{SLA: []SLATarget{{Response: 10, Resolution: 5}, {1, 2}, {1, 2}, {1, 2}, {1, 2}}}},
		{"bad calendar", Config{Calendar: Calendar{Enabled: true, Start: "18:00", End: "08:00"}}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.cfg.Validate(); !errors.Is(err, cmdb.ErrInvalid) {
				t.Errorf("Validate = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestCreateDerivesImpactFromGraph(t *testing.T) {
	t.Run("service index", func(t *testing.T) { testDerive(t) })
	t.Run("loading every dependant", func(t *testing.T) {
		defer func(n int) { maxServiceIndex = n }(maxServiceIndex)
		maxServiceIndex = 0
		testDerive(t)
	})
}

func testDerive(t *testing.T) {
	f := newFixture(t)
	s := New(f.st)
	tests := []struct {
		name       string
		cis        []string
		text       string
		impact     int
		urgency    int
		wantImpact int
		wantPrio   int
		wantSvc    int
	}{
		{"workstation alone is low", []string{"ws-01"}, "", 0, 2, 3, 4, 0},
		{"server a service depends on is high", []string{"srv-01"}, "", 0, 2, 1, 2, 1},
		{"software with a dependant service is high", []string{"app-01"}, "", 0, 1, 1, 1, 1},
		{"manual impact wins", []string{"srv-01"}, "", 3, 3, 3, 5, 1},
		{"no CI is low", nil, "printer jammed", 0, 2, 3, 4, 0},
		{"server found in text", nil, "srv-01 is slow", 0, 2, 1, 2, 1},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text := tc.text
			if text == "" {
				text = "something broke"
			}
			in, err := s.Create(f.ctx, "ann", t0, NewIncident{ShortDescription: text, Category: "software", CIs: tc.cis, Impact: tc.impact, Urgency: tc.urgency})
			if err != nil {
				t.Fatal(err)
			}
			if in.Number != FormatNumber(int64(i+1)) {
				t.Errorf("number = %s, want %s", in.Number, FormatNumber(int64(i+1)))
			}
			if in.Impact != tc.wantImpact || in.Priority != tc.wantPrio || len(in.Services) != tc.wantSvc {
				t.Errorf("impact %d priority P%d services %d, want %d P%d %d", in.Impact, in.Priority, len(in.Services), tc.wantImpact, tc.wantPrio, tc.wantSvc)
			}
		})
	}
}

func TestTextLinking(t *testing.T) {
	f := newFixture(t)
	s := New(f.st)
	tests := []struct {
		name string
		text string
		want []string
	}{
		{"hostname", "Users on WS-01 cannot print", []string{f.ws}},
		{"fqdn", "ping srv-01.corp.example fails.", []string{f.srv}},
		{"ip", "connection refused to 10.0.0.5:443", nil}, // "10.0.0.5:443" is not an IP
		{"bare ip", "connection refused to 10.0.0.5, port 443", []string{f.srv}},
		{"serial any vendor", "replace disk in chassis abc123x", []string{f.srv}},
		{"asset tag", "laptop AT-7781 lost", []string{f.ws}},
		{"two CIs", "ws-01 cannot reach srv-01", []string{f.ws, f.srv}},
		{"nothing", "the coffee machine is broken", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, err := s.Create(f.ctx, "ann", t0, NewIncident{ShortDescription: tc.text, Category: "hardware"})
			if err != nil {
				t.Fatal(err)
			}
			if got := in.CIIDs(); !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Errorf("linked %v, want %v", got, tc.want)
			}
			for _, l := range in.CIs {
				if l.Source != LinkText || l.Match == "" {
					t.Errorf("link %+v: want a text link with its match", l)
				}
			}
		})
	}
	t.Run("edit links", func(t *testing.T) {
		in, err := s.Create(f.ctx, "ann", t0, NewIncident{ShortDescription: "slow", Category: "software"})
		if err != nil {
			t.Fatal(err)
		}
		if in.Impact != 3 {
			t.Fatalf("impact = %d", in.Impact)
		}
		d := "it is srv-01"
		in, err = s.Update(f.ctx, "bob", t0.Add(time.Minute), in.Number, Update{Description: &d})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(in.CIIDs(), []string{f.srv}) || in.Impact != 1 || in.Priority != 2 {
			t.Errorf("after edit: CIs %v impact %d P%d, want srv-01, 1, P2", in.CIIDs(), in.Impact, in.Priority)
		}
	})
}

func TestLifecycleAndInvalidChangesNothing(t *testing.T) {
	f := newFixture(t)
	s := New(f.st)
	ctx := f.ctx
	in, err := s.Create(ctx, "ann", t0, NewIncident{ShortDescription: "web shop down", Category: "software", CIs: []string{"srv-01"}, Urgency: 1, SupportCost: 12.5})
	if err != nil {
		t.Fatal(err)
	}
	if in.Priority != 1 || in.Status != StatusNew {
		t.Fatalf("got P%d %s", in.Priority, in.Status)
	}
	rev, _ := f.st.Rev(ctx)
	bad := []struct {
		name string
		do   func() error
		want error
	}{
		{"in progress without assignee", func() error {
			_, err := s.Transition(ctx, "bob", t0, in.Number, Transition{To: StatusInProgress})
			return err
		}, cmdb.ErrInvalid},
		{"reopen a new incident", func() error {
			_, err := s.Transition(ctx, "bob", t0, in.Number, Transition{To: StatusReopened})
			return err
		}, cmdb.ErrForbidden},
		{"reject without reason", func() error {
			_, err := s.Transition(ctx, "bob", t0, in.Number, Transition{To: StatusRejected})
			return err
		}, cmdb.ErrInvalid},
		{"bad category", func() error {
			c := "plumbing"
			_, err := s.Update(ctx, "bob", t0, in.Number, Update{Category: &c})
			return err
		}, cmdb.ErrInvalid},
		{"urgency out of range", func() error {
			u := 4
			_, err := s.Update(ctx, "bob", t0, in.Number, Update{Urgency: &u})
			return err
		}, cmdb.ErrInvalid},
		{"unknown CI", func() error {
			_, err := s.Link(ctx, "bob", t0, in.Number, []string{"nope"}, nil)
			return err
		}, cmdb.ErrNotFound},
		{"unknown incident", func() error {
			_, err := s.Comment(ctx, "bob", t0, "INC-999999", "hi")
			return err
		}, cmdb.ErrNotFound},
		{"empty comment", func() error {
			_, err := s.Comment(ctx, "bob", t0, in.Number, " ")
			return err
		}, cmdb.ErrInvalid},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if r, _ := f.st.Rev(ctx); r != rev {
				t.Errorf("store revision moved from %d to %d: something was written", rev, r)
			}
		})
	}

	step := func(at time.Duration, fn func(time.Time) (*Incident, error)) *Incident {
		t.Helper()
		got, err := fn(t0.Add(at))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	in = step(10*time.Minute, func(now time.Time) (*Incident, error) { return s.Assign(ctx, "bob", now, in.Number, "carl", "ops") })
	if in.Status != StatusAssigned || !in.AssignedAt.Equal(t0.Add(10*time.Minute)) || !in.RespondedAt.Equal(in.AssignedAt) {
		t.Errorf("after assign: %s assigned %v responded %v", in.Status, in.AssignedAt, in.RespondedAt)
	}
	in = step(20*time.Minute, func(now time.Time) (*Incident, error) {
		return s.Transition(ctx, "carl", now, in.Number, Transition{To: StatusInProgress})
	})
	in = step(30*time.Minute, func(now time.Time) (*Incident, error) {
		return s.Transition(ctx, "carl", now, in.Number, Transition{To: StatusResolved, Note: "restarted"})
	})
	if open, _ := OpenOnCI(ctx, f.st, f.srv); len(open) != 0 {
		t.Errorf("open on srv after resolve: %v", open)
	}
	in = step(40*time.Minute, func(now time.Time) (*Incident, error) {
		return s.Transition(ctx, "ann", now, in.Number, Transition{To: StatusReopened})
	})
	if open, _ := OpenOnCI(ctx, f.st, f.srv); !slices.Equal(open, []string{in.Number}) {
		t.Errorf("open on srv after reopen: %v", open)
	}
	if in.ReopenCount != 1 || len(in.StatusLog) != 5 {
		t.Errorf("reopen count %d, status log %v", in.ReopenCount, in.StatusLog)
	}
	cost, err := SupportCost(ctx, f.st, f.srv)
	if err != nil || cost != 12.5 {
		t.Errorf("SupportCost = %g, %v", cost, err)
	}
	entries, _, err := audit.List(ctx, f.st, audit.Filter{Object: "incident/" + in.Number})
	if err != nil || len(entries) != 5 {
		t.Errorf("audit entries = %d (%v), want 5", len(entries), err)
	}
}

func TestLinkRecomputesPriority(t *testing.T) {
	f := newFixture(t)
	s := New(f.st)
	in, err := s.Create(f.ctx, "ann", t0, NewIncident{ShortDescription: "slow", Category: "software", CIs: []string{"ws-01"}})
	if err != nil {
		t.Fatal(err)
	}
	in, err = s.Link(f.ctx, "ann", t0, in.Number, []string{"srv-01"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if in.Impact != 1 || in.Priority != 2 || in.ImpactBasis.Services != 1 {
		t.Errorf("after link: impact %d P%d basis %+v", in.Impact, in.Priority, in.ImpactBasis)
	}
	in, err = s.Link(f.ctx, "ann", t0, in.Number, nil, []string{"srv-01"})
	if err != nil {
		t.Fatal(err)
	}
	if in.Impact != 3 || in.Priority != 4 || len(in.Services) != 0 {
		t.Errorf("after unlink: impact %d P%d services %v", in.Impact, in.Priority, in.Services)
	}
}

func TestListFilterAndPage(t *testing.T) {
	f := newFixture(t)
	s := New(f.st)
	for i := range 25 {
		n := NewIncident{ShortDescription: fmt.Sprintf("inc %d", i), Category: BuiltinCategories[i%4], Urgency: 1 + i%3}
		if i%5 == 0 {
			n.CIs = []string{"ws-01"}
			n.Assignee = "ann"
		}
		if _, err := s.Create(f.ctx, "ann", t0, n); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		f    Filter
		want int
	}{
		{"all", Filter{}, 25},
		{"category", Filter{Category: "network"}, 6},
		{"assignee", Filter{Assignee: "ann"}, 5},
		{"status assigned", Filter{Status: StatusAssigned}, 5},
		{"open", Filter{Status: "open"}, 25},
		{"ci", Filter{CI: f.ws}, 5},
		{"priority 3 network", Filter{Priority: 3, Category: "network"}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			f := tc.f
			f.Limit = 4
			for pages := 0; ; pages++ {
				items, next, err := s.List(context.Background(), f)
				if err != nil {
					t.Fatal(err)
				}
				for _, it := range items {
					got = append(got, it.Number)
				}
				if next == "" || pages > 20 {
					break
				}
				f.After = next
			}
			if len(got) != tc.want {
				t.Errorf("got %d incidents, want %d", len(got), tc.want)
			}
			if !slices.IsSortedFunc(got, func(a, b string) int { return -cmpStr(a, b) }) {
				t.Errorf("not newest first: %v", got)
			}
		})
	}
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

var _ store.Reader = store.Store(nil)

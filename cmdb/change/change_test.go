package change_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"parc/cmdb"
	"parc/cmdb/change"
	"parc/cmdb/store"
)

func TestTransitionTable(t *testing.T) {
	// Every allowed move, per type; every other from×to pair is forbidden.
	allowed := map[change.Type][]string{
		change.Normal: {
			"draft>assess", "draft>cancelled",
			"assess>authorize", "assess>draft", "assess>rejected", "assess>cancelled",
			"authorize>scheduled", "authorize>draft", "authorize>rejected", "authorize>cancelled",
			"scheduled>implement", "scheduled>cancelled",
			"implement>review", "review>closed",
		},
		change.Standard: {
			"draft>assess", "draft>cancelled",
			"assess>scheduled", "assess>draft", "assess>cancelled",
			"scheduled>implement", "scheduled>cancelled",
			"implement>review", "implement>closed", "review>closed",
		},
		change.Emergency: {
			"draft>assess", "draft>cancelled",
			"assess>authorize", "assess>rejected", "assess>cancelled",
			"authorize>scheduled", "authorize>implement", "authorize>rejected", "authorize>cancelled",
			"scheduled>implement", "scheduled>cancelled",
			"implement>review", "review>closed",
		},
	}
	for _, typ := range change.Types {
		for _, from := range change.States {
			for _, to := range change.States {
				name := fmt.Sprintf("%s/%s>%s", typ, from, to)
				t.Run(name, func(t *testing.T) {
					want := slices.Contains(allowed[typ], string(from)+">"+string(to))
					if got := change.CanMove(typ, from, to); got != want {
						t.Errorf("CanMove = %v, want %v", got, want)
					}
				})
			}
		}
	}
	for _, typ := range change.Types {
		for _, s := range []change.State{change.Closed, change.Rejected, change.Cancelled} {
			if len(change.Transitions[typ][s]) != 0 || !s.Terminal() {
				t.Errorf("%s %s must be terminal", typ, s)
			}
		}
		// A standard change never passes authorize; an emergency cannot
		// skip review.
		if typ == change.Standard && len(change.Transitions[typ][change.Authorize]) > 0 {
			t.Error("standard changes skip authorize")
		}
		if typ == change.Emergency && change.CanMove(typ, change.Implement, change.Closed) {
			t.Error("emergency changes need a review")
		}
	}
}

func TestCreateValidatesAndWritesNothingOnBadInput(t *testing.T) {
	w := newWorld(t, change.Config{})
	web := w.id("web-01")
	bad := []struct {
		name string
		in   change.Input
		want error
	}{
		{"no title", change.Input{CIs: []string{web}}, cmdb.ErrInvalid},
		{"no CI", change.Input{Title: "x"}, cmdb.ErrInvalid},
		{"unknown CI", change.Input{Title: "x", CIs: []string{"nope"}}, cmdb.ErrNotFound},
		{"bad type", change.Input{Title: "x", Type: "whim", CIs: []string{web}}, cmdb.ErrInvalid},
		{"bad risk", change.Input{Title: "x", Risk: "huge", CIs: []string{web}}, cmdb.ErrInvalid},
		{"standard without template", change.Input{Title: "x", Type: change.Standard, CIs: []string{web}}, cmdb.ErrInvalid},
		{"unknown template", change.Input{Template: "nope", CIs: []string{web}}, cmdb.ErrNotFound},
		{"window backwards", change.Input{Title: "x", CIs: []string{web}, Window: change.Window{Start: t0, End: t0.Add(-time.Hour)}}, cmdb.ErrInvalid},
		{"expectation on other CI", change.Input{Title: "x", CIs: []string{web}, Expect: []change.Expectation{{CI: w.id("db-01"), Software: "nginx"}}}, cmdb.ErrInvalid},
		{"expectation both kinds", change.Input{Title: "x", CIs: []string{web}, Expect: []change.Expectation{{CI: web, Software: "nginx", Attr: "os"}}}, cmdb.ErrInvalid},
		{"expectation empty", change.Input{Title: "x", CIs: []string{web}, Expect: []change.Expectation{{CI: web}}}, cmdb.ErrInvalid},
	}
	rev := ok(w.st.Rev(w.ctx)).must(t)
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.svc.Create(w.ctx, "rita", t0, tc.in)
			wantErr(t, err, tc.want)
		})
	}
	if after := ok(w.st.Rev(w.ctx)).must(t); after != rev {
		t.Errorf("rejected input wrote: revision %d → %d", rev, after)
	}
}

func TestCreateNumbersAndIndexes(t *testing.T) {
	w := newWorld(t, change.Config{})
	a := w.create("rita", change.Input{CIs: []string{"web-01"}, Window: window(1)})
	b := w.create("rita", change.Input{CIs: []string{w.id("web-01"), "db-01"}, Window: window(1)})
	if a.Number != "CHG-000001" || b.Number != "CHG-000002" {
		t.Fatalf("numbers %s, %s", a.Number, b.Number)
	}
	if a.CIs[0] != w.id("web-01") || a.Requester != "rita" || a.State != change.Draft {
		t.Fatalf("change %+v", a)
	}
	open := ok(change.OpenOnCI(w.ctx, w.st, w.id("web-01"))).must(t)
	if !slices.Equal(open, []string{"CHG-000001", "CHG-000002"}) {
		t.Fatalf("OpenOnCI = %v", open)
	}
	ok(w.svc.Cancel(w.ctx, a.Number, "rita", "not needed", t0)).must(t)
	open = ok(change.OpenOnCI(w.ctx, w.st, w.id("web-01"))).must(t)
	if !slices.Equal(open, []string{"CHG-000002"}) {
		t.Fatalf("OpenOnCI after cancel = %v", open)
	}
	list, _, err := w.svc.List(w.ctx, change.ListOptions{CI: w.id("db-01")})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Number != b.Number {
		t.Fatalf("list by CI = %v", list)
	}
	if got := w.auditActions("change/CHG-000001"); !slices.Equal(got, []string{"change.create", "change.cancel"}) {
		t.Fatalf("audit = %v", got)
	}
}

func TestNormalChangeLifecycle(t *testing.T) {
	w := newWorld(t, change.Config{})
	c := w.create("rita", change.Input{CIs: []string{"lonely"}, Window: window(2)})
	c = ok(w.svc.Submit(w.ctx, c.Number, "rita", t0)).must(t)
	if c.State != change.Authorize || c.RiskLevel != change.RiskLow || c.Required.Rule != "normal-low" {
		t.Fatalf("after submit: state %s risk %s rule %+v", c.State, c.RiskLevel, c.Required)
	}
	_, err := w.svc.Schedule(w.ctx, c.Number, "rita", change.Window{}, t0)
	wantErr(t, err, cmdb.ErrForbidden) // no approval yet
	_, err = w.svc.Decide(w.ctx, c.Number, "rita", true, "", t0)
	wantErr(t, err, cmdb.ErrForbidden) // requester
	c = ok(w.svc.Decide(w.ctx, c.Number, "mike", true, "fine", t0)).must(t)
	if !c.Approved {
		t.Fatal("one approval should meet normal-low")
	}
	_, err = w.svc.Decide(w.ctx, c.Number, "mike", true, "again", t0)
	wantErr(t, err, cmdb.ErrConflict)
	_, err = w.svc.Implement(w.ctx, c.Number, "ivan", t0)
	wantErr(t, err, cmdb.ErrForbidden) // not scheduled
	c = ok(w.svc.Schedule(w.ctx, c.Number, "mike", change.Window{}, t0)).must(t)
	c = ok(w.svc.Implement(w.ctx, c.Number, "ivan", t0.Add(2*time.Hour))).must(t)
	_, err = w.svc.Close(w.ctx, c.Number, "ivan", "", "", t0)
	wantErr(t, err, cmdb.ErrForbidden) // normal changes are reviewed
	_, err = w.svc.Review(w.ctx, c.Number, "ivan", "great", "", t0)
	wantErr(t, err, cmdb.ErrInvalid)
	c = ok(w.svc.Review(w.ctx, c.Number, "ivan", change.OutcomeSuccessful, "went well", t0.Add(3*time.Hour))).must(t)
	c = ok(w.svc.Close(w.ctx, c.Number, "mike", "", "done", t0.Add(4*time.Hour))).must(t)
	if c.State != change.Closed || c.Outcome != change.OutcomeSuccessful || !c.Actual.End.Equal(t0.Add(3*time.Hour)) {
		t.Fatalf("closed change %+v", c)
	}
	var steps []string
	for _, l := range c.Log {
		steps = append(steps, l.Actor+":"+l.Action+":"+string(l.To))
	}
	want := []string{"rita:created:draft", "rita:state:assess", "rita:state:authorize", "mike:approved:", "mike:authorized:",
		"mike:state:scheduled", "ivan:state:implement", "ivan:state:review", "mike:state:closed"}
	if !slices.Equal(steps, want) {
		t.Fatalf("log\n got %v\nwant %v", steps, want)
	}
	wantAudit := []string{"change.create", "change.submit", "change.approve", "change.schedule", "change.implement", "change.review", "change.close"}
	if got := w.auditActions("change/" + c.Number); !slices.Equal(got, wantAudit) {
		t.Fatalf("audit %v", got)
	}
	_, err = w.svc.Cancel(w.ctx, c.Number, "rita", "", t0)
	wantErr(t, err, cmdb.ErrForbidden)
}

func TestApprovalRules(t *testing.T) {
	cab := change.Rules{Rules: []change.Rule{
		{Name: "emergency", Type: change.Emergency, Quorum: 1, Approvers: []string{"ecab1", "ecab2"}},
		{Name: "low", Type: change.Normal, Risk: change.RiskLow, Quorum: 1},
		{Name: "cab", Type: change.Normal, Quorum: 2, Approvers: []string{"cab1", "cab2", "cab3"}, Owners: true},
	}}
	type step struct {
		who     string
		approve bool
		err     error
		done    bool // Approved after the step
	}
	cases := []struct {
		name  string
		ci    string
		typ   change.Type
		risk  string
		state change.State // after the steps
		steps []step
	}{
		{"low risk needs one approver", "lonely", change.Normal, "", change.Authorize,
			[]step{{who: "anyone", approve: true, done: true}}},
		{"high risk needs a CAB quorum of 2 of 3", "lonely", change.Normal, change.RiskHigh, change.Authorize,
			[]step{{who: "outsider", approve: true, err: cmdb.ErrForbidden}, {who: "cab1", approve: true}, {who: "cab3", approve: true, done: true}}},
		{"owners of affected critical services must approve", "db-01", change.Normal, change.RiskHigh, change.Authorize,
			[]step{{who: "cab1", approve: true}, {who: "user:CAB2", approve: true}, {who: "carol", approve: true},
				{who: "bob", approve: true, err: cmdb.ErrForbidden}, {who: "user:alice", approve: true, done: true}}},
		{"one rejection rejects", "lonely", change.Normal, change.RiskHigh, change.Rejected,
			[]step{{who: "cab1", approve: true}, {who: "cab2", approve: false}}},
		{"emergency needs one approver", "web-01", change.Emergency, "", change.Authorize,
			[]step{{who: "cab1", approve: true, err: cmdb.ErrForbidden}, {who: "ecab2", approve: true, done: true}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, change.Config{})
			ok(w.svc.SetRules(w.ctx, "admin", t0, cab)).must(t)
			c := w.create("rita", change.Input{Type: tc.typ, Risk: tc.risk, CIs: []string{tc.ci}, Window: window(1)})
			c = ok(w.svc.Submit(w.ctx, c.Number, "rita", t0)).must(t)
			for i, s := range tc.steps {
				comment := ""
				if !s.approve {
					comment = "too risky"
				}
				got, err := w.svc.Decide(w.ctx, c.Number, s.who, s.approve, comment, t0)
				if s.err != nil {
					wantErr(t, err, s.err)
					continue
				}
				if err != nil {
					t.Fatalf("step %d (%s): %v", i, s.who, err)
				}
				if got.Approved != s.done {
					t.Fatalf("step %d (%s): approved %v, want %v (required %+v)", i, s.who, got.Approved, s.done, got.Required)
				}
				c = got
			}
			if c.State != tc.state {
				t.Fatalf("state %s, want %s", c.State, tc.state)
			}
			_, err := w.svc.Schedule(w.ctx, c.Number, "mike", change.Window{}, t0)
			if c.Approved && c.State == change.Authorize {
				if err != nil {
					t.Fatalf("schedule after approvals: %v", err)
				}
			} else {
				wantErr(t, err, cmdb.ErrForbidden)
			}
		})
	}
	t.Run("rules are validated", func(t *testing.T) {
		w := newWorld(t, change.Config{})
		for _, rs := range []change.Rules{
			{},
			{Rules: []change.Rule{{Name: "x", Quorum: 3, Approvers: []string{"a", "b"}}}},
			{Rules: []change.Rule{{Name: "x", Type: change.Emergency, Quorum: 0}}},
			{Rules: []change.Rule{{Name: "x", Risk: "mega"}}},
		} {
			_, err := w.svc.SetRules(w.ctx, "admin", t0, rs)
			wantErr(t, err, cmdb.ErrInvalid)
		}
	})
}

func TestEmergencyImplementsFromAuthorizeAndNeedsReview(t *testing.T) {
	w := newWorld(t, change.Config{})
	c := w.create("rita", change.Input{Type: change.Emergency, CIs: []string{"web-01"}})
	c = ok(w.svc.Submit(w.ctx, c.Number, "rita", t0)).must(t) // no window needed
	_, err := w.svc.Implement(w.ctx, c.Number, "ivan", t0)
	wantErr(t, err, cmdb.ErrForbidden) // not approved
	ok(w.svc.Decide(w.ctx, c.Number, "mike", true, "go", t0)).must(t)
	c = ok(w.svc.Implement(w.ctx, c.Number, "ivan", t0)).must(t)
	if c.State != change.Implement {
		t.Fatalf("state %s", c.State)
	}
	_, err = w.svc.Close(w.ctx, c.Number, "ivan", "", "", t0)
	wantErr(t, err, cmdb.ErrForbidden)
	ok(w.svc.Review(w.ctx, c.Number, "ivan", change.OutcomeSuccessful, "", t0)).must(t)
}

func TestStandardChangeFromTemplate(t *testing.T) {
	w := newWorld(t, change.Config{})
	ok(w.svc.PutTemplate(w.ctx, "cab", t0, change.Template{Name: "os-patch", Title: "monthly OS patch",
		ImplPlan: "apt upgrade", BackoutPlan: "apt install old", MaxRisk: change.RiskLow,
		Expect: []change.Expectation{{Software: "openssl", MinVersion: "3.0.13"}}})).must(t)
	c := w.create("rita", change.Input{Template: "os-patch", CIs: []string{"lonely"}, Window: window(1), Title: ""})
	if c.Type != change.Standard || c.Title != "patch things" && c.Title != "monthly OS patch" {
		t.Fatalf("change from template %+v", c)
	}
	if len(c.Expect) != 1 || c.Expect[0].CI != w.id("lonely") {
		t.Fatalf("template expectations %+v", c.Expect)
	}
	c = ok(w.svc.Submit(w.ctx, c.Number, "rita", t0)).must(t)
	if c.State != change.Assess || !c.Approved {
		t.Fatalf("standard change after submit: %s approved=%v", c.State, c.Approved)
	}
	_, err := w.svc.Decide(w.ctx, c.Number, "mike", true, "", t0)
	wantErr(t, err, cmdb.ErrForbidden) // nothing to approve
	c = ok(w.svc.Schedule(w.ctx, c.Number, "rita", change.Window{}, t0)).must(t)
	c = ok(w.svc.Implement(w.ctx, c.Number, "rita", t0.Add(time.Hour))).must(t)
	c = ok(w.svc.Close(w.ctx, c.Number, "rita", "", "", t0.Add(2*time.Hour))).must(t)
	if c.State != change.Closed || c.Outcome != change.OutcomeSuccessful {
		t.Fatalf("closed %s %s", c.State, c.Outcome)
	}
	for _, s := range c.Log {
		if s.To == change.Authorize {
			t.Fatal("standard change passed authorize")
		}
	}

	// Too risky for the template (critical services downstream).
	c2 := w.create("rita", change.Input{Template: "os-patch", CIs: []string{"db-01"}, Window: window(5)})
	_, err = w.svc.Submit(w.ctx, c2.Number, "rita", t0)
	wantErr(t, err, cmdb.ErrForbidden)
	if got := ok(w.svc.Get(w.ctx, c2.Number)).must(t); got.State != change.Draft {
		t.Fatalf("refused submit moved the change to %s", got.State)
	}
	_, err = w.svc.Create(w.ctx, "rita", t0, change.Input{Template: "os-patch", Type: change.Normal, CIs: []string{"lonely"}})
	wantErr(t, err, cmdb.ErrInvalid)
}

func TestImpactAnalysis(t *testing.T) {
	incidents := map[string][]string{}
	problems := map[string][]string{}
	cfg := change.Config{
		OpenIncidents: func(_ context.Context, _ store.Reader, ci string) ([]string, error) { return incidents[ci], nil },
		OpenProblems:  func(_ context.Context, _ store.Reader, ci string) ([]string, error) { return problems[ci], nil },
	}
	w := newWorld(t, cfg)
	incidents[w.id("db-01")] = []string{"INC-000007"}
	incidents[w.id("shop")] = []string{"INC-000009"}
	problems[w.id("db-01")] = []string{"PRB-000001"}
	c := w.create("rita", change.Input{CIs: []string{"db-01"}, Window: window(1), BackoutPlan: " "})
	c = ok(w.svc.Submit(w.ctx, c.Number, "rita", t0)).must(t)
	imp := ok(w.svc.Snapshot(w.ctx, c.Number)).must(t)
	var down []string
	for _, n := range imp.Downstream {
		names := []string{}
		for _, id := range n.Path {
			for name, x := range w.ids {
				if x == id {
					names = append(names, name)
				}
			}
		}
		down = append(down, fmt.Sprintf("%s@%d:%s", n.Name, n.Depth, strings.Join(names, ">")))
	}
	wantDown := []string{"db@1:db-01>db", "app@2:db-01>db>app", "shop@3:db-01>db>app>shop"}
	if !slices.Equal(down, wantDown) {
		t.Fatalf("downstream\n got %v\nwant %v", down, wantDown)
	}
	if len(imp.Upstream) != 0 {
		t.Fatalf("upstream of db-01: %+v", imp.Upstream)
	}
	if imp.CountByClass[cmdb.ClassService] != 3 || imp.CountByClass[cmdb.ClassComputer] != 1 {
		t.Fatalf("count by class %v", imp.CountByClass)
	}
	var crit []string
	for _, s := range imp.Critical {
		crit = append(crit, s.Name+"/"+s.Owner)
	}
	slices.Sort(crit)
	if !slices.Equal(crit, []string{"db/carol", "shop/alice"}) {
		t.Fatalf("critical services %v", crit)
	}
	if !slices.Equal(imp.OpenIncidents[w.id("db-01")], []string{"INC-000007"}) || !slices.Equal(imp.OpenIncidents[w.id("shop")], []string{"INC-000009"}) ||
		!slices.Equal(imp.OpenProblems[w.id("db-01")], []string{"PRB-000001"}) {
		t.Fatalf("open incidents %v problems %v", imp.OpenIncidents, imp.OpenProblems)
	}
	if imp.RiskLevel != change.RiskHigh || c.RiskLevel != change.RiskHigh || c.RiskScore != imp.RiskScore {
		t.Fatalf("risk %s (%d), change %s; reasons %v", imp.RiskLevel, imp.RiskScore, c.RiskLevel, imp.Reasons)
	}
	joined := strings.Join(imp.Reasons, "; ")
	for _, want := range []string{"normal change", "3 dependant CIs", "2 critical service(s)", "2 open incident(s)", "1 open problem(s)", "no back-out plan"} {
		if !strings.Contains(joined, want) {
			t.Errorf("reasons %q lack %q", joined, want)
		}
	}
	if c.Required.Rule != "normal-high" || !slices.Equal(c.Required.Owners, []string{"alice", "carol"}) {
		t.Fatalf("requirement %+v", c.Required)
	}

	// Upstream from the app service: what it runs on and depends on.
	c2 := w.create("rita", change.Input{CIs: []string{"app"}, Window: window(30)})
	imp2 := ok(w.svc.Analyze(w.ctx, c2, t0)).must(t)
	var up []string
	for _, n := range imp2.Upstream {
		up = append(up, fmt.Sprintf("%s@%d", n.Name, n.Depth))
	}
	slices.Sort(up)
	if !slices.Equal(up, []string{"db-01@2", "db@1", "web-01 disk sda@2", "web-01@1"}) {
		t.Fatalf("upstream %v", up)
	}

	// The snapshot is kept; a recompute replaces it and says so.
	delete(incidents, w.id("shop"))
	snap := ok(w.svc.Snapshot(w.ctx, c.Number)).must(t)
	if len(snap.OpenIncidents) != 2 {
		t.Fatalf("snapshot changed by itself: %v", snap.OpenIncidents)
	}
	re := ok(w.svc.Recompute(w.ctx, c.Number, "mike", t0.Add(time.Hour))).must(t)
	if len(re.OpenIncidents) != 1 || !re.At.Equal(t0.Add(time.Hour)) {
		t.Fatalf("recomputed %v at %v", re.OpenIncidents, re.At)
	}
	if snap := ok(w.svc.Snapshot(w.ctx, c.Number)).must(t); len(snap.OpenIncidents) != 1 {
		t.Fatal("recompute was not stored")
	}
}

func TestCollisions(t *testing.T) {
	cases := []struct {
		name   string
		ci     string
		win    change.Window
		submit bool // submit the other change (drafts never collide)
		cancel bool
		want   string // "", "direct" or "dependent"
	}{
		{"same CI overlapping window", "web-01", window(1), true, false, "direct"},
		{"same CI adjacent window", "web-01", window(2), true, false, ""},
		{"same CI later window", "web-01", window(10), true, false, ""},
		{"dependent CI overlapping", "app", window(0), true, false, "dependent"},
		{"unrelated CI overlapping", "lonely", window(1), true, false, ""},
		{"other change still a draft", "web-01", window(1), false, false, ""},
		{"other change cancelled", "web-01", window(1), true, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, change.Config{})
			other := w.create("olga", change.Input{CIs: []string{tc.ci}, Window: tc.win})
			if tc.submit {
				ok(w.svc.Submit(w.ctx, other.Number, "olga", t0)).must(t)
			}
			if tc.cancel {
				ok(w.svc.Cancel(w.ctx, other.Number, "olga", "", t0)).must(t)
			}
			c := w.create("rita", change.Input{CIs: []string{"web-01"}, Window: window(0)})
			c = ok(w.svc.Submit(w.ctx, c.Number, "rita", t0)).must(t)
			imp := ok(w.svc.Snapshot(w.ctx, c.Number)).must(t)
			got := ""
			if len(imp.Collisions) == 1 {
				got = "dependent"
				if imp.Collisions[0].Direct {
					got = "direct"
				}
				if imp.Collisions[0].Number != other.Number {
					t.Fatalf("collision with %s", imp.Collisions[0].Number)
				}
			} else if len(imp.Collisions) > 1 {
				t.Fatalf("collisions %+v", imp.Collisions)
			}
			if got != tc.want {
				t.Fatalf("collision %q, want %q (%+v)", got, tc.want, imp.Collisions)
			}
			if got != "" && !strings.Contains(strings.Join(imp.Reasons, ";"), "colliding") {
				t.Fatalf("collision not in risk reasons %v", imp.Reasons)
			}
		})
	}
}

func TestFreezeWindows(t *testing.T) {
	cases := []struct {
		name     string
		freeze   change.Freeze
		typ      change.Type
		win      change.Window
		hit      bool
		schedule error // nil: scheduling succeeds
	}{
		{"global freeze overlapping", change.Freeze{Name: "year end", Window: window(0)}, change.Normal, window(1), true, cmdb.ErrForbidden},
		{"global freeze elsewhere in time", change.Freeze{Name: "year end", Window: window(10)}, change.Normal, window(1), false, nil},
		{"freeze on the CI", change.Freeze{Name: "web", Window: window(0), CIs: []string{"web-01"}}, change.Normal, window(1), true, cmdb.ErrForbidden},
		{"freeze on a dependant's class", change.Freeze{Name: "services", Window: window(0), Classes: []string{cmdb.ClassService}}, change.Normal, window(1), true, cmdb.ErrForbidden},
		{"freeze on another CI", change.Freeze{Name: "other", Window: window(0), CIs: []string{"lonely"}}, change.Normal, window(1), false, nil},
		{"emergency may break a freeze", change.Freeze{Name: "year end", Window: window(0)}, change.Emergency, window(1), true, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, change.Config{})
			ok(w.svc.PutFreeze(w.ctx, "cab", t0, tc.freeze)).must(t)
			c := w.create("rita", change.Input{Type: tc.typ, CIs: []string{"web-01"}, Window: tc.win, Risk: change.RiskLow})
			ok(w.svc.SetRules(w.ctx, "admin", t0, change.Rules{Rules: []change.Rule{{Name: "any", Quorum: 1}}})).must(t)
			c = ok(w.svc.Submit(w.ctx, c.Number, "rita", t0)).must(t)
			imp := ok(w.svc.Snapshot(w.ctx, c.Number)).must(t)
			if (len(imp.Freezes) > 0) != tc.hit {
				t.Fatalf("freezes %+v, want hit=%v", imp.Freezes, tc.hit)
			}
			ok(w.svc.Decide(w.ctx, c.Number, "mike", true, "", t0)).must(t)
			_, err := w.svc.Schedule(w.ctx, c.Number, "mike", change.Window{}, t0)
			if tc.schedule == nil && err != nil {
				t.Fatalf("schedule: %v", err)
			}
			if tc.schedule != nil {
				wantErr(t, err, tc.schedule)
				// Moving the window out of the freeze works.
				ok(w.svc.Schedule(w.ctx, c.Number, "mike", window(20), t0)).must(t)
			}
		})
	}
	t.Run("a freeze added after submit still blocks scheduling", func(t *testing.T) {
		w := newWorld(t, change.Config{})
		c := w.create("rita", change.Input{CIs: []string{"lonely"}, Window: window(1)})
		c = ok(w.svc.Submit(w.ctx, c.Number, "rita", t0)).must(t)
		ok(w.svc.Decide(w.ctx, c.Number, "mike", true, "", t0)).must(t)
		f := ok(w.svc.PutFreeze(w.ctx, "cab", t0, change.Freeze{Name: "late", Window: window(0)})).must(t)
		_, err := w.svc.Schedule(w.ctx, c.Number, "mike", change.Window{}, t0)
		wantErr(t, err, cmdb.ErrForbidden)
		if err := w.svc.DeleteFreeze(w.ctx, "cab", f.ID, t0); err != nil {
			t.Fatal(err)
		}
		ok(w.svc.Schedule(w.ctx, c.Number, "mike", change.Window{}, t0)).must(t)
	})
}

func TestVersionCompare(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0},
		{"1.0", "1.1", -1},
		{"1.10", "1.9", 1},
		{"1.0~rc1", "1.0", -1},
		{"1.0~rc1", "1.0~rc2", -1},
		{"1:1.0", "2.0", 1},
		{"1.0-1", "1.0-2", -1},
		{"3.0.13-0ubuntu3.1", "3.0.13", 1},
		{"3.0.2-0ubuntu1.15", "3.0.13", -1},
		{"1.0a", "1.0", 1},
		{"1.0+dfsg", "1.0", 1},
		{"10.0.19045.4046", "10.0.19045.3930", 1},
		{"007", "7", 0},
	}
	for _, tc := range cases {
		t.Run(tc.a+" vs "+tc.b, func(t *testing.T) {
			if got := change.CompareVersions(tc.a, tc.b); got != tc.want {
				t.Fatalf("CompareVersions(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
			}
			if got := change.CompareVersions(tc.b, tc.a); got != -tc.want {
				t.Fatalf("CompareVersions(%q, %q) = %d, want %d", tc.b, tc.a, got, -tc.want)
			}
		})
	}
}

func TestSnapshotIsCappedButCountsStayExact(t *testing.T) {
	w := newWorld(t, change.Config{SnapshotNodes: 1})
	c := w.create("rita", change.Input{CIs: []string{"db-01"}, Window: window(1)})
	ok(w.svc.Submit(w.ctx, c.Number, "rita", t0)).must(t)
	imp := ok(w.svc.Snapshot(w.ctx, c.Number)).must(t)
	if len(imp.Downstream) != 1 || !imp.Truncated || imp.CountByClass[cmdb.ClassService] != 3 {
		t.Fatalf("snapshot %d nodes, truncated %v, counts %v", len(imp.Downstream), imp.Truncated, imp.CountByClass)
	}
}

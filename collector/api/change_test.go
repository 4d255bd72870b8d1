package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"parc/cmdb"
	"parc/cmdb/change"
	"parc/cmdb/store"
	"parc/cmdb/store/teststore"
	"parc/collector/api"
)

// changeUserHeader authorizes every request as the user named in X-User.
type changeUserHeader struct{}

func (changeUserHeader) Authorize(r *http.Request, _ string) (string, error) {
	if u := r.Header.Get("X-User"); u != "" {
		return u, nil
	}
	return "anonymous", nil
}

func changeServer(t *testing.T) (*httptest.Server, map[string]string) {
	t.Helper()
	st := teststore.Open(t)
	g := cmdb.NewGraph(st)
	ids := map[string]string{}
	ctx := context.Background()
	_, err := st.Update(ctx, func(stx store.Txn) error {
		tx := cmdb.NewTx(ctx, stx, "seed", time.Now())
		for _, n := range []struct{ name, class string }{{"web-01", cmdb.ClassComputer}, {"shop", cmdb.ClassService}} {
			id := cmdb.DerivedID("test", n.name)
			ids[n.name] = id
			if _, err := tx.PutCI(nil, &cmdb.CI{ID: id, Class: n.class, Name: n.name}); err != nil {
				return err
			}
		}
		return tx.PutRel(cmdb.Relationship{From: ids["shop"], To: ids["web-01"], Type: cmdb.RelRunsOn, Source: cmdb.SourceManual})
	})
	if err != nil {
		t.Fatal(err)
	}
	svc := change.New(g, change.Config{})
	srv := httptest.NewServer(api.New(api.Config{Graph: g, Auth: changeUserHeader{}, Extra: api.ChangeRoutes(svc, g)}).Handler())
	t.Cleanup(srv.Close)
	return srv, ids
}

func changeCall(t *testing.T, srv *httptest.Server, user, method, path string, body any, out any) int {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, srv.URL+"/api/v1"+path, rd)
	req.Header.Set("X-User", user)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil {
		_ = json.NewDecoder(res.Body).Decode(out)
	}
	return res.StatusCode
}

func TestChangeRoutes(t *testing.T) {
	srv, ids := changeServer(t)
	start := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	win := change.Window{Start: start, End: start.Add(2 * time.Hour)}
	var c change.Change
	steps := []struct {
		name   string
		user   string
		method string
		path   string
		body   any
		want   int
	}{
		{"bad input is 400", "rita", "POST", "/changes", map[string]any{"title": "", "cis": []string{"web-01"}}, 400},
		{"unknown field is 400", "rita", "POST", "/changes", map[string]any{"title": "x", "cis": []string{"web-01"}, "colour": "red"}, 400},
		{"create", "rita", "POST", "/changes", change.Input{Title: "upgrade nginx", CIs: []string{"web-01"}, Window: win, BackoutPlan: "b", ImplPlan: "i",
			Expect: []change.Expectation{{CI: "web-01", Software: "nginx", MinVersion: "1.24"}}}, 201},
		{"get", "rita", "GET", "/changes/CHG-000001", nil, 200},
		{"unknown change is 404", "rita", "GET", "/changes/CHG-000099", nil, 404},
		{"impact before submit is live", "rita", "GET", "/changes/CHG-000001/impact", nil, 200},
		{"schedule before submit is 409", "mike", "POST", "/changes/CHG-000001/schedule", nil, 409},
		{"submit", "rita", "POST", "/changes/CHG-000001/submit", nil, 200},
		{"requester cannot approve", "rita", "POST", "/changes/CHG-000001/approve", map[string]string{"comment": "me"}, 409},
		{"reject needs a comment", "mike", "POST", "/changes/CHG-000001/reject", nil, 400},
		{"approve", "mike", "POST", "/changes/CHG-000001/approve", map[string]string{"comment": "ok"}, 200},
		{"schedule", "mike", "POST", "/changes/CHG-000001/schedule", nil, 200},
		{"implement", "ivan", "POST", "/changes/CHG-000001/implement", nil, 200},
		{"verify now", "ivan", "POST", "/changes/CHG-000001/verify", nil, 200},
		{"review needs an outcome", "ivan", "POST", "/changes/CHG-000001/review", map[string]string{"outcome": "meh"}, 400},
		{"review", "ivan", "POST", "/changes/CHG-000001/review", map[string]string{"outcome": "successful"}, 200},
		{"link incident", "sam", "POST", "/changes/CHG-000001/incidents", map[string]string{"incident": "INC-000003"}, 200},
		{"review report", "mike", "GET", "/changes/CHG-000001/review", nil, 200},
		{"close", "mike", "POST", "/changes/CHG-000001/close", nil, 200},
		{"template", "cab", "PUT", "/change-templates/cert-renew", change.Template{Title: "renew a certificate", BackoutPlan: "old cert"}, 200},
		{"freeze", "cab", "POST", "/change-freezes", change.Freeze{Name: "year end", Window: win}, 201},
		{"bad freeze", "cab", "POST", "/change-freezes", change.Freeze{Name: "x"}, 400},
		{"rules", "admin", "PUT", "/change-rules", change.DefaultRules(), 200},
		{"control", "admin", "PUT", "/change-controls/web-01", map[string]any{"open_incident": true}, 200},
		{"drift list", "mike", "GET", "/change-drift", nil, 200},
		{"list", "mike", "GET", "/changes?ci=web-01", nil, 200},
	}
	for _, s := range steps {
		var out json.RawMessage
		if got := changeCall(t, srv, s.user, s.method, s.path, s.body, &out); got != s.want {
			t.Fatalf("%s: %s %s = %d, want %d: %s", s.name, s.method, s.path, got, s.want, out)
		}
	}
	if changeCall(t, srv, "x", "GET", "/changes/CHG-000001", nil, &c); c.State != change.Closed || c.Outcome != "successful" || len(c.Incidents) != 1 {
		t.Fatalf("change after the flow: %+v", c)
	}
	var imp struct {
		Snapshot bool          `json:"snapshot"`
		Impact   change.Impact `json:"impact"`
	}
	changeCall(t, srv, "x", "GET", "/changes/CHG-000001/impact", nil, &imp)
	if !imp.Snapshot || len(imp.Impact.Downstream) != 1 || imp.Impact.Downstream[0].ID != ids["shop"] {
		t.Fatalf("impact %+v", imp)
	}
	// A new change in the freeze window sees it in its impact.
	changeCall(t, srv, "rita", "POST", "/changes", change.Input{Title: "second", CIs: []string{"shop"}, Window: win}, nil)
	changeCall(t, srv, "x", "GET", "/changes/CHG-000002/impact?fresh=1", nil, &imp)
	if imp.Snapshot || len(imp.Impact.Freezes) != 1 {
		t.Fatalf("fresh impact %+v", imp.Impact.Freezes)
	}
}

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
	"parc/cmdb/incident"
	"parc/cmdb/problem"
	"parc/cmdb/store"
	"parc/cmdb/store/teststore"
	"parc/collector/api"
)

func incidentServer(t *testing.T) *httptest.Server {
	t.Helper()
	st := teststore.Open(t)
	g := cmdb.NewGraph(st)
	host := &cmdb.CI{ID: "01INCHOST00000000000000000", Class: cmdb.ClassComputer, Subclass: "server", Name: "db-01",
		Identifiers: map[string][]string{"hostname": {"db-01"}, "ip": {"10.1.2.3"}}}
	svc := &cmdb.CI{ID: "01INCSVC000000000000000000", Class: cmdb.ClassService, Name: "billing"}
	if _, err := st.Update(context.Background(), func(stx store.Txn) error {
		tx := cmdb.NewTx(context.Background(), stx, "user:test", t0)
		if _, err := tx.PutCI(nil, host); err != nil {
			return err
		}
		if _, err := tx.PutCI(nil, svc); err != nil {
			return err
		}
		return tx.PutRel(cmdb.Relationship{From: svc.ID, To: host.ID, Type: cmdb.RelDependsOn, Source: cmdb.SourceManual})
	}); err != nil {
		t.Fatal(err)
	}
	inc, prb := incident.New(st), problem.New(st)
	now := func() time.Time { return t0.Add(time.Hour) }
	extra := append(api.IncidentRoutes(g, inc, prb, now), api.ProblemRoutes(inc, prb, now)...)
	srv := httptest.NewServer(api.New(api.Config{Graph: g, Extra: extra}).Handler())
	t.Cleanup(srv.Close)
	return srv
}

func call(t *testing.T, srv *httptest.Server, method, path string, body any, out any) int {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, srv.URL+path, rd)
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

func TestIncidentRoutes(t *testing.T) {
	srv := incidentServer(t)
	var view api.IncidentView
	if st := call(t, srv, "POST", "/api/v1/incidents", map[string]any{"short_description": "billing slow, db-01 at 100% CPU", "category": "software", "urgency": 1}, &view); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	in := view.Incident
	if in.Number != "INC-000001" || len(in.CIs) != 1 || in.Priority != 1 || len(in.Services) != 1 {
		t.Fatalf("created %+v", in)
	}
	steps := []struct {
		name   string
		method string
		path   string
		body   any
		status int
	}{
		{"bad json field", "POST", "/api/v1/incidents", map[string]any{"nope": 1}, 400},
		{"bad category", "POST", "/api/v1/incidents", map[string]any{"short_description": "x", "category": "plumbing"}, 400},
		{"in progress without assignee", "POST", "/api/v1/incidents/INC-000001/transition", map[string]any{"to": "in_progress"}, 400},
		{"reopen from new", "POST", "/api/v1/incidents/INC-000001/transition", map[string]any{"to": "reopened"}, 409},
		{"unknown incident", "GET", "/api/v1/incidents/INC-000404", nil, 404},
		{"assign", "POST", "/api/v1/incidents/1/assign", map[string]any{"assignee": "ann"}, 200},
		{"comment", "POST", "/api/v1/incidents/1/comments", map[string]any{"text": "looking"}, 200},
		{"update", "PATCH", "/api/v1/incidents/1", map[string]any{"major": true, "support_cost": 40}, 200},
		{"link by ip", "POST", "/api/v1/incidents/1/links", map[string]any{"add": []string{"billing"}}, 200},
		{"in progress", "POST", "/api/v1/incidents/1/transition", map[string]any{"to": "in_progress"}, 200},
		{"config", "GET", "/api/v1/incident-config", nil, 200},
		{"bad config", "PUT", "/api/v1/incident-config", map[string]any{"matrix": [][]int{{1, 2}, {3}}}, 400},
		{"kpis", "GET", "/api/v1/reports/kpis?from=2026-04-01&to=2026-04-02", nil, 200},
		{"kpis bad period", "GET", "/api/v1/reports/kpis?from=2026-04-02&to=2026-04-01", nil, 400},
		{"list filter", "GET", "/api/v1/incidents?status=in_progress&major=true", nil, 200},
		{"problem", "POST", "/api/v1/problems", map[string]any{"title": "db-01 CPU saturation", "incidents": []string{"INC-000001"}, "root_cause": "missing index", "workaround": "kill the report job"}, 201},
		{"known error", "POST", "/api/v1/problems/PRB-000001/transition", map[string]any{"to": "known_error"}, 200},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			var out map[string]any
			if got := call(t, srv, s.method, s.path, s.body, &out); got != s.status {
				t.Errorf("status %d, want %d (%v)", got, s.status, out)
			}
		})
	}
	var list struct {
		Items []incident.Summary `json:"items"`
	}
	call(t, srv, "GET", "/api/v1/incidents?status=in_progress&major=true", nil, &list)
	if len(list.Items) != 1 || list.Items[0].SupportCost != 40 {
		t.Errorf("list = %+v", list.Items)
	}
	var ciView struct {
		Incidents  []incident.Summary `json:"incidents"`
		Problems   []string           `json:"problems"`
		Dependants []struct {
			Name      string             `json:"name"`
			Incidents []incident.Summary `json:"incidents"`
		} `json:"dependants"`
	}
	if st := call(t, srv, "GET", "/api/v1/cis/db-01/incidents", nil, &ciView); st != 200 {
		t.Fatalf("ci incidents: %d", st)
	}
	if len(ciView.Incidents) != 1 || len(ciView.Problems) != 1 || len(ciView.Dependants) != 1 || ciView.Dependants[0].Name != "billing" {
		t.Errorf("CI view = %+v", ciView)
	}
	// A new incident on the same host is offered the known error.
	call(t, srv, "POST", "/api/v1/incidents", map[string]any{"short_description": "10.1.2.3 unresponsive", "category": "hardware"}, &view)
	if len(view.KnownErrors) != 1 || view.KnownErrors[0].Number != "PRB-000001" {
		t.Errorf("known errors on a new incident = %+v", view.KnownErrors)
	}
}

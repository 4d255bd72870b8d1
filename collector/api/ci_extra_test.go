package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"parc/cmdb"
	"parc/cmdb/store"
	"parc/cmdb/store/teststore"
	"parc/collector/api"
)

var t0 = time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)

func graphServer(t *testing.T) *httptest.Server {
	t.Helper()
	st := teststore.Open(t)
	g := cmdb.NewGraph(st)
	step := func(at time.Time, fn func(tx *cmdb.Tx) error) {
		if _, err := st.Update(context.Background(), func(stx store.Txn) error {
			return fn(cmdb.NewTx(context.Background(), stx, "user:test", at))
		}); err != nil {
			t.Fatal(err)
		}
	}
	host := &cmdb.CI{ID: "01APIHOST00000000000000000", Class: cmdb.ClassComputer, Name: "app-01",
		Identifiers: map[string][]string{"hostname": {"app-01"}},
		Attrs:       map[string]cmdb.Attr{"os_name": {Value: "debian", Source: cmdb.SourceAgent}}}
	svc := &cmdb.CI{ID: "01APISVC000000000000000000", Class: cmdb.ClassService, Name: "shop"}
	step(t0, func(tx *cmdb.Tx) error {
		if _, err := tx.PutCI(nil, host); err != nil {
			return err
		}
		if _, err := tx.PutCI(nil, svc); err != nil {
			return err
		}
		return tx.PutRel(cmdb.Relationship{From: svc.ID, To: host.ID, Type: cmdb.RelRunsOn, Source: cmdb.SourceManual})
	})
	step(t0.Add(time.Hour), func(tx *cmdb.Tx) error {
		next := *host
		next.Name = "app-01b"
		_, err := tx.PutCI(host, &next)
		return err
	})
	srv := httptest.NewServer(api.New(api.Config{Graph: g, Extra: api.GraphRoutes(g)}).Handler())
	t.Cleanup(srv.Close)
	return srv
}

func TestGraphRoutes(t *testing.T) {
	srv := graphServer(t)
	cases := []struct {
		name   string
		path   string
		status int
		check  func(t *testing.T, body map[string]any)
	}{
		{"as of before the rename", "/api/v1/cis/app-01b/asof?at=" + url.QueryEscape(t0.Add(time.Minute).Format(time.RFC3339)), 200,
			func(t *testing.T, b map[string]any) {
				if b["ci"].(map[string]any)["name"] != "app-01" || len(b["edges"].([]any)) != 1 {
					t.Errorf("body = %v", b)
				}
			}},
		{"as of before creation", "/api/v1/cis/app-01b/asof?at=2020-01-01", 404, nil},
		{"as of without a time", "/api/v1/cis/app-01b/asof", 400, nil},
		{"as of a bad time", "/api/v1/cis/app-01b/asof?at=yesterday-ish", 400, nil},
		{"diff", "/api/v1/cis/app-01b/diff?from=" + url.QueryEscape(t0.Format(time.RFC3339)) + "&to=now", 200,
			func(t *testing.T, b map[string]any) {
				ch := b["changes"].([]any)
				if len(ch) == 0 || ch[0].(map[string]any)["field"] != "name" {
					t.Errorf("changes = %v", ch)
				}
			}},
		{"impact downstream with paths", "/api/v1/cis/app-01b/impact?direction=downstream&type=runs_on&depth=2", 200,
			func(t *testing.T, b map[string]any) {
				nodes := b["nodes"].([]any)
				if len(nodes) != 1 || nodes[0].(map[string]any)["name"] != "shop" || len(nodes[0].(map[string]any)["path"].([]any)) != 2 {
					t.Errorf("nodes = %v", nodes)
				}
			}},
		{"impact bad direction", "/api/v1/cis/app-01b/impact?direction=sideways", 400, nil},
		{"impact bad depth", "/api/v1/cis/app-01b/impact?depth=0", 400, nil},
		{"impact unknown CI", "/api/v1/cis/nothing/impact", 404, nil},
		{"search by class", "/api/v1/search?class=service", 200,
			func(t *testing.T, b map[string]any) {
				if items := b["items"].([]any); len(items) != 1 || b["next"] != "" {
					t.Errorf("body = %v", b)
				}
			}},
		{"search by attribute, identifier and text", "/api/v1/search?attr=os_name=Debian&ident=hostname=APP-01&q=app", 200,
			func(t *testing.T, b map[string]any) {
				if items := b["items"].([]any); len(items) != 1 {
					t.Errorf("items = %v", items)
				}
			}},
		{"search paging", "/api/v1/search?limit=1", 200,
			func(t *testing.T, b map[string]any) {
				if items := b["items"].([]any); len(items) != 1 || b["next"] == "" {
					t.Errorf("body = %v", b)
				}
			}},
		{"search by flag", "/api/v1/search?flag=stale", 200,
			func(t *testing.T, b map[string]any) {
				if items := b["items"].([]any); len(items) != 0 {
					t.Errorf("items = %v", items)
				}
			}},
		{"search bad attr", "/api/v1/search?attr=novalue", 400, nil},
		{"search bad limit", "/api/v1/search?limit=5000", 400, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := http.Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body map[string]any
			if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %v", res.StatusCode, tc.status, body)
			}
			if tc.check != nil {
				tc.check(t, body)
			}
		})
	}
}

package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"parc/cmdb"
	"parc/cmdb/licence"
	"parc/cmdb/lifecycle"
	"parc/cmdb/store"
	"parc/cmdb/store/teststore"
	"parc/collector/api"
)

func lifecycleServer(t *testing.T) (*httptest.Server, store.Store) {
	t.Helper()
	st := teststore.Open(t)
	norm, err := licence.DefaultNormalizer("")
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return t0 }
	extra := append(api.LifecycleRoutes(lifecycle.New(st, lifecycle.Config{}), now), api.LicenceRoutes(licence.NewService(st, norm), st, now)...)
	srv := httptest.NewServer(api.New(api.Config{Graph: cmdb.NewGraph(st), Extra: extra}).Handler())
	t.Cleanup(srv.Close)
	return srv, st
}

func postCSV(t *testing.T, srv *httptest.Server, path, body string, out any) int {
	t.Helper()
	res, err := http.Post(srv.URL+path, "text/csv", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil {
		_ = json.NewDecoder(res.Body).Decode(out)
	}
	return res.StatusCode
}

func getText(t *testing.T, srv *httptest.Server, path string) (int, string) {
	t.Helper()
	res, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestLifecycleRoutes(t *testing.T) {
	srv, st := lifecycleServer(t)
	var ci cmdb.CI
	if code := call(t, srv, "POST", "/api/v1/assets", map[string]any{"asset_tag": "AT-1", "vendor": "Dell", "serial": "S1", "cost": 1200,
		"purchase_date": "2025-04-01", "warranty_end": "2026-04-20", "owner": "ann"}, &ci); code != http.StatusCreated {
		t.Fatalf("create asset: %d", code)
	}
	if code := call(t, srv, "POST", "/api/v1/assets", map[string]any{"asset_tag": "AT-1"}, nil); code != http.StatusConflict {
		t.Errorf("duplicate asset: %d", code)
	}
	if code := call(t, srv, "POST", "/api/v1/assets", map[string]any{"asset_tag": "AT-2", "colour": "red"}, nil); code != http.StatusBadRequest {
		t.Errorf("unknown field: %d", code)
	}
	steps := []struct {
		name string
		body map[string]any
		want int
	}{
		{"skip ahead", map[string]any{"to": "maintain", "maintenance": map[string]any{"kind": "preventive"}}, http.StatusConflict},
		{"acquire", map[string]any{"to": "acquire"}, http.StatusOK},
		{"unknown state", map[string]any{"to": "lost"}, http.StatusBadRequest},
		{"use", map[string]any{"to": "use"}, http.StatusOK},
		{"maintain", map[string]any{"to": "maintain", "maintenance": map[string]any{"kind": "preventive", "description": "fans"}}, http.StatusOK},
	}
	for _, s := range steps {
		if code := call(t, srv, "POST", "/api/v1/cis/AT-1/transition", s.body, nil); code != s.want {
			t.Errorf("%s: %d, want %d", s.name, code, s.want)
		}
	}
	var view api.LifecycleView
	if code := call(t, srv, "GET", "/api/v1/cis/AT-1/lifecycle", nil, &view); code != http.StatusOK || view.State != "maintain" || len(view.Maintenance) != 1 {
		t.Errorf("lifecycle view: %d %+v", code, view)
	}
	var fin lifecycle.Finance
	if code := call(t, srv, "GET", "/api/v1/assets/AT-1/finance", nil, &fin); code != http.StatusOK || fin.Cost != 1200 || fin.BookValue < 899 || fin.BookValue > 901 {
		t.Errorf("finance: %d %+v", code, fin)
	}
	var due struct {
		Items []lifecycle.DueItem `json:"items"`
	}
	if code := call(t, srv, "GET", "/api/v1/lifecycle/due?days=30", nil, &due); code != http.StatusOK || len(due.Items) != 1 || due.Items[0].DaysLeft != 19 {
		t.Errorf("due: %d %+v", code, due)
	}
	if code := call(t, srv, "GET", "/api/v1/lifecycle/due?days=-1", nil, nil); code != http.StatusBadRequest {
		t.Errorf("bad days: %d", code)
	}

	// CSV import: row errors are a 422 listing lines, and write nothing.
	rev := countKeys(t, st)
	var imp struct {
		Error  string                 `json:"error"`
		Result lifecycle.ImportResult `json:"result"`
	}
	if code := postCSV(t, srv, "/api/v1/assets/import", "asset_tag,cost\nAT-5,12\nAT-6,x\n", &imp); code != http.StatusUnprocessableEntity || len(imp.Result.Errors) != 1 || imp.Result.Errors[0].Line != 3 {
		t.Fatalf("bad import: %d %+v", code, imp)
	}
	if after := countKeys(t, st); after != rev {
		t.Error("failed import wrote")
	}
	// The cost entered by hand outranks an import's: the plan says so.
	if code := postCSV(t, srv, "/api/v1/assets/import?dry_run=true", "asset_tag,cost\nAT-5,12\nAT-1,1300\n", &imp); code != http.StatusOK || imp.Result.Create != 1 || imp.Result.Unchanged != 1 ||
		imp.Result.Done != 0 || len(imp.Result.Plan) != 2 || len(imp.Result.Plan[1].Kept) != 1 {
		t.Fatalf("dry run: %d %+v", code, imp)
	}
	if code := postCSV(t, srv, "/api/v1/assets/import", "asset_tag,cost\nAT-5,12\nAT-1,1300\n", &imp); code != http.StatusOK || !imp.Result.Complete {
		t.Fatalf("import: %d %+v", code, imp)
	}
	code, body := getText(t, srv, "/api/v1/assets/export")
	if code != http.StatusOK || !strings.Contains(body, "AT-5") || !strings.HasPrefix(body, "id,asset_tag,serial") {
		t.Errorf("export: %d %q", code, body)
	}
	code, body = getText(t, srv, "/api/v1/reports/assets?format=csv")
	if code != http.StatusOK || !strings.Contains(body, "total,,2,1212.00") {
		t.Errorf("report csv: %d %q", code, body)
	}
	var rep lifecycle.Report
	if code := call(t, srv, "GET", "/api/v1/reports/assets", nil, &rep); code != http.StatusOK || rep.Totals.Assets != 2 {
		t.Errorf("report: %d %+v", code, rep)
	}
}

func TestLicenceRoutes(t *testing.T) {
	srv, st := lifecycleServer(t)
	var e licence.Entitlement
	if code := call(t, srv, "POST", "/api/v1/licences", map[string]any{"name": "Office", "product": "Microsoft Office Professional Plus 2021",
		"metric": "device", "seats": 1}, &e); code != http.StatusCreated || e.Title != "microsoft office" {
		t.Fatalf("create: %d %+v", code, e)
	}
	if code := call(t, srv, "POST", "/api/v1/licences", map[string]any{"name": "Bad", "product": "x", "metric": "socket", "seats": 1}, nil); code != http.StatusBadRequest {
		t.Errorf("bad metric: %d", code)
	}
	_, err := st.Update(context.Background(), func(stx store.Txn) error {
		tx := cmdb.NewTx(context.Background(), stx, "test", t0)
		for _, h := range []string{"h1", "h2"} {
			if _, err := tx.PutCI(nil, &cmdb.CI{ID: h, Class: cmdb.ClassComputer, Name: "pc-" + h}); err != nil {
				return err
			}
			if _, err := tx.PutSoftware(h, cmdb.SoftwareRecord{Items: []cmdb.Installed{{Title: "microsoft office", Name: "Microsoft Office", Version: "16"}}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var rep licence.Report
	if code := call(t, srv, "GET", "/api/v1/licences/compliance", nil, &rep); code != http.StatusOK || rep.Summary.OverDeployed != 1 || len(rep.Unlicensed) != 1 {
		t.Errorf("compliance: %d %+v", code, rep)
	}
	code, body := getText(t, srv, "/api/v1/licences/compliance?format=csv")
	if code != http.StatusOK || !strings.Contains(body, "Office,microsoft office,device,1,1,0,1,2,over_deployed") {
		t.Errorf("compliance csv: %d %q", code, body)
	}
	if code := call(t, srv, "GET", "/api/v1/licences/Office", nil, &e); code != http.StatusOK {
		t.Errorf("get: %d", code)
	}
	if code := call(t, srv, "PUT", "/api/v1/licences/Office", map[string]any{"name": "Office", "product": "Microsoft Office", "metric": "device", "seats": 5}, &e); code != http.StatusOK || e.Seats != 5 {
		t.Errorf("update: %d %+v", code, e)
	}
	code, body = getText(t, srv, "/api/v1/licences/export")
	if code != http.StatusOK || !strings.Contains(body, "Office,microsoft office") {
		t.Errorf("export: %d %q", code, body)
	}
	var imp struct {
		Result licence.ImportResult `json:"result"`
	}
	if code := postCSV(t, srv, "/api/v1/licences/import", body, &imp); code != http.StatusOK || imp.Result.Unchanged != 1 {
		t.Errorf("re-import export: %d %+v", code, imp)
	}
	var title map[string]string
	if code := call(t, srv, "GET", "/api/v1/software/title?name=Mozilla+Firefox+120.0+(x64+en-US)", nil, &title); code != http.StatusOK || title["title"] != "mozilla firefox" {
		t.Errorf("title: %d %v", code, title)
	}
	if code := call(t, srv, "DELETE", "/api/v1/licences/Office", nil, nil); code != http.StatusNoContent {
		t.Errorf("delete: %d", code)
	}
	_ = bytes.NewReader
}

// countKeys counts every key of the test's store, to check that a refused
// operation wrote nothing.
func countKeys(t *testing.T, st store.Store) int {
	t.Helper()
	kvs, err := st.Scan(context.Background(), store.Range{Start: []byte{0}, End: []byte{0xff}})
	if err != nil {
		t.Fatal(err)
	}
	return len(kvs)
}

package cli_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"parc/cmdb"
	"parc/cmdb/change"
	"parc/cmdb/store"
	"parc/cmdb/store/teststore"
	"parc/collector/api"
	"parc/collector/cli"
)

func changeAPI(t *testing.T) string {
	t.Helper()
	st := teststore.Open(t)
	g := cmdb.NewGraph(st)
	web := &cmdb.CI{ID: "01CLICHGWEB000000000000000", Class: cmdb.ClassComputer, Name: "web-01"}
	shop := &cmdb.CI{ID: "01CLICHGSHOP00000000000000", Class: cmdb.ClassService, Name: "shop",
		Attrs: map[string]cmdb.Attr{"criticality": {Value: "critical"}, "owner": {Value: "alice"}}}
	if _, err := st.Update(context.Background(), func(stx store.Txn) error {
		tx := cmdb.NewTx(context.Background(), stx, "user:test", time.Now())
		for _, c := range []*cmdb.CI{web, shop} {
			if _, err := tx.PutCI(nil, c); err != nil {
				return err
			}
		}
		return tx.PutRel(cmdb.Relationship{From: shop.ID, To: web.ID, Type: cmdb.RelRunsOn, Source: cmdb.SourceManual})
	}); err != nil {
		t.Fatal(err)
	}
	svc := change.New(g, change.Config{})
	srv := httptest.NewServer(api.New(api.Config{Graph: g, Auth: bearerIsUser{}, Extra: api.ChangeRoutes(svc, g)}).Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// bearerIsUser admits every request as the user its bearer token names.
type bearerIsUser struct{}

func (bearerIsUser) Authorize(r *http.Request, _ string) (string, error) {
	if u := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "); u != "" {
		return u, nil
	}
	return "anonymous", nil
}

func TestChangeCommands(t *testing.T) {
	base := changeAPI(t)
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := cli.Main(context.Background(), append([]string{"--api", base}, args...), &out, &errb, func(string) string { return "" })
		return code, out.String(), errb.String()
	}
	start := time.Now().Add(48 * time.Hour).Format("2006-01-02 15:04")
	end := time.Now().Add(50 * time.Hour).Format("2006-01-02 15:04")
	steps := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"create", []string{"change", "create", "--title", "upgrade nginx", "--ci", "web-01", "--start", start, "--end", end,
			"--plan", "apt install nginx", "--expect", "web-01:software=nginx>=1.24"}, 0, "CHG-000001"},
		{"bad expectation", []string{"change", "create", "--title", "x", "--ci", "web-01", "--expect", "web-01:nginx"}, 2, "want CI:software"},
		{"half window", []string{"change", "create", "--title", "x", "--ci", "web-01", "--start", start}, 2, "both --start and --end"},
		{"show", []string{"change", "show", "CHG-000001"}, 0, "nginx ≥ 1.24"},
		{"freeze", []string{"change", "freeze", "add", "--name", "year end", "--start", start, "--end", end}, 0, "added"},
		{"freeze list", []string{"change", "freeze", "list"}, 0, "year end"},
		{"submit", []string{"change", "submit", "CHG-000001"}, 0, "authorize"},
		{"impact", []string{"change", "impact", "CHG-000001"}, 0, "shop (owner alice)"},
		{"impact shows freeze", []string{"change", "impact", "CHG-000001"}, 0, "Freeze windows violated"},
		{"impact fresh", []string{"change", "impact", "CHG-000001", "--fresh"}, 0, "live analysis"},
		{"approve", []string{"--token", "mike", "change", "approve", "CHG-000001", "--comment", "ok"}, 0, "approved"},
		{"second approval", []string{"--token", "bob", "change", "approve", "CHG-000001"}, 0, "approved"},
		{"schedule blocked", []string{"change", "schedule", "CHG-000001"}, 1, "missing owner alice"},
		{"list", []string{"change", "list", "--open"}, 0, "upgrade nginx"},
		{"list json", []string{"-o", "json", "change", "list"}, 0, `"number": "CHG-000001"`},
		{"reject needs comment", []string{"change", "reject", "CHG-000001"}, 1, "needs a comment"},
		{"cancel", []string{"change", "cancel", "CHG-000001", "--note", "later"}, 0, "cancelled"},
		{"template", []string{"change", "template", "put", "cert", "--title", "renew cert", "--backout", "old cert", "--expect", "attr=cert_expiry=2027"}, 0, "saved"},
		{"template list", []string{"change", "template", "list"}, 0, "renew cert"},
		{"control", []string{"change", "control", "web-01", "--open-incident"}, 0, "change-controlled: true"},
		{"drift", []string{"change", "drift"}, 0, "KIND"},
		{"rules", []string{"change", "rules"}, 0, "normal-high"},
		{"review report", []string{"change", "review", "CHG-000001"}, 0, "Review of CHG-000001"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			code, out, errOut := run(s.args...)
			if code != s.code || !strings.Contains(out+errOut, s.want) {
				t.Errorf("exit %d (want %d), output:\n%s%s\nwant %q", code, s.code, out, errOut, s.want)
			}
		})
	}
}

package cli_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"parc/cmdb"
	"parc/cmdb/store"
	"parc/cmdb/store/teststore"
	"parc/collector/api"
	"parc/collector/cli"
)

func graphAPI(t *testing.T) string {
	t.Helper()
	st := teststore.Open(t)
	g := cmdb.NewGraph(st)
	t0 := time.Now().Add(-48 * time.Hour).UTC()
	step := func(at time.Time, fn func(tx *cmdb.Tx) error) {
		if _, err := st.Update(context.Background(), func(stx store.Txn) error {
			return fn(cmdb.NewTx(context.Background(), stx, "user:test", at))
		}); err != nil {
			t.Fatal(err)
		}
	}
	host := &cmdb.CI{ID: "01CLIHOST00000000000000000", Class: cmdb.ClassComputer, Name: "db-01",
		Attrs: map[string]cmdb.Attr{"os_name": {Value: "debian", Source: cmdb.SourceAgent}}}
	svc := &cmdb.CI{ID: "01CLISVC000000000000000000", Class: cmdb.ClassService, Name: "postgres on db-01:5432"}
	web := &cmdb.CI{ID: "01CLIWEB000000000000000000", Class: cmdb.ClassComputer, Name: "web-01"}
	step(t0, func(tx *cmdb.Tx) error {
		for _, c := range []*cmdb.CI{host, svc, web} {
			if _, err := tx.PutCI(nil, c); err != nil {
				return err
			}
		}
		if err := tx.PutRel(cmdb.Relationship{From: svc.ID, To: host.ID, Type: cmdb.RelRunsOn, Source: cmdb.SourceAgent}); err != nil {
			return err
		}
		return tx.PutRel(cmdb.Relationship{From: web.ID, To: svc.ID, Type: cmdb.RelDependsOn, Source: cmdb.SourceAgent})
	})
	step(t0.Add(24*time.Hour), func(tx *cmdb.Tx) error {
		next := *host
		next.Attrs = map[string]cmdb.Attr{"os_name": {Value: "ubuntu", Source: cmdb.SourceAgent}}
		_, err := tx.PutCI(host, &next)
		return err
	})
	srv := httptest.NewServer(api.New(api.Config{Graph: g, Extra: api.GraphRoutes(g)}).Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestCIExtraCommands(t *testing.T) {
	base := graphAPI(t)
	cases := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"show as of", []string{"ci", "show", "db-01", "--at", "36h"}, 0, []string{"as of", "os_name", "debian", "runs_on"}},
		{"show now", []string{"ci", "show", "db-01"}, 0, []string{"ubuntu"}},
		{"diff", []string{"ci", "diff", "db-01", "--from", "36h", "--to", "now"}, 0, []string{"attrs.os_name", "debian", "ubuntu", "user:test"}},
		{"diff needs --from", []string{"ci", "diff", "db-01"}, 2, nil},
		{"impact with paths", []string{"ci", "impact", "db-01", "--direction", "downstream"}, 0,
			[]string{"postgres on db-01:5432", "web-01", "db-01 → postgres on db-01:5432 → web-01", "2 CIs downstream"}},
		{"impact upstream with a type filter", []string{"ci", "impact", "web-01", "--direction", "upstream", "--type", "depends_on"}, 0,
			[]string{"postgres", "1 CIs upstream"}},
		{"impact json", []string{"-o", "json", "ci", "impact", "db-01"}, 0, []string{`"count_by_class"`}},
		{"search text", []string{"ci", "search", "postgres"}, 0, []string{"service", "postgres on db-01:5432"}},
		{"search attr and class", []string{"ci", "search", "--class", "computer", "--attr", "os_name=ubuntu"}, 0, []string{"db-01"}},
		{"search paging", []string{"ci", "search", "--limit", "1", "--all", "--class", "computer"}, 0, []string{"db-01", "web-01"}},
		{"search by flag finds nothing stale", []string{"-o", "json", "ci", "search", "--flag", "stale"}, 0, []string{`"items": []`}},
		{"unknown CI", []string{"ci", "impact", "nope"}, 1, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append([]string{"--api", base, "--token", "x"}, tc.args...)
			code := cli.Main(context.Background(), args, &out, &errb, func(string) string { return "" })
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out.String(), errb.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

package cli_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"parc/cmdb"
	"parc/cmdb/incident"
	"parc/cmdb/problem"
	"parc/cmdb/store"
	"parc/cmdb/store/teststore"
	"parc/collector/api"
	"parc/collector/cli"
)

func incidentAPI(t *testing.T) string {
	t.Helper()
	st := teststore.Open(t)
	g := cmdb.NewGraph(st)
	host := &cmdb.CI{ID: "01CLIINCHOST00000000000000", Class: cmdb.ClassComputer, Name: "mail-01", Identifiers: map[string][]string{"hostname": {"mail-01"}}}
	if _, err := st.Update(context.Background(), func(stx store.Txn) error {
		_, err := cmdb.NewTx(context.Background(), stx, "user:test", time.Now()).PutCI(nil, host)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	inc, prb := incident.New(st), problem.New(st)
	extra := append(api.IncidentRoutes(g, inc, prb, nil), api.ProblemRoutes(inc, prb, nil)...)
	srv := httptest.NewServer(api.New(api.Config{Graph: g, Extra: extra}).Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestIncidentCommands(t *testing.T) {
	base := incidentAPI(t)
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := cli.Main(context.Background(), append([]string{"--api", base}, args...), &out, &errb, func(string) string { return "" })
		return code, out.String(), errb.String()
	}
	steps := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"create", []string{"incident", "create", "--short", "mail-01 queue stuck", "--category", "software", "--urgency", "1"}, 0, "INC-000001"},
		{"text link shown", []string{"incident", "show", "INC-000001"}, 0, "text hostname=mail-01"},
		{"in progress needs assignee", []string{"incident", "transition", "INC-000001", "in_progress"}, 1, "needs an assignee"},
		{"assign", []string{"incident", "assign", "1", "--assignee", "ann"}, 0, "assigned"},
		{"comment", []string{"incident", "comment", "1", "restarting", "postfix"}, 0, "restarting postfix"},
		{"update", []string{"incident", "update", "1", "--major", "true", "--cost", "25"}, 0, "major"},
		{"bad flag value", []string{"incident", "update", "1", "--major", "maybe"}, 2, "true or false"},
		{"list", []string{"incident", "list", "--status", "assigned"}, 0, "mail-01 queue stuck"},
		{"ci view", []string{"ci", "incidents", "mail-01"}, 0, "INC-000001"},
		{"resolve", []string{"incident", "transition", "1", "resolved", "--note", "flushed"}, 0, "flushed"},
		{"problem", []string{"problem", "create", "--title", "postfix queue stalls", "--incident", "INC-000001", "--root-cause", "bad relay", "--workaround", "flush the queue"}, 0, "PRB-000001"},
		{"known error", []string{"problem", "transition", "PRB-000001", "known_error"}, 0, "known_error"},
		{"kedb", []string{"problem", "known-errors"}, 0, "flush the queue"},
		{"kpis", []string{"report", "kpis", "--from", "24h"}, 0, "first-contact resolution"},
		{"kpis json", []string{"-o", "json", "report", "kpis", "--from", "24h"}, 0, `"resolved": 1`},
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

package cli

import (
	"flag"
	"fmt"
	"net/url"
	"sort"
)

// reportCommands adds the report commands.
func reportCommands(r registry) {
	var from, to string
	r["report kpis"] = &Command{
		Usage: "report kpis --from TIME [--to TIME]",
		Help:  "service desk KPIs over a period: MTTA, MTTR, first-contact resolution, reopen rate, SLA compliance, first response, backlog",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&from, "from", "", "start: RFC 3339, 2006-01-02[ 15:04], or a duration ago (720h)")
			fs.StringVar(&to, "to", "", "end (default now)")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			if from == "" {
				return usageError{"--from is required"}
			}
			q := url.Values{"from": {from}}
			if to != "" {
				q.Set("to", to)
			}
			var k struct {
				From          string         `json:"from"`
				To            string         `json:"to"`
				Opened        int            `json:"opened"`
				Assigned      int            `json:"assigned"`
				Resolved      int            `json:"resolved"`
				ResolvedOnce  int            `json:"resolved_once"`
				Responded     int            `json:"responded"`
				MTTA          string         `json:"mean_time_to_assign"`
				MTTR          string         `json:"mean_time_to_resolve"`
				FCR           float64        `json:"first_contact_rate"`
				Reopen        float64        `json:"reopen_rate"`
				SLA           float64        `json:"sla_compliance_rate"`
				FirstResponse float64        `json:"first_response_rate"`
				Backlog       map[string]int `json:"backlog"`
			}
			raw, err := getRaw(e, "/reports/kpis?"+q.Encode(), &k)
			if err != nil {
				return err
			}
			if e.JSON {
				_, err := e.Out.Write(raw)
				return err
			}
			pct := func(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }
			fmt.Fprintf(e.Out, "KPIs from %s to %s\n", fmtTime(k.From), fmtTime(k.To))
			tw := table(e.Out)
			fmt.Fprintf(tw, "  opened\t%d\n", k.Opened)
			fmt.Fprintf(tw, "  mean time to assign\t%s\t(%d assigned)\n", k.MTTA, k.Assigned)
			fmt.Fprintf(tw, "  resolved\t%d\n", k.Resolved)
			fmt.Fprintf(tw, "  mean time to resolve\t%s\t(resolved only)\n", k.MTTR)
			fmt.Fprintf(tw, "  first-contact resolution\t%s\t(of %d resolved)\n", pct(k.FCR), k.Resolved)
			fmt.Fprintf(tw, "  reopen rate\t%s\t(of %d resolved in the period)\n", pct(k.Reopen), k.ResolvedOnce)
			fmt.Fprintf(tw, "  SLA compliance\t%s\t(of %d resolved)\n", pct(k.SLA), k.Resolved)
			fmt.Fprintf(tw, "  first-response SLA\t%s\t(of %d)\n", pct(k.FirstResponse), k.Responded)
			keys := make([]string, 0, len(k.Backlog))
			for p := range k.Backlog {
				keys = append(keys, p)
			}
			sort.Strings(keys)
			for _, p := range keys {
				fmt.Fprintf(tw, "  backlog %s\t%d\n", p, k.Backlog[p])
			}
			return tw.Flush()
		},
	}
}

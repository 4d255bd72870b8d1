package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"strings"

	"parc/collector/apiclient"
)

type dueJSON struct {
	Kind     string `json:"kind"`
	ID       string `json:"id"`
	Name     string `json:"name"`
	Date     string `json:"date"`
	DaysLeft int    `json:"days_left"`
	Detail   string `json:"detail"`
}

// lifecycleCommands adds the lifecycle, contract and asset report
// commands.
func lifecycleCommands(r registry) {
	r["lifecycle show"] = &Command{
		Usage: "lifecycle show REF",
		Help:  "a CI's lifecycle state, the states it may move to and its maintenance records",
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one CI"); err != nil {
				return err
			}
			var v struct {
				Name        string   `json:"name"`
				State       string   `json:"state"`
				Next        []string `json:"next"`
				Maintenance []struct {
					Kind        string `json:"kind"`
					Incident    string `json:"incident"`
					Description string `json:"description"`
					Scheduled   string `json:"scheduled"`
					Started     string `json:"started"`
					Ended       string `json:"ended"`
				} `json:"maintenance"`
			}
			raw, err := getRaw(e, "/cis/"+apiclient.PathEscape(args[0])+"/lifecycle", &v)
			if err != nil {
				return err
			}
			if e.JSON {
				_, err := e.Out.Write(raw)
				return err
			}
			fmt.Fprintf(e.Out, "%s: %s (next: %s)\n", clean(v.Name), v.State, dash(strings.Join(v.Next, ", ")))
			if len(v.Maintenance) > 0 {
				fmt.Fprintln(e.Out, "\nMaintenance:")
				tw := table(e.Out)
				fmt.Fprintln(tw, "  KIND\tINCIDENT\tSTARTED\tENDED\tDESCRIPTION")
				for _, m := range v.Maintenance {
					fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", m.Kind, dash(m.Incident), fmtTime(m.Started), dash(fmtTime(m.Ended)), clean(m.Description))
				}
				tw.Flush()
			}
			return nil
		},
	}
	var reason string
	r["lifecycle transition"] = &Command{
		Usage: "lifecycle transition REF STATE [--reason R]",
		Help:  "move a CI to another lifecycle state (plan, acquire, deploy, use, maintain, retire) through the transition table",
		Flags: func(fs *flag.FlagSet) { fs.StringVar(&reason, "reason", "", "why") },
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 2, "a CI and a state"); err != nil {
				return err
			}
			if args[1] == "maintain" {
				return usageError{"use `parc lifecycle maintain` to start maintenance"}
			}
			return showCI(e, "POST", "/cis/"+apiclient.PathEscape(args[0])+"/transition", map[string]any{"to": args[1], "reason": reason})
		},
	}
	var retireReason string
	r["lifecycle retire"] = &Command{
		Usage: "lifecycle retire REF [--reason R]",
		Help:  "retire a CI (refused while incidents or changes on it are open); the CI and its history stay",
		Flags: func(fs *flag.FlagSet) { fs.StringVar(&retireReason, "reason", "", "why") },
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one CI"); err != nil {
				return err
			}
			return showCI(e, "POST", "/cis/"+apiclient.PathEscape(args[0])+"/transition", map[string]any{"to": "retire", "reason": retireReason})
		},
	}
	var kind, incident, scheduled, note string
	r["lifecycle maintain"] = &Command{
		Usage: "lifecycle maintain REF --kind preventive|reactive [--incident INC-…] [--scheduled YYYY-MM-DD] [--note TEXT]",
		Help:  "put a CI in maintenance: preventive (scheduled) or reactive (answering an incident); `lifecycle transition REF use` ends it",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&kind, "kind", "", "preventive or reactive")
			fs.StringVar(&incident, "incident", "", "incident number (reactive)")
			fs.StringVar(&scheduled, "scheduled", "", "planned date (preventive)")
			fs.StringVar(&note, "note", "", "what is done")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one CI"); err != nil {
				return err
			}
			return showCI(e, "POST", "/cis/"+apiclient.PathEscape(args[0])+"/transition", map[string]any{"to": "maintain",
				"maintenance": map[string]any{"kind": kind, "incident": incident, "scheduled": scheduled, "description": note}})
		},
	}
	var repl assetFlags
	var renewReason string
	r["lifecycle renew"] = &Command{
		Usage: "lifecycle renew REF [--name N] [--model M] [--vendor V] [--serial S] [--tag T] [--cost C] [--reason R]",
		Help:  "retire an asset and plan its replacement, linked by replaced_by (unset fields come from the old asset)",
		Flags: func(fs *flag.FlagSet) {
			repl.register(fs, true)
			fs.StringVar(&renewReason, "reason", "", "why")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one asset"); err != nil {
				return err
			}
			var v struct {
				Retired     ciJSON `json:"retired"`
				Replacement ciJSON `json:"replacement"`
			}
			var raw json.RawMessage
			if err := e.Client.Do(e.Ctx, "POST", "/cis/"+apiclient.PathEscape(args[0])+"/renew", map[string]any{"reason": renewReason, "replacement": repl.body()}, &raw); err != nil {
				return err
			}
			if e.JSON {
				_, err := e.Out.Write(raw)
				return err
			}
			if err := json.Unmarshal(raw, &v); err != nil {
				return err
			}
			fmt.Fprintf(e.Out, "retired %s (%s); planned %s (%s)\n", clean(v.Retired.Name), v.Retired.ID, clean(v.Replacement.Name), v.Replacement.ID)
			return nil
		},
	}
	var days int
	var dueCSV bool
	r["lifecycle due"] = &Command{
		Usage: "lifecycle due [--days N] [--csv]",
		Help:  "warranties, contracts and licences ending within N days",
		Flags: func(fs *flag.FlagSet) {
			fs.IntVar(&days, "days", 30, "horizon in days")
			fs.BoolVar(&dueCSV, "csv", false, "CSV output")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			q := url.Values{"days": {fmt.Sprint(days)}}
			if dueCSV {
				q.Set("format", "csv")
				return getText(e, "/lifecycle/due?"+q.Encode())
			}
			var v struct {
				Items []dueJSON `json:"items"`
			}
			raw, err := getRaw(e, "/lifecycle/due?"+q.Encode(), &v)
			if err != nil {
				return err
			}
			if e.JSON {
				_, err := e.Out.Write(raw)
				return err
			}
			if len(v.Items) == 0 {
				fmt.Fprintf(e.Out, "nothing ends within %d days\n", days)
				return nil
			}
			printDue(e, v.Items)
			return nil
		},
	}
	var c struct {
		name, kind, supplier, start, renewal string
		cost                                 float64
		seats                                int64
		assets                               multiFlag
	}
	r["contract create"] = &Command{
		Usage: "contract create --name N --kind support|lease|maintenance|warranty|saas --renewal YYYY-MM-DD [--cost C] [--supplier S] [--seats N] [--asset REF ...]",
		Help:  "record a contract or SaaS subscription covering assets",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&c.name, "name", "", "name")
			fs.StringVar(&c.kind, "kind", "", "support, lease, maintenance, warranty or saas")
			fs.StringVar(&c.supplier, "supplier", "", "supplier")
			fs.StringVar(&c.start, "start", "", "start date")
			fs.StringVar(&c.renewal, "renewal", "", "end or renewal date")
			fs.Float64Var(&c.cost, "cost", 0, "cost of one term")
			fs.Int64Var(&c.seats, "seats", 0, "seats of a subscription")
			c.assets = nil
			fs.Var(&c.assets, "asset", "an asset it covers (repeatable)")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments (flags only)"); err != nil {
				return err
			}
			return showCI(e, "POST", "/contracts", map[string]any{"name": c.name, "kind": c.kind, "supplier": c.supplier, "start": c.start,
				"renewal": c.renewal, "cost": c.cost, "seats": c.seats, "assets": []string(c.assets)})
		},
	}
	var unlink bool
	r["contract link"] = &Command{
		Usage: "contract link CONTRACT ASSET [--unlink]",
		Help:  "make a contract cover an asset (or stop)",
		Flags: func(fs *flag.FlagSet) { fs.BoolVar(&unlink, "unlink", false, "remove the link") },
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 2, "a contract and an asset"); err != nil {
				return err
			}
			var raw json.RawMessage
			if err := e.Client.Do(e.Ctx, "POST", "/contracts/"+apiclient.PathEscape(args[0])+"/assets", map[string]any{"asset": args[1], "unlink": unlink}, &raw); err != nil {
				return err
			}
			if e.JSON {
				_, err := e.Out.Write(raw)
				return err
			}
			verb := "now covers"
			if unlink {
				verb = "no longer covers"
			}
			fmt.Fprintf(e.Out, "%s %s %s\n", clean(args[0]), verb, clean(args[1]))
			return nil
		},
	}
	var repDays int
	var repCSV bool
	var section string
	r["report assets"] = &Command{
		Usage: "report assets [--days N] [--csv [--section groups|warranties|licences]]",
		Help:  "assets by state, class, location and owner; book value; warranties ending within N days; licence compliance summary",
		Flags: func(fs *flag.FlagSet) {
			fs.IntVar(&repDays, "days", 90, "warranty horizon in days")
			fs.BoolVar(&repCSV, "csv", false, "CSV output of one section")
			fs.StringVar(&section, "section", "groups", "CSV section: groups (state, class, location, owner, total), warranties or licences")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			q := url.Values{"days": {fmt.Sprint(repDays)}}
			if repCSV {
				q.Set("format", "csv")
				q.Set("section", section)
				return getText(e, "/reports/assets?"+q.Encode())
			}
			type count struct {
				Key       string  `json:"key"`
				Assets    int     `json:"assets"`
				Cost      float64 `json:"cost"`
				BookValue float64 `json:"book_value"`
			}
			var v struct {
				ByState    []count   `json:"by_state"`
				ByClass    []count   `json:"by_class"`
				ByLocation []count   `json:"by_location"`
				ByOwner    []count   `json:"by_owner"`
				Warranties []dueJSON `json:"warranties_expiring"`
				Totals     struct {
					Assets      int     `json:"assets"`
					Cost        float64 `json:"cost"`
					BookValue   float64 `json:"book_value"`
					Depreciated float64 `json:"depreciated"`
				} `json:"totals"`
				Licences *struct {
					Licences     int   `json:"licences"`
					Compliant    int   `json:"compliant"`
					OverDeployed int   `json:"over_deployed"`
					Expired      int   `json:"expired"`
					UnusedSeats  int64 `json:"unused_seats"`
					Unlicensed   int   `json:"unlicensed_installs"`
				} `json:"licences"`
			}
			raw, err := getRaw(e, "/reports/assets?"+q.Encode(), &v)
			if err != nil {
				return err
			}
			if e.JSON {
				_, err := e.Out.Write(raw)
				return err
			}
			fmt.Fprintf(e.Out, "%d assets, cost %.2f, book value %.2f (%.2f depreciated)\n", v.Totals.Assets, v.Totals.Cost, v.Totals.BookValue, v.Totals.Depreciated)
			for _, g := range []struct {
				title string
				cs    []count
			}{{"state", v.ByState}, {"class", v.ByClass}, {"location", v.ByLocation}, {"owner", v.ByOwner}} {
				fmt.Fprintf(e.Out, "\nBy %s:\n", g.title)
				tw := table(e.Out)
				fmt.Fprintln(tw, "  "+strings.ToUpper(g.title)+"\tASSETS\tCOST\tBOOK VALUE")
				for _, c := range g.cs {
					fmt.Fprintf(tw, "  %s\t%d\t%.2f\t%.2f\n", clean(c.Key), c.Assets, c.Cost, c.BookValue)
				}
				tw.Flush()
			}
			fmt.Fprintf(e.Out, "\nWarranties ending within %d days: %d\n", repDays, len(v.Warranties))
			if len(v.Warranties) > 0 {
				printDue(e, v.Warranties)
			}
			if l := v.Licences; l != nil {
				fmt.Fprintf(e.Out, "\nLicences: %d (%d compliant, %d over-deployed, %d expired), %d unused seats, %d unlicensed installs\n",
					l.Licences, l.Compliant, l.OverDeployed, l.Expired, l.UnusedSeats, l.Unlicensed)
			}
			return nil
		},
	}
}

func printDue(e *Env, items []dueJSON) {
	tw := table(e.Out)
	fmt.Fprintln(tw, "DATE\tDAYS\tKIND\tNAME\tDETAIL")
	for _, d := range items {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", d.Date, d.DaysLeft, d.Kind, clean(d.Name), clean(d.Detail))
	}
	tw.Flush()
}

package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/url"

	"parc/collector/apiclient"
)

type licenceJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Title     string `json:"title"`
	Publisher string `json:"publisher"`
	Versions  []struct {
		Op      string `json:"op"`
		Version string `json:"version"`
	} `json:"versions"`
	Metric   string  `json:"metric"`
	Seats    int64   `json:"seats"`
	Expiry   string  `json:"expiry"`
	Cost     float64 `json:"cost"`
	Supplier string  `json:"supplier"`
}

func (l licenceJSON) versions() string {
	s := ""
	for i, c := range l.Versions {
		if i > 0 {
			s += ","
		}
		if c.Op != "prefix" {
			s += c.Op
		}
		s += c.Version
	}
	return dash(s)
}

type licenceFlags struct {
	name, product, publisher, versions, metric, expiry, supplier string
	seats                                                        int64
	cost                                                         float64
}

func (l *licenceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.name, "name", "", "name of the licence (unique)")
	fs.StringVar(&l.product, "product", "", "product name; normalized to a software title")
	fs.StringVar(&l.publisher, "publisher", "", "publisher the installs must have (optional)")
	fs.StringVar(&l.versions, "versions", "", `version range, such as ">=16, <17" or "2019" (default: all)`)
	fs.StringVar(&l.metric, "metric", "device", "device, user, core or site")
	fs.Int64Var(&l.seats, "seats", 0, "seats (devices, users or cores)")
	fs.StringVar(&l.expiry, "expiry", "", "expiry date, YYYY-MM-DD (default: perpetual)")
	fs.Float64Var(&l.cost, "cost", 0, "cost")
	fs.StringVar(&l.supplier, "supplier", "", "supplier")
}

func (l *licenceFlags) body() map[string]any {
	return map[string]any{"name": l.name, "product": l.product, "publisher": l.publisher, "versions": l.versions,
		"metric": l.metric, "seats": l.seats, "expiry": l.expiry, "cost": l.cost, "supplier": l.supplier}
}

// licenceCommands adds the licence and software commands.
func licenceCommands(r registry) {
	r["licence list"] = &Command{
		Usage: "licence list",
		Help:  "list licence entitlements",
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			var v struct {
				Items []licenceJSON `json:"items"`
			}
			raw, err := getRaw(e, "/licences", &v)
			if err != nil {
				return err
			}
			if e.JSON {
				_, err := e.Out.Write(raw)
				return err
			}
			tw := table(e.Out)
			fmt.Fprintln(tw, "NAME\tTITLE\tVERSIONS\tMETRIC\tSEATS\tEXPIRY")
			for _, l := range v.Items {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", clean(l.Name), clean(l.Title), clean(l.versions()), l.Metric, l.Seats, dash(shortDate(l.Expiry)))
			}
			return tw.Flush()
		},
	}
	r["licence show"] = &Command{
		Usage: "licence show REF",
		Help:  "show a licence entitlement",
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one licence (id or name)"); err != nil {
				return err
			}
			return showLicence(e, "GET", "/licences/"+apiclient.PathEscape(args[0]), nil)
		},
	}
	var create, update licenceFlags
	r["licence create"] = &Command{
		Usage: "licence create --name N --product P [--publisher P] [--versions R] [--metric device|user|core|site] [--seats N] [--expiry D] [--cost C]",
		Help:  "record a licence entitlement",
		Flags: func(fs *flag.FlagSet) { create.register(fs) },
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments (flags only)"); err != nil {
				return err
			}
			return showLicence(e, "POST", "/licences", create.body())
		},
	}
	r["licence update"] = &Command{
		Usage: "licence update REF --name N --product P [...]",
		Help:  "replace a licence entitlement's fields",
		Flags: func(fs *flag.FlagSet) { update.register(fs) },
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one licence"); err != nil {
				return err
			}
			return showLicence(e, "PUT", "/licences/"+apiclient.PathEscape(args[0]), update.body())
		},
	}
	r["licence delete"] = &Command{
		Usage: "licence delete REF",
		Help:  "delete an entitlement (its licence CI is kept, retired)",
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one licence"); err != nil {
				return err
			}
			if err := e.Client.Do(e.Ctx, "DELETE", "/licences/"+apiclient.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(e.Err, "deleted %s\n", clean(args[0]))
			return nil
		},
	}
	var fresh, all, compCSV bool
	r["licence compliance"] = &Command{
		Usage: "licence compliance [--fresh] [--all] [--csv]",
		Help:  "per licence: seats used, unused, over-deployed; and the unlicensed installs of licensed products",
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&fresh, "fresh", false, "compute now instead of reading the report the collector keeps current")
			fs.BoolVar(&all, "all", false, "list every unlicensed install (default: the first 20)")
			fs.BoolVar(&compCSV, "csv", false, "CSV output (one row per licence)")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			q := url.Values{}
			if fresh {
				q.Set("fresh", "true")
			}
			if compCSV {
				q.Set("format", "csv")
				return getText(e, "/licences/compliance?"+q.Encode())
			}
			var v struct {
				At      string `json:"at"`
				Hosts   int    `json:"hosts"`
				Summary struct {
					Licences     int     `json:"licences"`
					Compliant    int     `json:"compliant"`
					OverDeployed int     `json:"over_deployed"`
					Expired      int     `json:"expired"`
					UnusedSeats  int64   `json:"unused_seats"`
					Unlicensed   int     `json:"unlicensed_installs"`
					Cost         float64 `json:"cost"`
				} `json:"summary"`
				Licences []struct {
					Name         string `json:"name"`
					Title        string `json:"title"`
					Metric       string `json:"metric"`
					Seats        int64  `json:"seats"`
					Used         int64  `json:"used"`
					Unused       int64  `json:"unused"`
					OverDeployed int64  `json:"over_deployed"`
					Status       string `json:"status"`
				} `json:"licences"`
				Unlicensed []struct {
					HostName string `json:"host_name"`
					Host     string `json:"host"`
					Title    string `json:"title"`
					Version  string `json:"version"`
					Reason   string `json:"reason"`
				} `json:"unlicensed"`
				Truncated bool `json:"unlicensed_truncated"`
			}
			raw, err := getRaw(e, "/licences/compliance?"+q.Encode(), &v)
			if err != nil {
				return err
			}
			if e.JSON {
				_, err := e.Out.Write(raw)
				return err
			}
			s := v.Summary
			fmt.Fprintf(e.Out, "%d licences: %d compliant, %d over-deployed, %d expired; %d unused seats; %d unlicensed installs (as of %s)\n\n",
				s.Licences, s.Compliant, s.OverDeployed, s.Expired, s.UnusedSeats, s.Unlicensed, fmtTime(v.At))
			tw := table(e.Out)
			fmt.Fprintln(tw, "LICENCE\tTITLE\tMETRIC\tSEATS\tUSED\tUNUSED\tOVER\tSTATUS")
			for _, l := range v.Licences {
				seats := fmt.Sprint(l.Seats)
				if l.Metric == "site" {
					seats = "site"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", clean(l.Name), clean(l.Title), l.Metric, seats, l.Used, l.Unused, l.OverDeployed, l.Status)
			}
			tw.Flush()
			if len(v.Unlicensed) > 0 {
				fmt.Fprintf(e.Out, "\nUnlicensed installs (%d):\n", s.Unlicensed)
				tw := table(e.Out)
				fmt.Fprintln(tw, "  HOST\tTITLE\tVERSION\tREASON")
				for i, u := range v.Unlicensed {
					if i == 20 && !all {
						fmt.Fprintf(tw, "  … %d more: --all, or -o json\n", s.Unlicensed-20)
						break
					}
					fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", clean(firstNonEmpty(u.HostName, u.Host)), clean(u.Title), clean(u.Version), u.Reason)
				}
				tw.Flush()
				if v.Truncated && all {
					fmt.Fprintln(e.Err, "the stored report lists the first 1000 unlicensed installs; --fresh lists the same")
				}
			}
			return nil
		},
	}
	var dry bool
	var batch int
	r["licence import"] = &Command{
		Usage: "licence import FILE.csv [--dry-run]",
		Help:  "import licence entitlements from CSV (keyed by name): all rows are checked first, and nothing is written if one is wrong",
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&dry, "dry-run", false, "check and preview without writing")
			fs.IntVar(&batch, "batch", 500, "rows written per request")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one CSV file (- for standard input)"); err != nil {
				return err
			}
			return runImport(e, "/licences/import", args[0], dry, batch)
		},
	}
	r["licence export"] = &Command{
		Usage: "licence export",
		Help:  "write every licence entitlement as CSV",
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			return getText(e, "/licences/export")
		},
	}
	var publisher string
	r["software title"] = &Command{
		Usage: "software title NAME [--publisher P]",
		Help:  "show the software title a package name normalizes to",
		Flags: func(fs *flag.FlagSet) { fs.StringVar(&publisher, "publisher", "", "publisher of the package") },
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one package name (quote it)"); err != nil {
				return err
			}
			var v map[string]string
			raw, err := getRaw(e, "/software/title?"+url.Values{"name": {args[0]}, "publisher": {publisher}}.Encode(), &v)
			if err != nil {
				return err
			}
			if e.JSON {
				_, err := e.Out.Write(raw)
				return err
			}
			fmt.Fprintln(e.Out, clean(v["title"]))
			return nil
		},
	}
}

func shortDate(s string) string {
	if len(s) >= 10 {
		return s[:10]
	}
	return s
}

func showLicence(e *Env, method, path string, body any) error {
	var raw json.RawMessage
	if err := e.Client.Do(e.Ctx, method, path, body, &raw); err != nil {
		return err
	}
	if e.JSON {
		_, err := e.Out.Write(raw)
		return err
	}
	var l licenceJSON
	if err := json.Unmarshal(raw, &l); err != nil {
		return err
	}
	tw := table(e.Out)
	fmt.Fprintf(tw, "%s\t(%s)\n", clean(l.Name), l.ID)
	fmt.Fprintf(tw, "  title\t%s\n", clean(l.Title))
	fmt.Fprintf(tw, "  publisher\t%s\n", dash(clean(l.Publisher)))
	fmt.Fprintf(tw, "  versions\t%s\n", clean(l.versions()))
	fmt.Fprintf(tw, "  metric\t%s\n", l.Metric)
	fmt.Fprintf(tw, "  seats\t%d\n", l.Seats)
	fmt.Fprintf(tw, "  expiry\t%s\n", dash(shortDate(l.Expiry)))
	fmt.Fprintf(tw, "  cost\t%.2f\n", l.Cost)
	fmt.Fprintf(tw, "  supplier\t%s\n", dash(clean(l.Supplier)))
	return tw.Flush()
}

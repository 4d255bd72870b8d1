package cli

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	"parc/collector/apiclient"
)

// multiFlag collects a repeatable flag's values.
type multiFlag []string

func (l *multiFlag) String() string     { return strings.Join(*l, ",") }
func (l *multiFlag) Set(v string) error { *l = append(*l, v); return nil }

type incidentSummaryJSON struct {
	Number           string   `json:"number"`
	ShortDescription string   `json:"short_description"`
	Status           string   `json:"status"`
	Priority         int      `json:"priority"`
	Category         string   `json:"category"`
	Assignee         string   `json:"assignee"`
	Group            string   `json:"group"`
	Major            bool     `json:"major"`
	Reported         string   `json:"reported"`
	CIs              []string `json:"cis"`
	Breached         bool     `json:"sla_breached"`
	NearBreach       bool     `json:"sla_near_breach"`
}

type incidentViewJSON struct {
	Incident struct {
		incidentSummaryJSON
		Description string `json:"description"`
		Impact      int    `json:"impact"`
		Urgency     int    `json:"urgency"`
		ImpactBasis *struct {
			Services   int `json:"services"`
			Dependants int `json:"dependants"`
		} `json:"impact_basis"`
		ImpactManual   bool    `json:"impact_manual"`
		Caller         string  `json:"caller"`
		OpenedBy       string  `json:"opened_by"`
		Occurred       string  `json:"occurred"`
		Recurring      bool    `json:"recurring"`
		Complex        bool    `json:"complex"`
		SupportCost    float64 `json:"support_cost"`
		CausedByChange string  `json:"caused_by_change"`
		Resolution     string  `json:"resolution"`
		RejectReason   string  `json:"reject_reason"`
		CIs            []struct {
			CI     string `json:"ci"`
			Name   string `json:"name"`
			Class  string `json:"class"`
			Source string `json:"source"`
			Match  string `json:"match"`
		} `json:"cis"`
		Services []struct {
			Name string `json:"name"`
		} `json:"services"`
		Timeline []struct {
			At    string `json:"at"`
			Actor string `json:"actor"`
			Kind  string `json:"kind"`
			Text  string `json:"text"`
			From  string `json:"from"`
			To    string `json:"to"`
		} `json:"timeline"`
	} `json:"incident"`
	SLA struct {
		Target struct {
			Response   string `json:"response"`
			Resolution string `json:"resolution"`
		} `json:"target"`
		ResponseElapsed    string `json:"response_elapsed"`
		ResolutionElapsed  string `json:"resolution_elapsed"`
		Running            bool   `json:"running"`
		ResponseBreached   bool   `json:"response_breached"`
		ResolutionBreached bool   `json:"resolution_breached"`
		NearBreach         bool   `json:"near_breach"`
	} `json:"sla"`
	Problems []struct {
		Number string `json:"number"`
		Title  string `json:"title"`
		Status string `json:"status"`
	} `json:"problems"`
	KnownErrors []struct {
		Number     string   `json:"number"`
		Title      string   `json:"title"`
		Workaround string   `json:"workaround"`
		Score      int      `json:"score"`
		Reasons    []string `json:"reasons"`
	} `json:"known_errors"`
}

// printIncident prints an incident view, or the raw JSON with -o json.
func printIncident(e *Env, raw []byte) error {
	if e.JSON {
		_, err := e.Out.Write(raw)
		return err
	}
	var v incidentViewJSON
	if err := (jsonRaw{raw}).decode(&v); err != nil {
		return err
	}
	in := v.Incident
	fmt.Fprintf(e.Out, "%s  P%d  %s  %s\n", in.Number, in.Priority, in.Status, clean(in.ShortDescription))
	tw := table(e.Out)
	impact := fmt.Sprint(in.Impact)
	if in.ImpactManual {
		impact += " (set by hand)"
	} else if in.ImpactBasis != nil {
		impact += fmt.Sprintf(" (derived: %d services, %d dependants)", in.ImpactBasis.Services, in.ImpactBasis.Dependants)
	}
	var flags []string
	for name, on := range map[string]bool{"major": in.Major, "recurring": in.Recurring, "complex": in.Complex} {
		if on {
			flags = append(flags, name)
		}
	}
	rows := [][2]string{
		{"category", in.Category}, {"impact", impact}, {"urgency", fmt.Sprint(in.Urgency)},
		{"assignee", strings.TrimSpace(in.Assignee + " " + in.Group)}, {"caller", in.Caller}, {"opened by", in.OpenedBy},
		{"occurred", fmtTime(in.Occurred)}, {"reported", fmtTime(in.Reported)}, {"flags", strings.Join(flags, ", ")},
		{"support cost", fmtCost(in.SupportCost)}, {"caused by change", in.CausedByChange},
		{"resolution", in.Resolution}, {"rejected because", in.RejectReason},
		{"SLA", fmt.Sprintf("response %s of %s, resolution %s of %s%s", v.SLA.ResponseElapsed, v.SLA.Target.Response,
			v.SLA.ResolutionElapsed, v.SLA.Target.Resolution, slaFlags(v.SLA.ResponseBreached, v.SLA.ResolutionBreached, v.SLA.NearBreach, v.SLA.Running))},
	}
	for _, r := range rows {
		if r[1] != "" {
			fmt.Fprintf(tw, "  %s\t%s\n", r[0], clean(r[1]))
		}
	}
	tw.Flush()
	if in.Description != "" {
		fmt.Fprintf(e.Out, "\n%s\n", clean(in.Description))
	}
	fmt.Fprintf(e.Out, "\nAffected CIs (%d):\n", len(in.CIs))
	tw = table(e.Out)
	for _, l := range in.CIs {
		how := l.Source
		if l.Match != "" {
			how += " " + l.Match
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", clean(l.Name), l.Class, l.CI, clean(how))
	}
	tw.Flush()
	if len(in.Services) > 0 {
		names := make([]string, len(in.Services))
		for i, s := range in.Services {
			names[i] = clean(s.Name)
		}
		fmt.Fprintf(e.Out, "Affected services: %s\n", strings.Join(names, ", "))
	}
	for _, p := range v.Problems {
		fmt.Fprintf(e.Out, "Problem: %s %s (%s)\n", p.Number, clean(p.Title), p.Status)
	}
	for _, k := range v.KnownErrors {
		fmt.Fprintf(e.Out, "Known error? %s %s — workaround: %s [%s]\n", k.Number, clean(k.Title), clean(k.Workaround), clean(strings.Join(k.Reasons, "; ")))
	}
	fmt.Fprintln(e.Out, "\nTimeline:")
	tw = table(e.Out)
	for _, t := range in.Timeline {
		what := t.Kind
		if t.From != "" || t.To != "" {
			what += " " + t.From + " → " + t.To
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", fmtTime(t.At), clean(t.Actor), what, clean(t.Text))
	}
	return tw.Flush()
}

func fmtCost(c float64) string {
	if c == 0 {
		return ""
	}
	return strconv.FormatFloat(c, 'f', 2, 64)
}

func slaFlags(resp, res, near, running bool) string {
	var f []string
	if resp {
		f = append(f, "response breached")
	}
	if res {
		f = append(f, "resolution breached")
	}
	if near {
		f = append(f, "near breach")
	}
	if !running {
		f = append(f, "clock stopped")
	}
	if len(f) == 0 {
		return ""
	}
	return " — " + strings.Join(f, ", ")
}

func printIncidentList(e *Env, raw []byte, items []incidentSummaryJSON) error {
	if e.JSON {
		_, err := e.Out.Write(raw)
		return err
	}
	tw := table(e.Out)
	fmt.Fprintln(tw, "NUMBER\tPRI\tSTATUS\tCATEGORY\tASSIGNEE\tSLA\tREPORTED\tSHORT DESCRIPTION")
	for _, s := range items {
		sla := ""
		switch {
		case s.Breached:
			sla = "breached"
		case s.NearBreach:
			sla = "near"
		}
		fmt.Fprintf(tw, "%s\tP%d\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Number, s.Priority, s.Status, clean(s.Category),
			clean(strings.TrimSpace(s.Assignee+" "+s.Group)), sla, fmtTime(s.Reported), clean(s.ShortDescription))
	}
	return tw.Flush()
}

// incidentCommands adds the incident commands and "ci incidents".
func incidentCommands(r registry) {
	var (
		short, desc, category, assignee, group, caller, change string
		impact, urgency                                        int
		cost                                                   float64
		cis                                                    multiFlag
		major, recurring, complex                              bool
	)
	r["incident create"] = &Command{
		Usage: "incident create --short TEXT --category C [--ci REF]... [--urgency N] [--impact N] [--assignee A] [--group G] ...",
		Help:  "open an incident (CIs named in its text link themselves; impact is derived from the graph unless given)",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&short, "short", "", "short description (required)")
			fs.StringVar(&desc, "desc", "", "description")
			fs.StringVar(&category, "category", "", "software, hardware, network, security or a configured one")
			fs.IntVar(&impact, "impact", 0, "impact 1 (high) to 3; 0 derives it from the graph")
			fs.IntVar(&urgency, "urgency", 0, "urgency 1 (high) to 3 (default: the middle level)")
			fs.StringVar(&assignee, "assignee", "", "assignee")
			fs.StringVar(&group, "group", "", "assignment group")
			fs.StringVar(&caller, "caller", "", "who reported it")
			fs.Var(&cis, "ci", "affected CI (id, name, hostname, serial, asset tag); repeatable")
			fs.BoolVar(&major, "major", false, "major incident")
			fs.BoolVar(&recurring, "recurring", false, "recurring incident")
			fs.BoolVar(&complex, "complex", false, "complex incident")
			fs.Float64Var(&cost, "cost", 0, "support cost")
			fs.StringVar(&change, "caused-by-change", "", "number of the change that caused it")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "flags only"); err != nil {
				return err
			}
			if short == "" {
				return usageError{"--short is required"}
			}
			body := map[string]any{"short_description": short, "description": desc, "category": category, "impact": impact,
				"urgency": urgency, "assignee": assignee, "group": group, "caller": caller, "cis": []string(cis),
				"major": major, "recurring": recurring, "complex": complex, "support_cost": cost, "caused_by_change": change}
			return doIncident(e, "POST", "/incidents", body)
		},
	}

	var status, ciRef string
	var priority, limit int
	var breached, all bool
	r["incident list"] = &Command{
		Usage: "incident list [--status S|open] [--priority N] [--assignee A] [--group G] [--category C] [--ci REF] [--major] [--breached] [--limit N] [--all]",
		Help:  "list incidents, newest first",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&status, "status", "", "a status, or open")
			fs.IntVar(&priority, "priority", 0, "priority (1 for P1)")
			fs.StringVar(&assignee, "assignee", "", "assignee")
			fs.StringVar(&group, "group", "", "group")
			fs.StringVar(&category, "category", "", "category")
			fs.StringVar(&ciRef, "ci", "", "affecting this CI")
			fs.BoolVar(&major, "major", false, "major incidents only")
			fs.BoolVar(&breached, "breached", false, "SLA breached only")
			fs.IntVar(&limit, "limit", 50, "page size (1..1000)")
			fs.BoolVar(&all, "all", false, "follow the cursor to the last page")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			q := url.Values{"limit": {fmt.Sprint(limit)}}
			for k, v := range map[string]string{"status": status, "assignee": assignee, "group": group, "category": category, "ci": ciRef} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if priority > 0 {
				q.Set("priority", fmt.Sprint(priority))
			}
			if major {
				q.Set("major", "true")
			}
			if breached {
				q.Set("breached", "true")
			}
			var items []incidentSummaryJSON
			for {
				var page struct {
					Items []incidentSummaryJSON `json:"items"`
					Next  string                `json:"next"`
				}
				if err := e.Client.Get(e.Ctx, "/incidents?"+q.Encode(), &page); err != nil {
					return err
				}
				items = append(items, page.Items...)
				if !all || page.Next == "" {
					if page.Next != "" && !e.JSON {
						defer fmt.Fprintf(e.Err, "more: --all, or the API's cursor after=%s\n", page.Next)
					}
					break
				}
				q.Set("after", page.Next)
			}
			if e.JSON {
				if items == nil {
					items = []incidentSummaryJSON{}
				}
				return printJSON(e.Out, items)
			}
			return printIncidentList(e, nil, items)
		},
	}

	r["incident show"] = &Command{
		Usage: "incident show NUMBER",
		Help:  "show an incident: fields, affected CIs and services, SLA clock, problems, suggested known errors, timeline",
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one incident number"); err != nil {
				return err
			}
			var raw jsonRaw
			if err := e.Client.Get(e.Ctx, "/incidents/"+apiclient.PathEscape(args[0]), &raw.msg); err != nil {
				return err
			}
			return printIncident(e, raw.msg)
		},
	}

	var setMajor, setRecurring, setComplex string
	r["incident update"] = &Command{
		Usage: "incident update NUMBER [--short T] [--desc D] [--category C] [--impact N] [--urgency N] [--major true|false] ...",
		Help:  "edit an incident (--impact 0 returns to the impact derived from the graph)",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&short, "short", "", "short description")
			fs.StringVar(&desc, "desc", "", "description")
			fs.StringVar(&category, "category", "", "category")
			fs.IntVar(&impact, "impact", 0, "impact (0: derive)")
			fs.IntVar(&urgency, "urgency", 0, "urgency")
			fs.StringVar(&caller, "caller", "", "caller")
			fs.StringVar(&setMajor, "major", "", "true or false")
			fs.StringVar(&setRecurring, "recurring", "", "true or false")
			fs.StringVar(&setComplex, "complex", "", "true or false")
			fs.Float64Var(&cost, "cost", 0, "support cost")
			fs.StringVar(&change, "caused-by-change", "", "change number")
		},
		Run: func(e *Env, fs *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one incident number"); err != nil {
				return err
			}
			body := map[string]any{}
			var bad error
			fs.Visit(func(f *flag.Flag) {
				name := map[string]string{"short": "short_description", "desc": "description", "cost": "support_cost", "caused-by-change": "caused_by_change"}[f.Name]
				if name == "" {
					name = f.Name
				}
				switch f.Name {
				case "o":
					return
				case "impact":
					body[name] = impact
				case "urgency":
					body[name] = urgency
				case "cost":
					body[name] = cost
				case "major", "recurring", "complex":
					b, err := strconv.ParseBool(f.Value.String())
					if err != nil {
						bad = usageError{"--" + f.Name + " wants true or false"}
					}
					body[name] = b
				default:
					body[name] = f.Value.String()
				}
			})
			if bad != nil {
				return bad
			}
			if len(body) == 0 {
				return usageError{"name at least one field to change"}
			}
			return doIncident(e, "PATCH", "/incidents/"+apiclient.PathEscape(args[0]), body)
		},
	}

	r["incident assign"] = &Command{
		Usage: "incident assign NUMBER [--assignee A] [--group G]",
		Help:  "assign an incident (a new one moves to assigned)",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&assignee, "assignee", "", "assignee")
			fs.StringVar(&group, "group", "", "group")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one incident number"); err != nil {
				return err
			}
			return doIncident(e, "POST", "/incidents/"+apiclient.PathEscape(args[0])+"/assign", map[string]string{"assignee": assignee, "group": group})
		},
	}

	var reason, note string
	r["incident transition"] = &Command{
		Usage: "incident transition NUMBER STATUS [--reason R] [--note N]",
		Help:  "move an incident to another status (new assigned in_progress awaiting_info pending resolved closed rejected reopened)",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&reason, "reason", "", "reason (required to reject)")
			fs.StringVar(&note, "note", "", "resolution note, or a comment")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 2, "an incident number and a status"); err != nil {
				return err
			}
			return doIncident(e, "POST", "/incidents/"+apiclient.PathEscape(args[0])+"/transition", map[string]string{"to": args[1], "reason": reason, "note": note})
		},
	}

	r["incident comment"] = &Command{
		Usage: "incident comment NUMBER TEXT...",
		Help:  "add a comment to an incident's timeline",
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if len(args) < 2 {
				return usageError{"want an incident number and the text"}
			}
			return doIncident(e, "POST", "/incidents/"+apiclient.PathEscape(args[0])+"/comments", map[string]string{"text": strings.Join(args[1:], " ")})
		},
	}

	var add, remove multiFlag
	r["incident link"] = &Command{
		Usage: "incident link NUMBER [--add REF]... [--remove REF]...",
		Help:  "link or unlink affected CIs (impact and priority follow)",
		Flags: func(fs *flag.FlagSet) {
			fs.Var(&add, "add", "CI to link; repeatable")
			fs.Var(&remove, "remove", "CI to unlink; repeatable")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one incident number"); err != nil {
				return err
			}
			return doIncident(e, "POST", "/incidents/"+apiclient.PathEscape(args[0])+"/links", map[string][]string{"add": add, "remove": remove})
		},
	}

	r["incident config"] = &Command{
		Usage: "incident config [--set FILE.json]",
		Help:  "show the incident configuration (matrix, SLA targets, calendar, categories, event rules), or replace it",
		Flags: func(fs *flag.FlagSet) { fs.StringVar(&note, "set", "", "JSON file with the new configuration") },
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			var raw jsonRaw
			if note != "" {
				b, err := os.ReadFile(note)
				if err != nil {
					return err
				}
				if err := e.Client.DoRaw(e.Ctx, "PUT", "/incident-config", "application/json", strings.NewReader(string(b)), &raw.msg); err != nil {
					return err
				}
			} else if err := e.Client.Get(e.Ctx, "/incident-config", &raw.msg); err != nil {
				return err
			}
			_, err := e.Out.Write(raw.msg)
			return err
		},
	}

	r["ci incidents"] = &Command{
		Usage: "ci incidents ID|NAME [--all]",
		Help:  "show a CI's open incidents and problems, and the open incidents of what depends on it",
		Flags: func(fs *flag.FlagSet) { fs.BoolVar(&all, "all", false, "every incident of the CI, not only open ones") },
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one CI id or name"); err != nil {
				return err
			}
			var v struct {
				Name       string                `json:"name"`
				Incidents  []incidentSummaryJSON `json:"incidents"`
				Problems   []string              `json:"problems"`
				Checked    int                   `json:"dependants_checked"`
				Dependants []struct {
					Name      string                `json:"name"`
					Class     string                `json:"class"`
					Depth     int                   `json:"depth"`
					Incidents []incidentSummaryJSON `json:"incidents"`
				} `json:"dependants"`
			}
			path := "/cis/" + apiclient.PathEscape(args[0]) + "/incidents"
			if all {
				path += "?all=true"
			}
			raw, err := getRaw(e, path, &v)
			if err != nil {
				return err
			}
			if e.JSON {
				_, err := e.Out.Write(raw)
				return err
			}
			fmt.Fprintf(e.Out, "%s: %d incidents", clean(v.Name), len(v.Incidents))
			if len(v.Problems) > 0 {
				fmt.Fprintf(e.Out, ", open problems %s", strings.Join(v.Problems, ", "))
			}
			fmt.Fprintln(e.Out)
			if err := printIncidentList(e, nil, v.Incidents); err != nil {
				return err
			}
			fmt.Fprintf(e.Out, "\nDependants with open incidents (%d of %d checked):\n", len(v.Dependants), v.Checked)
			tw := table(e.Out)
			for _, d := range v.Dependants {
				for _, s := range d.Incidents {
					fmt.Fprintf(tw, "  %s\t%s\tdepth %d\t%s\tP%d\t%s\t%s\n", clean(d.Name), d.Class, d.Depth, s.Number, s.Priority, s.Status, clean(s.ShortDescription))
				}
			}
			return tw.Flush()
		},
	}
}

func doIncident(e *Env, method, path string, body any) error {
	var raw jsonRaw
	if err := e.Client.Do(e.Ctx, method, path, body, &raw.msg); err != nil {
		return err
	}
	return printIncident(e, raw.msg)
}

package cli

import (
	"flag"
	"fmt"
	"net/url"
	"strings"

	"parc/collector/apiclient"
)

type problemJSON struct {
	Number      string   `json:"number"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	Status      string   `json:"status"`
	RootCause   string   `json:"root_cause"`
	Workaround  string   `json:"workaround"`
	Incidents   []string `json:"incidents"`
	CIs         []string `json:"cis"`
	Software    []string `json:"software"`
	Keywords    []string `json:"keywords"`
	Assignee    string   `json:"assignee"`
	Updated     string   `json:"updated"`
	Timeline    []struct {
		At    string `json:"at"`
		Actor string `json:"actor"`
		Text  string `json:"text"`
	} `json:"timeline"`
}

func doProblem(e *Env, method, path string, body any) error {
	var raw jsonRaw
	if err := e.Client.Do(e.Ctx, method, path, body, &raw.msg); err != nil {
		return err
	}
	return printProblem(e, raw.msg)
}

func printProblem(e *Env, raw []byte) error {
	if e.JSON {
		_, err := e.Out.Write(raw)
		return err
	}
	var p problemJSON
	if err := (jsonRaw{raw}).decode(&p); err != nil {
		return err
	}
	fmt.Fprintf(e.Out, "%s  %s  %s\n", p.Number, p.Status, clean(p.Title))
	tw := table(e.Out)
	for _, r := range [][2]string{{"assignee", p.Assignee}, {"incidents", strings.Join(p.Incidents, ", ")},
		{"CIs", strings.Join(p.CIs, ", ")}, {"software", strings.Join(p.Software, ", ")}, {"keywords", strings.Join(p.Keywords, ", ")},
		{"root cause", p.RootCause}, {"workaround", p.Workaround}} {
		if r[1] != "" {
			fmt.Fprintf(tw, "  %s\t%s\n", r[0], clean(r[1]))
		}
	}
	tw.Flush()
	if p.Description != "" {
		fmt.Fprintf(e.Out, "\n%s\n", clean(p.Description))
	}
	fmt.Fprintln(e.Out, "\nTimeline:")
	tw = table(e.Out)
	for _, t := range p.Timeline {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", fmtTime(t.At), clean(t.Actor), clean(t.Text))
	}
	return tw.Flush()
}

func printProblems(e *Env, raw []byte, items []problemJSON) error {
	if e.JSON {
		_, err := e.Out.Write(raw)
		return err
	}
	tw := table(e.Out)
	fmt.Fprintln(tw, "NUMBER\tSTATUS\tINCIDENTS\tTITLE\tWORKAROUND")
	for _, p := range items {
		wa := p.Workaround
		if len(wa) > 60 {
			wa = wa[:60] + "…"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", p.Number, p.Status, len(p.Incidents), clean(p.Title), clean(wa))
	}
	return tw.Flush()
}

// problemCommands adds the problem commands.
func problemCommands(r registry) {
	var title, desc, rootCause, workaround, assignee, status, note, incidentRef string
	var incidents, cis, software, keywords multiFlag
	var knownOnly bool
	r["problem create"] = &Command{
		Usage: "problem create --title T --incident INC... [--ci REF]... [--software TITLE]... [--keyword W]... [--root-cause RC] [--workaround WA]",
		Help:  "record a problem grouping incidents (their CIs become the problem's)",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&title, "title", "", "title (required)")
			fs.StringVar(&desc, "desc", "", "description")
			fs.Var(&incidents, "incident", "incident number; repeatable")
			fs.Var(&cis, "ci", "further affected CI; repeatable")
			fs.Var(&software, "software", "software title involved; repeatable")
			fs.Var(&keywords, "keyword", "word that suggests the known error on new incidents; repeatable (default: from the title)")
			fs.StringVar(&rootCause, "root-cause", "", "root cause")
			fs.StringVar(&workaround, "workaround", "", "workaround")
			fs.StringVar(&assignee, "assignee", "", "problem owner")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "flags only"); err != nil {
				return err
			}
			if title == "" {
				return usageError{"--title is required"}
			}
			return doProblem(e, "POST", "/problems", map[string]any{"title": title, "description": desc, "incidents": []string(incidents),
				"cis": []string(cis), "software": []string(software), "keywords": []string(keywords), "root_cause": rootCause,
				"workaround": workaround, "assignee": assignee})
		},
	}
	r["problem list"] = &Command{
		Usage: "problem list [--status S] [--known-errors]",
		Help:  "list problems, newest first",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&status, "status", "", "new, investigating, known_error, resolved or closed")
			fs.BoolVar(&knownOnly, "known-errors", false, "known errors only (the KEDB)")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			q := url.Values{"limit": {"1000"}}
			if status != "" {
				q.Set("status", status)
			}
			if knownOnly {
				q.Set("known_error", "true")
			}
			var v struct {
				Items []problemJSON `json:"items"`
			}
			raw, err := getRaw(e, "/problems?"+q.Encode(), &v)
			if err != nil {
				return err
			}
			return printProblems(e, raw, v.Items)
		},
	}
	r["problem show"] = &Command{
		Usage: "problem show NUMBER",
		Help:  "show a problem",
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one problem number"); err != nil {
				return err
			}
			return doProblem(e, "GET", "/problems/"+apiclient.PathEscape(args[0]), nil)
		},
	}
	r["problem update"] = &Command{
		Usage: "problem update NUMBER [--title T] [--desc D] [--root-cause RC] [--workaround WA] [--assignee A] [--software S]... [--keyword W]...",
		Help:  "edit a problem",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&title, "title", "", "title")
			fs.StringVar(&desc, "desc", "", "description")
			fs.StringVar(&rootCause, "root-cause", "", "root cause")
			fs.StringVar(&workaround, "workaround", "", "workaround")
			fs.StringVar(&assignee, "assignee", "", "owner")
			fs.Var(&software, "software", "software title (replaces the list); repeatable")
			fs.Var(&keywords, "keyword", "keyword (replaces the list); repeatable")
		},
		Run: func(e *Env, fs *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one problem number"); err != nil {
				return err
			}
			body := map[string]any{}
			fs.Visit(func(f *flag.Flag) {
				switch f.Name {
				case "title", "assignee":
					body[f.Name] = f.Value.String()
				case "desc":
					body["description"] = desc
				case "root-cause":
					body["root_cause"] = rootCause
				case "workaround":
					body["workaround"] = workaround
				case "software":
					body["software"] = []string(software)
				case "keyword":
					body["keywords"] = []string(keywords)
				}
			})
			if len(body) == 0 {
				return usageError{"name at least one field to change"}
			}
			return doProblem(e, "PATCH", "/problems/"+apiclient.PathEscape(args[0]), body)
		},
	}
	r["problem transition"] = &Command{
		Usage: "problem transition NUMBER STATUS [--note N]",
		Help:  "move a problem (new investigating known_error resolved closed); known_error needs root cause and workaround",
		Flags: func(fs *flag.FlagSet) { fs.StringVar(&note, "note", "", "note") },
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 2, "a problem number and a status"); err != nil {
				return err
			}
			return doProblem(e, "POST", "/problems/"+apiclient.PathEscape(args[0])+"/transition", map[string]string{"to": args[1], "note": note})
		},
	}
	r["problem link"] = &Command{
		Usage: "problem link NUMBER INC...",
		Help:  "add incidents (and their CIs) to a problem",
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if len(args) < 2 {
				return usageError{"want a problem number and incident numbers"}
			}
			return doProblem(e, "POST", "/problems/"+apiclient.PathEscape(args[0])+"/incidents", map[string][]string{"incidents": args[1:]})
		},
	}
	r["problem known-errors"] = &Command{
		Usage: "problem known-errors [--incident INC]",
		Help:  "list the known error database, or the known errors suggested for an incident",
		Flags: func(fs *flag.FlagSet) { fs.StringVar(&incidentRef, "incident", "", "suggest for this incident") },
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			path := "/known-errors"
			if incidentRef != "" {
				path += "?" + url.Values{"incident": {incidentRef}}.Encode()
			}
			var v struct {
				Items []struct {
					problemJSON
					Score   int      `json:"score"`
					Reasons []string `json:"reasons"`
				} `json:"items"`
			}
			raw, err := getRaw(e, path, &v)
			if err != nil {
				return err
			}
			if e.JSON {
				_, err := e.Out.Write(raw)
				return err
			}
			tw := table(e.Out)
			fmt.Fprintln(tw, "NUMBER\tSCORE\tTITLE\tWORKAROUND\tWHY")
			for _, k := range v.Items {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", k.Number, k.Score, clean(k.Title), clean(k.Workaround), clean(strings.Join(k.Reasons, "; ")))
			}
			return tw.Flush()
		},
	}
}

package cli

import (
	"flag"
	"fmt"
	"net/url"
	"strings"

	"parc/collector/apiclient"
)

// listFlag collects a repeatable flag's values.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

type snapshotJSON struct {
	At               string     `json:"at"`
	CI               ciJSON     `json:"ci"`
	Edges            []edgeJSON `json:"edges"`
	Software         []struct{} `json:"software"`
	SoftwareComplete bool       `json:"software_complete"`
}

type changeJSON struct {
	Field  string `json:"field"`
	Before any    `json:"before"`
	After  any    `json:"after"`
}

// ciExtraCommands adds ci show --at, ci diff, ci impact and ci search. It
// runs after ciCommands and extends its "ci show".
func ciExtraCommands(r registry) {
	var at string
	if show := r["ci show"]; show != nil {
		plain, flags := show.Run, show.Flags
		show.Usage = "ci show ID|NAME [--at TIME]"
		show.Help += "; with --at, as it was at that instant"
		show.Flags = func(fs *flag.FlagSet) {
			if flags != nil {
				flags(fs)
			}
			fs.StringVar(&at, "at", "", "show the CI as it was then: RFC 3339, 2006-01-02[ 15:04], or a duration ago (36h)")
		}
		show.Run = func(e *Env, fs *flag.FlagSet, args []string) error {
			if at == "" {
				return plain(e, fs, args)
			}
			if err := needArgs(args, 1, "one CI id or name"); err != nil {
				return err
			}
			var v snapshotJSON
			raw, err := getRaw(e, "/cis/"+apiclient.PathEscape(args[0])+"/asof?"+url.Values{"at": {at}}.Encode(), &v)
			if err != nil {
				return err
			}
			if e.JSON {
				_, err := e.Out.Write(raw)
				return err
			}
			fmt.Fprintf(e.Out, "as of %s\n", fmtTime(v.At))
			printCI(e, v.CI)
			fmt.Fprintf(e.Out, "\nRelationships (%d):\n", len(v.Edges))
			printEdges(e, v.Edges)
			if len(v.Software) > 0 {
				note := ""
				if !v.SoftwareComplete {
					note = " (approximate: a large change was recorded as counts only)"
				}
				fmt.Fprintf(e.Out, "\nSoftware packages: %d%s\n", len(v.Software), note)
			}
			return nil
		}
	}

	var from, to string
	r["ci diff"] = &Command{
		Usage: "ci diff ID|NAME --from T1 [--to T2]",
		Help:  "compare a CI at two instants: fields, relationships, software and who changed them",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&from, "from", "", "first instant (RFC 3339, 2006-01-02[ 15:04], or a duration ago)")
			fs.StringVar(&to, "to", "now", "second instant")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one CI id or name"); err != nil {
				return err
			}
			if from == "" {
				return usageError{"--from is required"}
			}
			var v struct {
				ExistedFrom  bool          `json:"existed_from"`
				ExistedTo    bool          `json:"existed_to"`
				Changes      []changeJSON  `json:"changes"`
				EdgesAdded   []edgeJSON    `json:"edges_added"`
				EdgesRemoved []edgeJSON    `json:"edges_removed"`
				EdgesChanged []edgeJSON    `json:"edges_changed"`
				Software     []changeJSON  `json:"software"`
				Entries      []historyJSON `json:"entries"`
			}
			q := url.Values{"from": {from}, "to": {to}}
			raw, err := getRaw(e, "/cis/"+apiclient.PathEscape(args[0])+"/diff?"+q.Encode(), &v)
			if err != nil {
				return err
			}
			if e.JSON {
				_, err := e.Out.Write(raw)
				return err
			}
			if !v.ExistedFrom {
				fmt.Fprintln(e.Out, "(the CI did not exist at --from)")
			}
			if !v.ExistedTo {
				fmt.Fprintln(e.Out, "(the CI did not exist at --to)")
			}
			tw := table(e.Out)
			fmt.Fprintln(tw, "FIELD\tFROM\tTO")
			for _, c := range append(v.Changes, v.Software...) {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", clean(c.Field), fmtValue(c.Before), fmtValue(c.After))
			}
			tw.Flush()
			for _, part := range []struct {
				title string
				edges []edgeJSON
			}{{"added", v.EdgesAdded}, {"removed", v.EdgesRemoved}, {"changed", v.EdgesChanged}} {
				if len(part.edges) > 0 {
					fmt.Fprintf(e.Out, "\nRelationships %s (%d):\n", part.title, len(part.edges))
					printEdges(e, part.edges)
				}
			}
			if len(v.Entries) > 0 {
				fmt.Fprintf(e.Out, "\nChanges in between (%d):\n", len(v.Entries))
				printHistory(e, v.Entries)
			}
			return nil
		},
	}

	var direction, types, classes string
	var depth, limit int
	r["ci impact"] = &Command{
		Usage: "ci impact ID|NAME [--direction upstream|downstream|both] [--type T,...] [--depth N]",
		Help:  "walk the graph from a CI and list what it affects (downstream) or relies on (upstream), with paths",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&direction, "direction", "downstream", "downstream (what breaks if it fails), upstream (what it needs) or both")
			fs.StringVar(&types, "type", "", "relationship types to follow, comma separated (default depends_on,runs_on,contains,provides)")
			fs.IntVar(&depth, "depth", 3, "most hops (1..10)")
			fs.StringVar(&classes, "class", "", "only list reached CIs of these classes, comma separated")
			fs.IntVar(&limit, "limit", 0, "most CIs listed (default 10000)")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one CI id or name"); err != nil {
				return err
			}
			q := url.Values{"direction": {direction}, "depth": {fmt.Sprint(depth)}}
			if types != "" {
				q.Set("type", types)
			}
			if classes != "" {
				q.Set("class", classes)
			}
			if limit > 0 {
				q.Set("limit", fmt.Sprint(limit))
			}
			var v struct {
				Start []string `json:"start"`
				Nodes []struct {
					ID, Name, Class, Via string
					Depth                int
					Path                 []string
				} `json:"nodes"`
				Count     map[string]int `json:"count_by_class"`
				Truncated bool           `json:"truncated"`
			}
			raw, err := getRaw(e, "/cis/"+apiclient.PathEscape(args[0])+"/impact?"+q.Encode(), &v)
			if err != nil {
				return err
			}
			if e.JSON {
				_, err := e.Out.Write(raw)
				return err
			}
			names := map[string]string{}
			for _, n := range v.Nodes {
				names[n.ID] = n.Name
			}
			for _, s := range v.Start {
				names[s] = args[0]
			}
			tw := table(e.Out)
			fmt.Fprintln(tw, "DEPTH\tCLASS\tNAME\tVIA\tPATH")
			for _, n := range v.Nodes {
				path := make([]string, len(n.Path))
				for i, p := range n.Path {
					path[i] = clean(firstNonEmpty(names[p], p))
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", n.Depth, n.Class, clean(n.Name), n.Via, strings.Join(path, " → "))
			}
			tw.Flush()
			fmt.Fprintf(e.Out, "%d CIs %s", len(v.Nodes), direction)
			if v.Truncated {
				fmt.Fprint(e.Out, " (truncated: raise --limit)")
			}
			fmt.Fprintln(e.Out)
			return nil
		},
	}

	var sClass, ident string
	var attrs, flags listFlag
	var sLimit int
	var all bool
	var after string
	r["ci search"] = &Command{
		Usage: "ci search [--class C] [--attr k=v]... [--flag F]... [--ident kind=value] [--limit N] [--all] [TEXT]",
		Help:  "find CIs by class, attribute, identifier and free text",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&sClass, "class", "", "only CIs of this class")
			attrs = nil // a flag.Value keeps its value between runs
			fs.Var(&attrs, "attr", "attribute equals value (repeatable), such as os_name=debian")
			flags = nil
			fs.Var(&flags, "flag", "CI carries this flag (repeatable): stale, retirement_proposed, duplicate_identity, removed")
			fs.StringVar(&ident, "ident", "", "identifier kind=value, such as serial=dell|7XK2Q93 or mac=00:1a:2b:3c:4d:5e")
			fs.IntVar(&sLimit, "limit", 100, "page size (1..1000)")
			fs.BoolVar(&all, "all", false, "follow the cursor to the last page")
			fs.StringVar(&after, "after", "", "cursor from a previous page")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if len(args) > 1 {
				args = []string{strings.Join(args, " ")}
			}
			q := url.Values{"limit": {fmt.Sprint(sLimit)}}
			if sClass != "" {
				q.Set("class", sClass)
			}
			for _, a := range attrs {
				q.Add("attr", a)
			}
			for _, f := range flags {
				q.Add("flag", f)
			}
			if ident != "" {
				q.Set("ident", ident)
			}
			if len(args) == 1 {
				q.Set("q", args[0])
			}
			var items []ciJSON
			next := after
			for {
				if next != "" {
					q.Set("after", next)
				}
				var page struct {
					Items []ciJSON `json:"items"`
					Next  string   `json:"next"`
				}
				if err := e.Client.Get(e.Ctx, "/search?"+q.Encode(), &page); err != nil {
					return err
				}
				items = append(items, page.Items...)
				next = page.Next
				if !all || next == "" {
					break
				}
			}
			if e.JSON {
				if items == nil {
					items = []ciJSON{}
				}
				return printJSON(e.Out, map[string]any{"items": items, "next": next})
			}
			tw := table(e.Out)
			fmt.Fprintln(tw, "ID\tCLASS\tNAME\tSTATE")
			for _, c := range items {
				cls := c.Class
				if c.Subclass != "" {
					cls += "/" + c.Subclass
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.ID, cls, clean(c.Name), c.State)
			}
			tw.Flush()
			if next != "" {
				fmt.Fprintf(e.Err, "more: --all, or --after %s\n", next)
			}
			return nil
		},
	}
}

func printEdges(e *Env, edges []edgeJSON) {
	tw := table(e.Out)
	for _, ed := range edges {
		arrow := "→"
		if ed.Direction == "in" {
			arrow = "←"
		}
		fmt.Fprintf(tw, "  %s %s\t%s\t%s\n", arrow, ed.Type, clean(firstNonEmpty(ed.OtherName, ed.Other)), clean(fmtAttrs(ed.Attrs)))
	}
	tw.Flush()
}

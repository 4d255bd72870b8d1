package cli

import (
	"flag"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"parc/collector/apiclient"
)

type ciJSON struct {
	ID       string `json:"id"`
	Class    string `json:"class"`
	Subclass string `json:"subclass"`
	Name     string `json:"name"`
	State    string `json:"state"`
	Updated  string `json:"updated"`
	Attrs    map[string]struct {
		Value  any    `json:"value"`
		Source string `json:"source"`
	} `json:"attrs"`
	Identifiers map[string][]string `json:"identifiers"`
	Flags       map[string]bool     `json:"flags"`
}

type edgeJSON struct {
	Type      string            `json:"type"`
	Direction string            `json:"direction"`
	Other     string            `json:"other"`
	OtherName string            `json:"other_name"`
	Attrs     map[string]string `json:"attrs"`
	LastSeen  string            `json:"last_seen"`
}

type historyJSON struct {
	At      string `json:"at"`
	Actor   string `json:"actor"`
	Kind    string `json:"kind"`
	Rel     string `json:"rel"`
	Changes []struct {
		Field  string `json:"field"`
		Before any    `json:"before"`
		After  any    `json:"after"`
	} `json:"changes"`
}

// ciCommands adds the ci commands.
func ciCommands(r registry) {
	var class string
	var limit int
	var all bool
	r["ci list"] = &Command{
		Usage: "ci list [--class C] [--limit N] [--all]",
		Help:  "list configuration items",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&class, "class", "", "only CIs of this class (computer, disk, nic, software, ...)")
			fs.IntVar(&limit, "limit", 100, "page size (1..1000)")
			fs.BoolVar(&all, "all", false, "follow the cursor to the last page")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			var items []ciJSON
			after := ""
			for {
				q := url.Values{"limit": {fmt.Sprint(limit)}}
				if class != "" {
					q.Set("class", class)
				}
				if after != "" {
					q.Set("after", after)
				}
				var page struct {
					Items []ciJSON `json:"items"`
					Next  string   `json:"next"`
				}
				if err := e.Client.Get(e.Ctx, "/cis?"+q.Encode(), &page); err != nil {
					return err
				}
				items = append(items, page.Items...)
				if !all || page.Next == "" {
					if !all && page.Next != "" && !e.JSON {
						defer fmt.Fprintf(e.Err, "more: --all, or the API's cursor after=%s\n", page.Next)
					}
					break
				}
				after = page.Next
			}
			if e.JSON {
				if items == nil {
					items = []ciJSON{}
				}
				return printJSON(e.Out, items)
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
			return tw.Flush()
		},
	}

	r["ci show"] = &Command{
		Usage: "ci show ID|NAME",
		Help:  "show a CI's attributes and its relationships in both directions",
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one CI id or name"); err != nil {
				return err
			}
			var v struct {
				CI    ciJSON     `json:"ci"`
				Edges []edgeJSON `json:"edges"`
			}
			raw, err := getRaw(e, "/cis/"+apiclient.PathEscape(args[0]), &v)
			if err != nil {
				return err
			}
			if e.JSON {
				_, err := e.Out.Write(raw)
				return err
			}
			printCI(e, v.CI)
			fmt.Fprintf(e.Out, "\nRelationships (%d):\n", len(v.Edges))
			tw := table(e.Out)
			for _, ed := range v.Edges {
				arrow := "→"
				if ed.Direction == "in" {
					arrow = "←"
				}
				name := ed.OtherName
				if name == "" {
					name = ed.Other
				}
				fmt.Fprintf(tw, "  %s %s\t%s\t%s\n", arrow, ed.Type, clean(name), clean(fmtAttrs(ed.Attrs)))
			}
			return tw.Flush()
		},
	}

	r["ci history"] = &Command{
		Usage: "ci history ID|NAME",
		Help:  "show every recorded change of a CI",
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one CI id or name"); err != nil {
				return err
			}
			var v struct {
				Items []historyJSON `json:"items"`
			}
			raw, err := getRaw(e, "/cis/"+apiclient.PathEscape(args[0])+"/history", &v)
			if err != nil {
				return err
			}
			if e.JSON {
				_, err := e.Out.Write(raw)
				return err
			}
			printHistory(e, v.Items)
			return nil
		},
	}
}

// getRaw fetches path, decoding into v and returning the raw JSON too.
func getRaw(e *Env, path string, v any) ([]byte, error) {
	var raw jsonRaw
	if err := e.Client.Get(e.Ctx, path, &raw.msg); err != nil {
		return nil, err
	}
	return raw.msg, raw.decode(v)
}

func printCI(e *Env, c ciJSON) {
	cls := c.Class
	if c.Subclass != "" {
		cls += "/" + c.Subclass
	}
	fmt.Fprintf(e.Out, "%s  (%s, %s)\n", clean(c.Name), cls, c.ID)
	if c.State != "" {
		fmt.Fprintf(e.Out, "state: %s\n", c.State)
	}
	var flags []string
	for f, on := range c.Flags {
		if on {
			flags = append(flags, f)
		}
	}
	if len(flags) > 0 {
		sort.Strings(flags)
		fmt.Fprintf(e.Out, "flags: %s\n", strings.Join(flags, ", "))
	}
	keys := make([]string, 0, len(c.Attrs))
	for k := range c.Attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintln(e.Out, "\nAttributes:")
	tw := table(e.Out)
	for _, k := range keys {
		a := c.Attrs[k]
		fmt.Fprintf(tw, "  %s\t%s\t(%s)\n", k, fmtValue(a.Value), a.Source)
	}
	tw.Flush()
}

func printHistory(e *Env, items []historyJSON) {
	tw := table(e.Out)
	fmt.Fprintln(tw, "TIME\tACTOR\tCHANGE\tDETAILS")
	for _, h := range items {
		what := h.Kind
		if h.Rel != "" {
			what += " " + h.Rel
		}
		var parts []string
		for _, c := range h.Changes {
			parts = append(parts, fmt.Sprintf("%s: %s → %s", c.Field, fmtValue(c.Before), fmtValue(c.After)))
		}
		details := strings.Join(parts, "; ")
		if len(details) > 200 {
			details = details[:200] + "…"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", fmtTime(h.At), clean(h.Actor), clean(what), details)
	}
	tw.Flush()
}

func fmtAttrs(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, " ")
}

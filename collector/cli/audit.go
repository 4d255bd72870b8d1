package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
)

type auditJSON struct {
	ID     string          `json:"id"`
	At     string          `json:"at"`
	Actor  string          `json:"actor"`
	Action string          `json:"action"`
	Object string          `json:"object"`
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
	Detail string          `json:"detail"`
}

// auditCommands adds the audit command.
func auditCommands(r registry) {
	var actor, action, object, since, until string
	var limit int
	var all bool
	r["audit"] = &Command{
		Usage: "audit [--actor A] [--action X] [--object O] [--since T] [--until T] [--limit N] [--all]",
		Help:  "list audit records, oldest first (actor and object match by prefix; times RFC 3339, a date, or a duration ago like 24h)",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&actor, "actor", "", "actor prefix (user:alice, agent:, system)")
			fs.StringVar(&action, "action", "", "exact action (user.create, ingest.report, agent.revoke, ...)")
			fs.StringVar(&object, "object", "", "object prefix (ci/ID, agent/ID, user/NAME, ...)")
			fs.StringVar(&since, "since", "", "from this time")
			fs.StringVar(&until, "until", "", "up to this time")
			fs.IntVar(&limit, "limit", 100, "page size (1..1000)")
			fs.BoolVar(&all, "all", false, "follow the cursor to the last page")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			q := url.Values{"limit": {fmt.Sprint(limit)}}
			for k, v := range map[string]string{"actor": actor, "action": action, "object": object, "since": since, "until": until} {
				if v != "" {
					q.Set(k, v)
				}
			}
			var items []auditJSON
			for {
				var page struct {
					Items []auditJSON `json:"items"`
					Next  string      `json:"next"`
				}
				if err := e.Client.Get(e.Ctx, "/audit?"+q.Encode(), &page); err != nil {
					return err
				}
				items = append(items, page.Items...)
				if !all || page.Next == "" {
					if !all && page.Next != "" && !e.JSON {
						defer fmt.Fprintf(e.Err, "more: --all, or the API's cursor after=%s\n", page.Next)
					}
					break
				}
				q.Set("after", page.Next)
			}
			if e.JSON {
				if items == nil {
					items = []auditJSON{}
				}
				return printJSON(e.Out, items)
			}
			tw := table(e.Out)
			fmt.Fprintln(tw, "TIME\tACTOR\tACTION\tOBJECT\tCHANGE")
			for _, a := range items {
				change := ""
				if b := compactJSON(a.Before); b != "" {
					change = b + " → "
				}
				change += compactJSON(a.After)
				if len(change) > 160 {
					change = change[:160] + "…"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", fmtTime(a.At), clean(a.Actor), clean(a.Action), clean(a.Object), clean(change))
			}
			return tw.Flush()
		},
	}
}

func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if len(raw) == 0 || string(raw) == "null" || json.Compact(&b, raw) != nil {
		return ""
	}
	return b.String()
}

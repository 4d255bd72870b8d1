package cli

import (
	"flag"
	"fmt"
	"time"

	"parc/collector/apiclient"
)

type enrollTokenJSON struct {
	ID        string `json:"id"`
	Created   string `json:"created"`
	CreatedBy string `json:"created_by"`
	Expires   string `json:"expires"`
	Uses      int    `json:"uses"`
	Used      int    `json:"used"`
	State     string `json:"state"`
	Note      string `json:"note"`
	Token     string `json:"token"`
}

// enrollCommands adds the enroll-token commands.
func enrollCommands(r registry) {
	var ttl time.Duration
	var uses int
	var note string
	r["enroll-token create"] = &Command{
		Usage: "enroll-token create [--ttl D] [--uses N] [--note TEXT]",
		Help:  "create an agent enrollment token (printed as the last line)",
		Flags: func(fs *flag.FlagSet) {
			fs.DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token can enroll agents")
			fs.IntVar(&uses, "uses", 1, "how many agents it can enroll")
			fs.StringVar(&note, "note", "", "what the token is for")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			var t enrollTokenJSON
			if err := e.Client.Do(e.Ctx, "POST", "/enroll-tokens", map[string]any{"ttl": ttl.String(), "uses": uses, "note": note}, &t); err != nil {
				return err
			}
			if e.JSON {
				return printJSON(e.Out, t)
			}
			fmt.Fprintf(e.Out, "enrollment token %s: %d use(s), expires %s\n", t.ID, t.Uses, fmtTime(t.Expires))
			fmt.Fprintln(e.Out, "enroll an agent with: parc-agent --collector HOST:PORT --enroll-token TOKEN --state-dir DIR")
			fmt.Fprintln(e.Out, t.Token)
			return nil
		},
	}
	r["enroll-token list"] = &Command{
		Usage: "enroll-token list",
		Help:  "list enrollment tokens (never their secrets)",
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			var v struct {
				Items []enrollTokenJSON `json:"items"`
			}
			if err := e.Client.Get(e.Ctx, "/enroll-tokens", &v); err != nil {
				return err
			}
			if e.JSON {
				return printJSON(e.Out, v.Items)
			}
			tw := table(e.Out)
			fmt.Fprintln(tw, "ID\tSTATE\tUSED\tEXPIRES\tCREATED BY\tNOTE")
			for _, t := range v.Items {
				fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\t%s\t%s\n", t.ID, t.State, t.Used, t.Uses, fmtTime(t.Expires), clean(t.CreatedBy), clean(t.Note))
			}
			return tw.Flush()
		},
	}
	r["enroll-token revoke"] = &Command{
		Usage: "enroll-token revoke ID",
		Help:  "stop an enrollment token from enrolling more agents",
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one token id"); err != nil {
				return err
			}
			if err := e.Client.Do(e.Ctx, "DELETE", "/enroll-tokens/"+apiclient.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(e.Out, "enrollment token %s revoked\n", args[0])
			return nil
		},
	}
}

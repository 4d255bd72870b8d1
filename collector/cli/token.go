package cli

import (
	"flag"
	"fmt"
	"net/url"
	"time"

	"parc/collector/apiclient"
)

type apiTokenJSON struct {
	ID        string `json:"id"`
	User      string `json:"user"`
	Created   string `json:"created"`
	CreatedBy string `json:"created_by"`
	Expires   string `json:"expires"`
	Revoked   bool   `json:"revoked"`
	Note      string `json:"note"`
	Token     string `json:"token"`
}

// tokenCommands adds the API token commands.
func tokenCommands(r registry) {
	var user, note string
	var ttl time.Duration
	r["token create"] = &Command{
		Usage: "token create [--user NAME] [--ttl D] [--note TEXT]",
		Help:  "issue an API token (printed as the last line; default: for yourself, no expiry)",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&user, "user", "", "user or service account the token acts as")
			fs.DurationVar(&ttl, "ttl", 0, "lifetime (0: no expiry)")
			fs.StringVar(&note, "note", "", "what the token is for")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			body := map[string]any{"user": user, "note": note}
			if ttl > 0 {
				body["ttl"] = ttl.String()
			}
			var t apiTokenJSON
			if err := e.Client.Do(e.Ctx, "POST", "/tokens", body, &t); err != nil {
				return err
			}
			if e.JSON {
				return printJSON(e.Out, t)
			}
			exp := "never"
			if t.Expires != "" {
				exp = fmtTime(t.Expires)
			}
			fmt.Fprintf(e.Out, "token %s for %s, expires %s (shown once: use it as PARC_TOKEN)\n", t.ID, clean(t.User), exp)
			fmt.Fprintln(e.Out, t.Token)
			return nil
		},
	}
	var of string
	r["token list"] = &Command{
		Usage: "token list [--user NAME]",
		Help:  "list API tokens (never their secrets)",
		Flags: func(fs *flag.FlagSet) { fs.StringVar(&of, "user", "", "only this user's tokens") },
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			path := "/tokens"
			if of != "" {
				path += "?" + url.Values{"user": {of}}.Encode()
			}
			var v struct {
				Items []apiTokenJSON `json:"items"`
			}
			if err := e.Client.Get(e.Ctx, path, &v); err != nil {
				return err
			}
			if e.JSON {
				return printJSON(e.Out, v.Items)
			}
			tw := table(e.Out)
			fmt.Fprintln(tw, "ID\tUSER\tSTATE\tEXPIRES\tCREATED\tNOTE")
			for _, t := range v.Items {
				state, exp := "active", "never"
				if t.Revoked {
					state = "revoked"
				}
				if t.Expires != "" {
					exp = fmtTime(t.Expires)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, clean(t.User), state, exp, fmtTime(t.Created), clean(t.Note))
			}
			return tw.Flush()
		},
	}
	r["token revoke"] = &Command{
		Usage: "token revoke ID",
		Help:  "revoke an API token at once",
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one token id"); err != nil {
				return err
			}
			if err := e.Client.Do(e.Ctx, "DELETE", "/tokens/"+apiclient.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(e.Out, "token %s revoked\n", args[0])
			return nil
		},
	}
}

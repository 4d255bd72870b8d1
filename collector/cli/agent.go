package cli

import (
	"flag"
	"fmt"

	"parc/collector/apiclient"
)

type agentJSON struct {
	AgentID  string `json:"agent_id"`
	Hostname string `json:"hostname"`
	HostID   string `json:"host_id"`
	Status   string `json:"status"`
	LastSeen string `json:"last_seen"`
	Version  string `json:"version"`
	NotAfter string `json:"cert_not_after"`
}

// agentCommands adds the agent commands.
func agentCommands(r registry) {
	r["agent list"] = &Command{
		Usage: "agent list",
		Help:  "list agents with last seen, version and certificate expiry",
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			var v struct {
				Items []agentJSON `json:"items"`
			}
			if err := e.Client.Get(e.Ctx, "/agents", &v); err != nil {
				return err
			}
			if e.JSON {
				if v.Items == nil {
					v.Items = []agentJSON{}
				}
				return printJSON(e.Out, v.Items)
			}
			tw := table(e.Out)
			fmt.Fprintln(tw, "AGENT\tHOSTNAME\tSTATUS\tLAST SEEN\tVERSION\tCERT EXPIRES")
			for _, a := range v.Items {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.AgentID, clean(a.Hostname), a.Status, orDash(fmtTime(a.LastSeen)),
					orDash(clean(a.Version)), orDash(fmtTime(a.NotAfter)))
			}
			return tw.Flush()
		},
	}
	r["agent revoke"] = &Command{
		Usage: "agent revoke ID",
		Help:  "revoke an agent: its every later connection fails",
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one agent id"); err != nil {
				return err
			}
			if err := e.Client.Do(e.Ctx, "POST", "/agents/"+apiclient.PathEscape(args[0])+"/revoke", nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(e.Out, "agent %s revoked\n", args[0])
			return nil
		},
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

package cli

import (
	"flag"
	"fmt"

	"parc/collector/apiclient"
)

type userJSON struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Service  bool   `json:"service"`
	Created  string `json:"created"`
	Disabled bool   `json:"disabled"`
}

// userCommands adds the user commands.
func userCommands(r registry) {
	r["user list"] = &Command{
		Usage: "user list",
		Help:  "list users and service accounts with their roles",
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			var v struct {
				Items []userJSON `json:"items"`
			}
			if err := e.Client.Get(e.Ctx, "/users", &v); err != nil {
				return err
			}
			if e.JSON {
				return printJSON(e.Out, v.Items)
			}
			tw := table(e.Out)
			fmt.Fprintln(tw, "NAME\tKIND\tROLE\tSTATE\tCREATED")
			for _, u := range v.Items {
				kind, state := "user", "enabled"
				if u.Service {
					kind = "service"
				}
				if u.Disabled {
					state = "disabled"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", clean(u.Name), kind, u.Role, state, fmtTime(u.Created))
			}
			return tw.Flush()
		},
	}
	var role string
	var service bool
	r["user create"] = &Command{
		Usage: "user create NAME --role ROLE [--service]",
		Help:  "add a user or service account (roles: admin, asset_manager, change_manager, service_desk, viewer)",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&role, "role", "viewer", "role")
			fs.BoolVar(&service, "service", false, "a service account (for scripts) rather than a person")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one user name"); err != nil {
				return err
			}
			var u userJSON
			if err := e.Client.Do(e.Ctx, "POST", "/users", map[string]any{"name": args[0], "role": role, "service": service}, &u); err != nil {
				return err
			}
			if e.JSON {
				return printJSON(e.Out, u)
			}
			fmt.Fprintf(e.Out, "user %s created with role %s; give it a token with: parc token create --user %s\n", u.Name, u.Role, u.Name)
			return nil
		},
	}
	r["user set-role"] = &Command{
		Usage: "user set-role NAME ROLE",
		Help:  "change a user's role",
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 2, "a user name and a role"); err != nil {
				return err
			}
			return updateUser(e, args[0], map[string]any{"role": args[1]})
		},
	}
	r["user disable"] = &Command{
		Usage: "user disable NAME",
		Help:  "disable a user: its tokens stop working",
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one user name"); err != nil {
				return err
			}
			return updateUser(e, args[0], map[string]any{"disabled": true})
		},
	}
	r["user enable"] = &Command{
		Usage: "user enable NAME",
		Help:  "enable a disabled user again",
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one user name"); err != nil {
				return err
			}
			return updateUser(e, args[0], map[string]any{"disabled": false})
		},
	}
}

func updateUser(e *Env, name string, body map[string]any) error {
	var u userJSON
	if err := e.Client.Do(e.Ctx, "PATCH", "/users/"+apiclient.PathEscape(name), body, &u); err != nil {
		return err
	}
	if e.JSON {
		return printJSON(e.Out, u)
	}
	state := "enabled"
	if u.Disabled {
		state = "disabled"
	}
	fmt.Fprintf(e.Out, "user %s: role %s, %s\n", u.Name, u.Role, state)
	return nil
}

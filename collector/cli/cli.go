// Package cli implements the parc command line: a client of the REST API
// only. Each command prints a readable table by default and the API's JSON
// with -o json.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"parc/collector/apiclient"
)

// Env is what a command runs with.
type Env struct {
	Ctx    context.Context
	Client *apiclient.Client
	Out    io.Writer
	Err    io.Writer
	JSON   bool
	Getenv func(string) string
}

// Command is one leaf command ("ci list").
type Command struct {
	Usage string
	Help  string
	Run   func(e *Env, fs *flag.FlagSet, args []string) error
	// Flags declares the command's own flags.
	Flags func(fs *flag.FlagSet)
}

// registry maps a command's words to the command.
type registry map[string]*Command

// commands is the registry of every command; each module's file adds its
// own through one function listed here.
var commands = func() registry {
	r := registry{}
	for _, add := range []func(registry){ciCommands, ciExtraCommands, enrollCommands, agentCommands, userCommands, tokenCommands, auditCommands, incidentCommands, problemCommands, reportCommands, assetCommands, lifecycleCommands, licenceCommands, changeCommands} {
		add(r)
	}
	return r
}()

// Main runs the CLI and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	global := flag.NewFlagSet("parc", flag.ContinueOnError)
	global.SetOutput(stderr)
	apiURL := global.String("api", firstNonEmpty(getenv("PARC_API"), "http://127.0.0.1:7080"), "API base URL (env PARC_API)")
	token := global.String("token", "", "API token (env PARC_TOKEN; default: the collector's admin token file on this machine)")
	output := global.String("o", "table", "output: table or json")
	global.Usage = func() { usage(stderr) }
	if err := global.Parse(args); err != nil {
		return 2
	}
	rest := global.Args()
	var cmd *Command
	var words string
	for n := min(3, len(rest)); n > 0; n-- {
		if c, ok := commands[strings.Join(rest[:n], " ")]; ok {
			cmd, words, rest = c, strings.Join(rest[:n], " "), rest[n:]
			break
		}
	}
	if cmd == nil {
		if len(rest) > 0 {
			fmt.Fprintf(stderr, "parc: unknown command %q\n\n", strings.Join(rest, " "))
		}
		usage(stderr)
		return 2
	}
	fs := flag.NewFlagSet("parc "+words, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(output, "o", *output, "output: table or json")
	if cmd.Flags != nil {
		cmd.Flags(fs)
	}
	fs.Usage = func() { fmt.Fprintf(stderr, "usage: parc %s\n%s\n", cmd.Usage, cmd.Help); fs.PrintDefaults() }
	if err := fs.Parse(interleave(fs, rest)); err != nil {
		return 2
	}
	if *output != "table" && *output != "json" {
		fmt.Fprintf(stderr, "parc: -o must be table or json, not %q\n", *output)
		return 2
	}
	tok := firstNonEmpty(*token, getenv("PARC_TOKEN"))
	if tok == "" {
		tok = findToken(getenv)
	}
	e := &Env{Ctx: ctx, Client: apiclient.New(*apiURL, tok), Out: stdout, Err: stderr, JSON: *output == "json", Getenv: getenv}
	if err := cmd.Run(e, fs, fs.Args()); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "parc %s: %v\nusage: parc %s\n", words, err, cmd.Usage)
			return 2
		}
		fmt.Fprintf(stderr, "parc %s: %v\n", words, err)
		return 1
	}
	return 0
}

// interleave moves flags that follow positional arguments in front of
// them, so "ci show web-01 -o json" works like "ci show -o json web-01".
func interleave(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if strings.Contains(name, "=") {
				continue
			}
			if f := fs.Lookup(name); f != nil {
				if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
					continue
				}
				if i+1 < len(args) {
					flags = append(flags, args[i+1])
					i++
				}
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(flags, pos...)
}

type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func needArgs(args []string, n int, what string) error {
	if len(args) != n {
		return usageError{fmt.Sprintf("want %s", what)}
	}
	return nil
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: parc [--api URL] [--token T] [-o table|json] COMMAND ...")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for k := range commands {
		names = append(names, k)
	}
	sort.Strings(names)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, k := range names {
		fmt.Fprintf(tw, "  parc %s\t%s\n", commands[k].Usage, commands[k].Help)
	}
	tw.Flush()
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// findToken looks for a token the collector on this machine wrote: the
// credentials file of the user, then the default data directory's admin
// token.
func findToken(getenv func(string) string) string {
	var paths []string
	if home := getenv("HOME"); home != "" {
		paths = append(paths, home+"/.config/parc/credentials")
	}
	if d := getenv("PARC_DATA"); d != "" {
		paths = append(paths, d+"/admin.token")
	}
	paths = append(paths, ".run/data/admin.token", "/var/lib/parc/admin.token")
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			if t := strings.TrimSpace(string(b)); t != "" {
				return t
			}
		}
	}
	return ""
}

// printJSON writes raw API JSON to out.
func printJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func table(out io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(out, 2, 4, 2, ' ', 0) }

// clean makes a hostile string safe for a terminal: control characters
// (escape sequences) are replaced.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}

func fmtValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "∅"
	case string:
		return clean(x)
	case []any:
		parts := make([]string, len(x))
		for i, p := range x {
			parts[i] = fmtValue(p)
		}
		return strings.Join(parts, ", ")
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprintf("%d", int64(x))
		}
		return fmt.Sprintf("%g", x)
	default:
		b, _ := json.Marshal(x)
		return clean(string(b))
	}
}

func fmtTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// jsonRaw keeps an API answer's raw JSON and decodes it on demand.
type jsonRaw struct{ msg json.RawMessage }

func (j jsonRaw) decode(v any) error { return json.Unmarshal(j.msg, v) }

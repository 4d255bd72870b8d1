package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"parc/collector/apiclient"
)

type chgWindowJSON struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

func (w chgWindowJSON) String() string {
	if w.Start.IsZero() {
		return "-"
	}
	return w.Start.Local().Format("2006-01-02 15:04") + " → " + w.End.Local().Format("2006-01-02 15:04")
}

type chgJSON struct {
	Number        string        `json:"number"`
	Type          string        `json:"type"`
	Title         string        `json:"title"`
	Description   string        `json:"description"`
	Justification string        `json:"justification"`
	Requester     string        `json:"requester"`
	CIs           []string      `json:"cis"`
	Window        chgWindowJSON `json:"window"`
	Actual        chgWindowJSON `json:"actual"`
	ImplPlan      string        `json:"implementation_plan"`
	BackoutPlan   string        `json:"backout_plan"`
	RiskScore     int           `json:"risk_score"`
	RiskLevel     string        `json:"risk_level"`
	State         string        `json:"state"`
	Template      string        `json:"template"`
	Approved      bool          `json:"approved"`
	Outcome       string        `json:"outcome"`
	Incidents     []string      `json:"incidents"`
	Required      *struct {
		Rule      string   `json:"rule"`
		Quorum    int      `json:"quorum"`
		Approvers []string `json:"approvers"`
		Owners    []string `json:"owners"`
	} `json:"required"`
	Approvals []struct {
		By       string    `json:"by"`
		Decision string    `json:"decision"`
		Comment  string    `json:"comment"`
		At       time.Time `json:"at"`
		As       []string  `json:"as"`
	} `json:"approvals"`
	Expect []struct {
		CI         string `json:"ci"`
		Software   string `json:"software"`
		MinVersion string `json:"min_version"`
		Absent     bool   `json:"absent"`
		Attr       string `json:"attr"`
		Value      string `json:"value"`
	} `json:"expect"`
	Verify []chgVerifyJSON `json:"verify"`
	Log    []struct {
		At     time.Time `json:"at"`
		Actor  string    `json:"actor"`
		Action string    `json:"action"`
		From   string    `json:"from"`
		To     string    `json:"to"`
		Note   string    `json:"note"`
	} `json:"log"`
}

type chgVerifyJSON struct {
	CI     string   `json:"ci"`
	Status string   `json:"status"`
	Detail []string `json:"detail"`
}

type chgNodeJSON struct {
	ID    string   `json:"id"`
	Name  string   `json:"name"`
	Class string   `json:"class"`
	Depth int      `json:"depth"`
	Path  []string `json:"path"`
	Via   string   `json:"via"`
}

type chgImpactJSON struct {
	Snapshot bool `json:"snapshot"`
	Impact   struct {
		At       time.Time `json:"at"`
		Affected []struct {
			ID    string `json:"id"`
			Name  string `json:"name"`
			Class string `json:"class"`
		} `json:"affected"`
		Downstream []chgNodeJSON `json:"downstream"`
		Upstream   []chgNodeJSON `json:"upstream"`
		Critical   []struct {
			Name  string `json:"name"`
			Owner string `json:"owner"`
		} `json:"critical_services"`
		CountByClass  map[string]int      `json:"count_by_class"`
		OpenIncidents map[string][]string `json:"open_incidents"`
		OpenProblems  map[string][]string `json:"open_problems"`
		Collisions    []struct {
			Number string        `json:"number"`
			Title  string        `json:"title"`
			State  string        `json:"state"`
			Window chgWindowJSON `json:"window"`
			CIs    []string      `json:"cis"`
			Direct bool          `json:"direct"`
		} `json:"collisions"`
		Freezes []struct {
			ID     string        `json:"id"`
			Name   string        `json:"name"`
			Window chgWindowJSON `json:"window"`
		} `json:"freezes"`
		RiskScore int      `json:"risk_score"`
		RiskLevel string   `json:"risk_level"`
		Reasons   []string `json:"reasons"`
		Truncated bool     `json:"truncated"`
	} `json:"impact"`
}

// chgTime parses a time given on the command line.
func chgTime(name, v string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usageError{fmt.Sprintf("--%s %q: want RFC 3339 or 2006-01-02 15:04", name, v)}
}

func chgWindow(start, end string) (map[string]any, error) {
	if start == "" && end == "" {
		return nil, nil
	}
	if start == "" || end == "" {
		return nil, usageError{"give both --start and --end"}
	}
	s, err := chgTime("start", start)
	if err != nil {
		return nil, err
	}
	e, err := chgTime("end", end)
	if err != nil {
		return nil, err
	}
	return map[string]any{"start": s.UTC(), "end": e.UTC()}, nil
}

// chgDo calls the API and prints the change it answers.
func chgDo(e *Env, method, path string, body any) error {
	var raw json.RawMessage
	if err := e.Client.Do(e.Ctx, method, path, body, &raw); err != nil {
		return err
	}
	if e.JSON {
		_, err := e.Out.Write(raw)
		return err
	}
	var c chgJSON
	if err := json.Unmarshal(raw, &c); err != nil {
		return err
	}
	printChange(e, &c)
	return nil
}

func printChange(e *Env, c *chgJSON) {
	fmt.Fprintf(e.Out, "%s  %s\n", c.Number, clean(c.Title))
	tw := table(e.Out)
	fmt.Fprintf(tw, "type:\t%s\n", c.Type)
	fmt.Fprintf(tw, "state:\t%s\n", c.State)
	fmt.Fprintf(tw, "requester:\t%s\n", clean(c.Requester))
	fmt.Fprintf(tw, "window:\t%s\n", c.Window)
	if !c.Actual.Start.IsZero() {
		end := "…"
		if !c.Actual.End.IsZero() {
			end = c.Actual.End.Local().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "implemented:\t%s → %s\n", c.Actual.Start.Local().Format("2006-01-02 15:04"), end)
	}
	if c.RiskLevel != "" {
		fmt.Fprintf(tw, "risk:\t%s (%d)\n", c.RiskLevel, c.RiskScore)
	}
	if c.Template != "" {
		fmt.Fprintf(tw, "template:\t%s\n", clean(c.Template))
	}
	fmt.Fprintf(tw, "CIs:\t%s\n", strings.Join(c.CIs, ", "))
	if c.Required != nil {
		need := fmt.Sprintf("rule %s: %d approval(s)", c.Required.Rule, c.Required.Quorum)
		if len(c.Required.Approvers) > 0 {
			need += " of " + strings.Join(c.Required.Approvers, ", ")
		}
		if len(c.Required.Owners) > 0 {
			need += "; owners " + strings.Join(c.Required.Owners, ", ")
		}
		fmt.Fprintf(tw, "approval:\t%s — approved: %v\n", clean(need), c.Approved)
	}
	if c.Outcome != "" {
		fmt.Fprintf(tw, "outcome:\t%s\n", c.Outcome)
	}
	if len(c.Incidents) > 0 {
		fmt.Fprintf(tw, "caused incidents:\t%s\n", strings.Join(c.Incidents, ", "))
	}
	tw.Flush()
	for _, s := range []struct{ name, text string }{{"Description", c.Description}, {"Justification", c.Justification}, {"Implementation plan", c.ImplPlan}, {"Back-out plan", c.BackoutPlan}} {
		if s.text != "" {
			fmt.Fprintf(e.Out, "\n%s:\n  %s\n", s.name, clean(strings.ReplaceAll(s.text, "\n", " ")))
		}
	}
	if len(c.Expect) > 0 {
		fmt.Fprintln(e.Out, "\nExpected results:")
		for _, x := range c.Expect {
			switch {
			case x.Attr != "":
				fmt.Fprintf(e.Out, "  %s: %s = %s\n", x.CI, clean(x.Attr), clean(x.Value))
			case x.Absent:
				fmt.Fprintf(e.Out, "  %s: %s absent\n", x.CI, clean(x.Software))
			case x.MinVersion != "":
				fmt.Fprintf(e.Out, "  %s: %s ≥ %s\n", x.CI, clean(x.Software), clean(x.MinVersion))
			default:
				fmt.Fprintf(e.Out, "  %s: %s installed\n", x.CI, clean(x.Software))
			}
		}
	}
	printVerify(e, c.Verify)
	if len(c.Approvals) > 0 {
		fmt.Fprintln(e.Out, "\nApprovals:")
		tw := table(e.Out)
		for _, a := range c.Approvals {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", a.At.Local().Format("2006-01-02 15:04"), clean(a.By), a.Decision, strings.Join(a.As, ","), clean(a.Comment))
		}
		tw.Flush()
	}
	if len(c.Log) > 0 {
		fmt.Fprintln(e.Out, "\nLog:")
		tw := table(e.Out)
		for _, l := range c.Log {
			what := l.Action
			if l.To != "" && l.From != "" {
				what = l.From + " → " + l.To
			} else if l.To != "" {
				what += " (" + l.To + ")"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", l.At.Local().Format("2006-01-02 15:04:05"), clean(l.Actor), what, clean(l.Note))
		}
		tw.Flush()
	}
}

func printVerify(e *Env, vs []chgVerifyJSON) {
	if len(vs) == 0 {
		return
	}
	fmt.Fprintln(e.Out, "\nVerification by discovery:")
	tw := table(e.Out)
	for _, v := range vs {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", v.CI, v.Status, clean(strings.Join(v.Detail, "; ")))
	}
	tw.Flush()
}

func printImpact(e *Env, v *chgImpactJSON) {
	imp := v.Impact
	kind := "live analysis"
	if v.Snapshot {
		kind = "snapshot of " + imp.At.Local().Format("2006-01-02 15:04:05")
	}
	fmt.Fprintf(e.Out, "Impact (%s): risk %s (%d)\n", kind, imp.RiskLevel, imp.RiskScore)
	for _, r := range imp.Reasons {
		fmt.Fprintf(e.Out, "  %s\n", clean(r))
	}
	classes := make([]string, 0, len(imp.CountByClass))
	for c, n := range imp.CountByClass {
		classes = append(classes, fmt.Sprintf("%s %d", c, n))
	}
	sort.Strings(classes)
	fmt.Fprintf(e.Out, "\nAffected CIs by class: %s\n", strings.Join(classes, ", "))
	if len(imp.Critical) > 0 {
		var cs []string
		for _, c := range imp.Critical {
			cs = append(cs, clean(c.Name)+" (owner "+orDash(clean(c.Owner))+")")
		}
		fmt.Fprintf(e.Out, "Critical services: %s\n", strings.Join(cs, ", "))
	}
	names := map[string]string{}
	for _, a := range imp.Affected {
		names[a.ID] = a.Name
	}
	for _, n := range append(append([]chgNodeJSON(nil), imp.Downstream...), imp.Upstream...) {
		names[n.ID] = n.Name
	}
	path := func(p []string) string {
		out := make([]string, len(p))
		for i, id := range p {
			out[i] = clean(orDash(names[id]))
		}
		return strings.Join(out, " → ")
	}
	for _, part := range []struct {
		title string
		nodes []chgNodeJSON
	}{{"Dependants (downstream)", imp.Downstream}, {"Relies on (upstream)", imp.Upstream}} {
		fmt.Fprintf(e.Out, "\n%s: %d\n", part.title, len(part.nodes))
		tw := table(e.Out)
		for _, n := range part.nodes {
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\n", n.Depth, n.Class, clean(n.Name), n.Via, path(n.Path))
		}
		tw.Flush()
	}
	if imp.Truncated {
		fmt.Fprintln(e.Out, "  (lists truncated)")
	}
	for _, m := range []struct {
		title string
		v     map[string][]string
	}{{"Open incidents", imp.OpenIncidents}, {"Open problems", imp.OpenProblems}} {
		if len(m.v) == 0 {
			continue
		}
		fmt.Fprintf(e.Out, "\n%s:\n", m.title)
		for ci, nums := range m.v {
			fmt.Fprintf(e.Out, "  %s: %s\n", clean(orDash(names[ci])), strings.Join(nums, ", "))
		}
	}
	if len(imp.Collisions) > 0 {
		fmt.Fprintln(e.Out, "\nColliding changes:")
		tw := table(e.Out)
		for _, c := range imp.Collisions {
			how := "dependent CIs"
			if c.Direct {
				how = "same CIs"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", c.Number, c.State, c.Window, how, clean(c.Title))
		}
		tw.Flush()
	}
	if len(imp.Freezes) > 0 {
		fmt.Fprintln(e.Out, "\nFreeze windows violated:")
		for _, f := range imp.Freezes {
			fmt.Fprintf(e.Out, "  %s  %s  %s\n", f.ID, clean(f.Name), f.Window)
		}
	}
}

func chgPath(num string, rest ...string) string {
	return "/changes/" + apiclient.PathEscape(num) + strings.Join(rest, "")
}

// changeCommands adds the change commands.
func changeCommands(r registry) {
	var in struct {
		typ, title, desc, just, impl, backout, risk, tpl, start, end string
		cis, expect                                                  multiFlag
	}
	r["change create"] = &Command{
		Usage: "change create --title T --ci CI... [--type normal|emergency] [--template NAME] [--start T --end T] [--expect SPEC]...",
		Help:  "record a change in draft (--expect CI:software=NAME>=VERSION, CI:software=NAME, CI:absent=NAME or CI:attr=NAME=VALUE)",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&in.typ, "type", "", "standard, normal (default) or emergency")
			fs.StringVar(&in.title, "title", "", "title")
			fs.StringVar(&in.desc, "description", "", "description")
			fs.StringVar(&in.just, "justification", "", "why")
			fs.StringVar(&in.impl, "plan", "", "implementation plan")
			fs.StringVar(&in.backout, "backout", "", "back-out plan")
			fs.StringVar(&in.risk, "risk", "", "declared risk: low, medium or high")
			fs.StringVar(&in.tpl, "template", "", "standard-change template")
			fs.StringVar(&in.start, "start", "", "planned window start")
			fs.StringVar(&in.end, "end", "", "planned window end")
			fs.Var(&in.cis, "ci", "affected CI (id, name, hostname, serial...; repeat)")
			fs.Var(&in.expect, "expect", "expected result, checked by discovery (repeat)")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "flags only"); err != nil {
				return err
			}
			body := map[string]any{"type": in.typ, "title": in.title, "description": in.desc, "justification": in.just,
				"implementation_plan": in.impl, "backout_plan": in.backout, "risk": in.risk, "template": in.tpl, "cis": []string(in.cis)}
			w, err := chgWindow(in.start, in.end)
			if err != nil {
				return err
			}
			if w != nil {
				body["window"] = w
			}
			var ex []map[string]any
			for _, s := range in.expect {
				x, err := parseExpect(s)
				if err != nil {
					return err
				}
				ex = append(ex, x)
			}
			if ex != nil {
				body["expect"] = ex
			}
			return chgDo(e, "POST", "/changes", body)
		},
	}

	var list struct {
		state, typ, ci string
		open           bool
		limit          int
	}
	r["change list"] = &Command{
		Usage: "change list [--state S] [--type T] [--ci CI] [--open]",
		Help:  "list changes",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&list.state, "state", "", "only this state")
			fs.StringVar(&list.typ, "type", "", "only this type")
			fs.StringVar(&list.ci, "ci", "", "only changes naming this CI")
			fs.BoolVar(&list.open, "open", false, "only changes not closed, rejected or cancelled")
			fs.IntVar(&list.limit, "limit", 100, "page size (1..1000)")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			q := url.Values{"limit": {fmt.Sprint(list.limit)}}
			for k, v := range map[string]string{"state": list.state, "type": list.typ, "ci": list.ci} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if list.open {
				q.Set("open", "1")
			}
			var v struct {
				Items []chgJSON `json:"items"`
				Next  string    `json:"next"`
			}
			raw, err := getRaw(e, "/changes?"+q.Encode(), &v)
			if err != nil {
				return err
			}
			if e.JSON {
				_, err := e.Out.Write(raw)
				return err
			}
			tw := table(e.Out)
			fmt.Fprintln(tw, "NUMBER\tTYPE\tSTATE\tRISK\tWINDOW\tREQUESTER\tTITLE")
			for _, c := range v.Items {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Number, c.Type, c.State, orDash(c.RiskLevel), c.Window, clean(c.Requester), clean(c.Title))
			}
			if v.Next != "" {
				defer fmt.Fprintf(e.Err, "more: the API's cursor after=%s\n", v.Next)
			}
			return tw.Flush()
		},
	}

	r["change show"] = &Command{
		Usage: "change show CHG",
		Help:  "show a change with its approvals, verification and log",
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one change number"); err != nil {
				return err
			}
			return chgDo(e, "GET", chgPath(args[0]), nil)
		},
	}

	simple := func(word, help string, body func() any) {
		r["change "+word] = &Command{
			Usage: "change " + word + " CHG",
			Help:  help,
			Run: func(e *Env, _ *flag.FlagSet, args []string) error {
				if err := needArgs(args, 1, "one change number"); err != nil {
					return err
				}
				var b any
				if body != nil {
					b = body()
				}
				return chgDo(e, "POST", chgPath(args[0], "/"+word), b)
			},
		}
	}
	simple("submit", "take the impact snapshot and send the change for approval", nil)
	simple("implement", "start implementation (discovery then verifies the expected results)", nil)
	simple("verify", "check the expected results against the current inventory now", nil)

	var comment string
	for _, word := range []string{"approve", "reject"} {
		r["change "+word] = &Command{
			Usage: "change " + word + " CHG [--comment TEXT]",
			Help:  word + " a change awaiting authorization",
			Flags: func(fs *flag.FlagSet) { fs.StringVar(&comment, "comment", "", "comment (required to reject)") },
			Run: func(e *Env, _ *flag.FlagSet, args []string) error {
				if err := needArgs(args, 1, "one change number"); err != nil {
					return err
				}
				return chgDo(e, "POST", chgPath(args[0], "/"+word), map[string]string{"comment": comment})
			},
		}
	}

	var sched struct{ start, end string }
	r["change schedule"] = &Command{
		Usage: "change schedule CHG [--start T --end T]",
		Help:  "schedule an authorized change (optionally in a new window)",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&sched.start, "start", "", "new window start")
			fs.StringVar(&sched.end, "end", "", "new window end")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one change number"); err != nil {
				return err
			}
			w, err := chgWindow(sched.start, sched.end)
			if err != nil {
				return err
			}
			var body any
			if w != nil {
				body = map[string]any{"window": w}
			}
			return chgDo(e, "POST", chgPath(args[0], "/schedule"), body)
		},
	}

	var outcome, note string
	r["change review"] = &Command{
		Usage: "change review CHG [--outcome successful|failed|backed_out|partial] [--note TEXT]",
		Help:  "end implementation with an outcome; without --outcome, show the review report",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&outcome, "outcome", "", "outcome of the implementation")
			fs.StringVar(&note, "note", "", "note")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one change number"); err != nil {
				return err
			}
			if outcome != "" {
				return chgDo(e, "POST", chgPath(args[0], "/review"), map[string]string{"outcome": outcome, "note": note})
			}
			return reviewReport(e, args[0])
		},
	}
	r["change close"] = &Command{
		Usage: "change close CHG [--outcome O] [--note TEXT]",
		Help:  "close a reviewed change (or an implemented standard change)",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&outcome, "outcome", "", "outcome (standard changes: default successful)")
			fs.StringVar(&note, "note", "", "note")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one change number"); err != nil {
				return err
			}
			return chgDo(e, "POST", chgPath(args[0], "/close"), map[string]string{"outcome": outcome, "note": note})
		},
	}
	r["change cancel"] = &Command{
		Usage: "change cancel CHG [--note TEXT]",
		Help:  "withdraw a change before implementation",
		Flags: func(fs *flag.FlagSet) { fs.StringVar(&note, "note", "", "why") },
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one change number"); err != nil {
				return err
			}
			return chgDo(e, "POST", chgPath(args[0], "/cancel"), map[string]string{"note": note})
		},
	}
	r["change link"] = &Command{
		Usage: "change link CHG INC",
		Help:  "record that an incident was caused by the change",
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 2, "a change number and an incident number"); err != nil {
				return err
			}
			return chgDo(e, "POST", chgPath(args[0], "/incidents"), map[string]string{"incident": args[1]})
		},
	}

	var fresh, save bool
	r["change impact"] = &Command{
		Usage: "change impact CHG [--fresh] [--save]",
		Help:  "show the impact analysis: the snapshot taken at submit, --fresh for a live one, --save to recompute and store it",
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&fresh, "fresh", false, "analyse the current graph without storing")
			fs.BoolVar(&save, "save", false, "recompute and store as the change's snapshot")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one change number"); err != nil {
				return err
			}
			var raw json.RawMessage
			var err error
			switch {
			case save:
				err = e.Client.Do(e.Ctx, "POST", chgPath(args[0], "/impact"), nil, &raw)
			case fresh:
				err = e.Client.Get(e.Ctx, chgPath(args[0], "/impact?fresh=1"), &raw)
			default:
				err = e.Client.Get(e.Ctx, chgPath(args[0], "/impact"), &raw)
			}
			if err != nil {
				return err
			}
			if e.JSON {
				_, err := e.Out.Write(raw)
				return err
			}
			var v chgImpactJSON
			if err := json.Unmarshal(raw, &v); err != nil {
				return err
			}
			printImpact(e, &v)
			return nil
		},
	}

	var driftCI string
	var driftAll bool
	r["change drift"] = &Command{
		Usage: "change drift [--ci CI] [--all]",
		Help:  "list discovered changes on change-controlled CIs that no change covered",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&driftCI, "ci", "", "only this CI")
			fs.BoolVar(&driftAll, "all", false, "include resolved drift")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			q := url.Values{}
			if driftCI != "" {
				q.Set("ci", driftCI)
			}
			if driftAll {
				q.Set("all", "1")
			}
			var v struct {
				Items []struct {
					ID       string    `json:"id"`
					CI       string    `json:"ci"`
					CIName   string    `json:"ci_name"`
					At       time.Time `json:"at"`
					Kind     string    `json:"kind"`
					Incident string    `json:"incident"`
					Resolved string    `json:"resolved_by"`
					Changes  []struct {
						Field  string `json:"field"`
						Before any    `json:"before"`
						After  any    `json:"after"`
					} `json:"changes"`
				} `json:"items"`
			}
			raw, err := getRaw(e, "/change-drift?"+q.Encode(), &v)
			if err != nil {
				return err
			}
			if e.JSON {
				_, err := e.Out.Write(raw)
				return err
			}
			tw := table(e.Out)
			fmt.Fprintln(tw, "ID\tWHEN\tCI\tKIND\tINCIDENT\tWHAT")
			for _, d := range v.Items {
				var what []string
				for _, c := range d.Changes {
					what = append(what, fmt.Sprintf("%s %s→%s", c.Field, fmtValue(c.Before), fmtValue(c.After)))
				}
				inc := orDash(d.Incident)
				if d.Resolved != "" {
					inc += " (resolved by " + d.Resolved + ")"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.At.Local().Format("2006-01-02 15:04"), clean(orDash(d.CIName)), d.Kind, clean(inc), clean(strings.Join(what, "; ")))
			}
			return tw.Flush()
		},
	}
	r["change drift resolve"] = &Command{
		Usage: "change drift resolve ID --note TEXT",
		Help:  "accept a drift record (say why)",
		Flags: func(fs *flag.FlagSet) { fs.StringVar(&note, "note", "", "why it is acceptable") },
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one drift id"); err != nil {
				return err
			}
			var raw json.RawMessage
			if err := e.Client.Do(e.Ctx, "POST", "/change-drift/"+apiclient.PathEscape(args[0])+"/resolve", map[string]string{"note": note}, &raw); err != nil {
				return err
			}
			if e.JSON {
				_, err := e.Out.Write(raw)
				return err
			}
			fmt.Fprintf(e.Out, "drift %s resolved\n", args[0])
			return nil
		},
	}

	var ctlOff, ctlIncident bool
	var ctlReason string
	r["change control"] = &Command{
		Usage: "change control CI [--off] [--open-incident] [--reason TEXT]",
		Help:  "mark a CI as change-controlled: discovered changes on it need an implementing change",
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&ctlOff, "off", false, "remove the mark")
			fs.BoolVar(&ctlIncident, "open-incident", false, "open an incident for each drift")
			fs.StringVar(&ctlReason, "reason", "", "why")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one CI"); err != nil {
				return err
			}
			method := "PUT"
			if ctlOff {
				method = "DELETE"
			}
			var out map[string]any
			if err := e.Client.Do(e.Ctx, method, "/change-controls/"+apiclient.PathEscape(args[0]), map[string]any{"open_incident": ctlIncident, "reason": ctlReason}, &out); err != nil {
				return err
			}
			if e.JSON {
				return printJSON(e.Out, out)
			}
			fmt.Fprintf(e.Out, "%s change-controlled: %v\n", out["ci"], out["controlled"])
			return nil
		},
	}

	r["change template list"] = &Command{
		Usage: "change template list",
		Help:  "list standard-change templates",
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			var v struct {
				Items []struct {
					Name     string `json:"name"`
					Title    string `json:"title"`
					MaxRisk  string `json:"max_risk"`
					Approver string `json:"approved_by"`
				} `json:"items"`
			}
			raw, err := getRaw(e, "/change-templates", &v)
			if err != nil {
				return err
			}
			if e.JSON {
				_, err := e.Out.Write(raw)
				return err
			}
			tw := table(e.Out)
			fmt.Fprintln(tw, "NAME\tMAX RISK\tAPPROVED BY\tTITLE")
			for _, t := range v.Items {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", clean(t.Name), orDash(t.MaxRisk), clean(t.Approver), clean(t.Title))
			}
			return tw.Flush()
		},
	}
	var tpl struct {
		title, desc, impl, backout, maxRisk string
		expect                              multiFlag
	}
	r["change template put"] = &Command{
		Usage: "change template put NAME --title T [--plan P] [--backout B] [--max-risk low|medium|high] [--expect SPEC]...",
		Help:  "create or replace a pre-approved standard-change template (--expect without CI: software=NAME>=V, attr=A=V)",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&tpl.title, "title", "", "title of its changes")
			fs.StringVar(&tpl.desc, "description", "", "description")
			fs.StringVar(&tpl.impl, "plan", "", "implementation plan")
			fs.StringVar(&tpl.backout, "backout", "", "back-out plan")
			fs.StringVar(&tpl.maxRisk, "max-risk", "", "highest computed risk that stays pre-approved (default low)")
			fs.Var(&tpl.expect, "expect", "expected result on every CI of the change (repeat)")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one template name"); err != nil {
				return err
			}
			body := map[string]any{"title": tpl.title, "description": tpl.desc, "implementation_plan": tpl.impl, "backout_plan": tpl.backout, "max_risk": tpl.maxRisk}
			var ex []map[string]any
			for _, s := range tpl.expect {
				x, err := parseExpect(":" + s)
				if err != nil {
					return err
				}
				ex = append(ex, x)
			}
			if ex != nil {
				body["expect"] = ex
			}
			var raw json.RawMessage
			if err := e.Client.Do(e.Ctx, "PUT", "/change-templates/"+apiclient.PathEscape(args[0]), body, &raw); err != nil {
				return err
			}
			if e.JSON {
				_, err := e.Out.Write(raw)
				return err
			}
			fmt.Fprintf(e.Out, "template %s saved\n", args[0])
			return nil
		},
	}

	var frz struct {
		name, start, end, reason string
		cis, classes             multiFlag
	}
	r["change freeze add"] = &Command{
		Usage: "change freeze add --name N --start T --end T [--ci CI]... [--class C]... [--reason TEXT]",
		Help:  "add a freeze (blackout) window; with no --ci or --class it covers every CI",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&frz.name, "name", "", "name")
			fs.StringVar(&frz.start, "start", "", "start")
			fs.StringVar(&frz.end, "end", "", "end")
			fs.StringVar(&frz.reason, "reason", "", "reason")
			fs.Var(&frz.cis, "ci", "CI it covers (repeat)")
			fs.Var(&frz.classes, "class", "class it covers (repeat)")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "flags only"); err != nil {
				return err
			}
			w, err := chgWindow(frz.start, frz.end)
			if err != nil {
				return err
			}
			if w == nil {
				return usageError{"--start and --end are required"}
			}
			var out struct {
				ID string `json:"id"`
			}
			body := map[string]any{"name": frz.name, "window": w, "reason": frz.reason, "cis": []string(frz.cis), "classes": []string(frz.classes)}
			if err := e.Client.Do(e.Ctx, "POST", "/change-freezes", body, &out); err != nil {
				return err
			}
			if e.JSON {
				return printJSON(e.Out, out)
			}
			fmt.Fprintf(e.Out, "freeze %s added\n", out.ID)
			return nil
		},
	}
	r["change freeze list"] = &Command{
		Usage: "change freeze list",
		Help:  "list freeze windows",
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			var v struct {
				Items []struct {
					ID      string        `json:"id"`
					Name    string        `json:"name"`
					Window  chgWindowJSON `json:"window"`
					CIs     []string      `json:"cis"`
					Classes []string      `json:"classes"`
					Reason  string        `json:"reason"`
				} `json:"items"`
			}
			raw, err := getRaw(e, "/change-freezes", &v)
			if err != nil {
				return err
			}
			if e.JSON {
				_, err := e.Out.Write(raw)
				return err
			}
			tw := table(e.Out)
			fmt.Fprintln(tw, "ID\tNAME\tWINDOW\tSCOPE\tREASON")
			for _, f := range v.Items {
				scope := strings.Join(append(append([]string(nil), f.CIs...), f.Classes...), ", ")
				if scope == "" {
					scope = "all CIs"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.ID, clean(f.Name), f.Window, clean(scope), clean(f.Reason))
			}
			return tw.Flush()
		},
	}
	r["change freeze delete"] = &Command{
		Usage: "change freeze delete ID",
		Help:  "remove a freeze window",
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, "one freeze id"); err != nil {
				return err
			}
			return e.Client.Do(e.Ctx, "DELETE", "/change-freezes/"+apiclient.PathEscape(args[0]), nil, nil)
		},
	}

	var rulesFile string
	r["change rules"] = &Command{
		Usage: "change rules [--set FILE.json]",
		Help:  "show the approval rules, or replace them from a JSON file",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&rulesFile, "set", "", "JSON file with {\"rules\": [...], \"critical\": [...]}")
		},
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			var raw json.RawMessage
			if rulesFile != "" {
				data, err := os.ReadFile(rulesFile)
				if err != nil {
					return err
				}
				if err := e.Client.Do(e.Ctx, "PUT", "/change-rules", json.RawMessage(data), &raw); err != nil {
					return err
				}
			} else if err := e.Client.Get(e.Ctx, "/change-rules", &raw); err != nil {
				return err
			}
			if e.JSON {
				_, err := e.Out.Write(raw)
				return err
			}
			var v struct {
				Rules []struct {
					Name      string   `json:"name"`
					Type      string   `json:"type"`
					Risk      string   `json:"risk"`
					Quorum    int      `json:"quorum"`
					Approvers []string `json:"approvers"`
					Owners    bool     `json:"owners"`
				} `json:"rules"`
				Critical []string `json:"critical"`
			}
			if err := json.Unmarshal(raw, &v); err != nil {
				return err
			}
			tw := table(e.Out)
			fmt.Fprintln(tw, "RULE\tTYPE\tRISK\tQUORUM\tAPPROVERS\tOWNERS OF CRITICAL SERVICES")
			for _, r := range v.Rules {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%v\n", clean(r.Name), orDash(r.Type), orDash(r.Risk), r.Quorum, clean(orDash(strings.Join(r.Approvers, ","))), r.Owners)
			}
			tw.Flush()
			fmt.Fprintf(e.Out, "critical: %s\n", strings.Join(v.Critical, ", "))
			return nil
		},
	}
}

// reviewReport prints the review report of a change.
func reviewReport(e *Env, num string) error {
	var v struct {
		Change   string          `json:"change"`
		State    string          `json:"state"`
		Outcome  string          `json:"outcome"`
		Window   chgWindowJSON   `json:"window"`
		Actual   chgWindowJSON   `json:"actual"`
		Verify   []chgVerifyJSON `json:"verify"`
		Verified bool            `json:"verified"`
		During   []chgIncJSON    `json:"incidents_during"`
		After    []chgIncJSON    `json:"incidents_after"`
		CausedBy []string        `json:"caused_by"`
	}
	raw, err := getRaw(e, chgPath(num, "/review"), &v)
	if err != nil {
		return err
	}
	if e.JSON {
		_, err := e.Out.Write(raw)
		return err
	}
	fmt.Fprintf(e.Out, "Review of %s (%s)\noutcome: %s\nwindow: %s\nverified by discovery: %v\n", v.Change, v.State, orDash(v.Outcome), v.Window, v.Verified)
	printVerify(e, v.Verify)
	for _, part := range []struct {
		title string
		items []chgIncJSON
	}{{"Incidents during the window", v.During}, {"Incidents after the window", v.After}} {
		fmt.Fprintf(e.Out, "\n%s: %d\n", part.title, len(part.items))
		tw := table(e.Out)
		for _, in := range part.items {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", in.Number, in.Opened.Local().Format("2006-01-02 15:04"), in.Status, clean(in.Title))
		}
		tw.Flush()
	}
	if len(v.CausedBy) > 0 {
		fmt.Fprintf(e.Out, "\nCaused by this change: %s\n", strings.Join(v.CausedBy, ", "))
	}
	return nil
}

type chgIncJSON struct {
	Number string    `json:"number"`
	Title  string    `json:"title"`
	Status string    `json:"status"`
	Opened time.Time `json:"opened"`
}

// parseExpect reads CI:software=NAME[>=VERSION], CI:absent=NAME or
// CI:attr=NAME=VALUE.
func parseExpect(s string) (map[string]any, error) {
	bad := usageError{fmt.Sprintf("--expect %q: want CI:software=NAME[>=VERSION], CI:absent=NAME or CI:attr=NAME=VALUE", s)}
	i := strings.LastIndex(s, ":")
	for _, k := range []string{":software=", ":absent=", ":attr="} {
		if j := strings.Index(s, k); j >= 0 {
			i = j
			break
		}
	}
	if i < 0 {
		return nil, bad
	}
	ci, spec := s[:i], s[i+1:]
	kind, val, ok := strings.Cut(spec, "=")
	if !ok || val == "" {
		return nil, bad
	}
	out := map[string]any{}
	if ci != "" {
		out["ci"] = ci
	}
	switch kind {
	case "software":
		name, ver, _ := strings.Cut(val, ">=")
		out["software"] = name
		if ver != "" {
			out["min_version"] = ver
		}
	case "absent":
		out["software"], out["absent"] = val, true
	case "attr":
		a, v, ok := strings.Cut(val, "=")
		if !ok {
			return nil, bad
		}
		out["attr"], out["value"] = a, v
	default:
		return nil, bad
	}
	return out, nil
}

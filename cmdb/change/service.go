package change

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"parc/cmdb"
	"parc/cmdb/audit"
	"parc/cmdb/store"
)

// OnCIFunc returns the numbers of open records (incidents, problems) on a
// CI: the signature of incident.OpenOnCI and problem.OpenOnCI.
type OnCIFunc func(ctx context.Context, r store.Reader, ci string) ([]string, error)

// IncidentInfo is what the review report needs to know of an incident.
type IncidentInfo struct {
	Number   string    `json:"number"`
	Title    string    `json:"title,omitempty"`
	Status   string    `json:"status,omitempty"`
	Opened   time.Time `json:"opened"`
	CausedBy string    `json:"caused_by_change,omitempty"`
}

// Config wires the module to its neighbours. Every function is optional:
// the collector plugs in the incident and problem packages.
type Config struct {
	// OpenIncidents and OpenProblems list open records on a CI.
	OpenIncidents OnCIFunc
	OpenProblems  OnCIFunc
	// Incidents lists every incident affecting a CI (for the review).
	Incidents func(ctx context.Context, r store.Reader, ci string) ([]IncidentInfo, error)
	// OpenIncident opens an incident for a drift on a CI whose control asks
	// for one, and returns its number; nil opens none. It runs after the
	// drift is committed (the incident module writes in its own
	// transaction); the drift then records the number.
	OpenIncident func(ctx context.Context, d *Drift, actor string, now time.Time) (string, error)
	// Depth is the impact traversal depth (default 3).
	Depth int
	// Limit caps the CIs one traversal visits (default 10000).
	Limit int
	// SnapshotNodes caps the nodes kept per direction in a stored snapshot
	// (default 2000), so it fits one store value.
	SnapshotNodes int
	// Now is the clock of the discovery follower (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Service is the change module.
type Service struct {
	st       store.Store
	g        *cmdb.Graph
	cfg      Config
	followed atomic.Int64
}

// New returns the change service over the graph's store.
func New(g *cmdb.Graph, cfg Config) *Service {
	if cfg.Depth <= 0 {
		cfg.Depth = 3
	}
	if cfg.Limit <= 0 {
		cfg.Limit = 10000
	}
	if cfg.SnapshotNodes <= 0 {
		cfg.SnapshotNodes = 2000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{st: g.Store(), g: g, cfg: cfg}
}

// Input is a new change.
type Input struct {
	Type          Type          `json:"type"`
	Title         string        `json:"title"`
	Description   string        `json:"description"`
	Justification string        `json:"justification"`
	CIs           []string      `json:"cis"`
	Window        Window        `json:"window"`
	ImplPlan      string        `json:"implementation_plan"`
	BackoutPlan   string        `json:"backout_plan"`
	Risk          string        `json:"risk"`
	Template      string        `json:"template"`
	Expect        []Expectation `json:"expect"`
}

// MaxCIs is the most CIs one change may name (each costs an index write in
// the creating transaction).
const MaxCIs = 100

func invalid(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, cmdb.ErrInvalid)...)
}

// resolve turns CI references (ids, names, identifiers) into ids.
func (s *Service) resolve(ctx context.Context, refs []string) ([]string, error) {
	var ids []string
	for _, ref := range refs {
		ci, err := s.g.Resolve(ctx, ref)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(ids, ci.ID) {
			ids = append(ids, ci.ID)
		}
	}
	return ids, nil
}

func validateWindow(w Window) error {
	if w.IsZero() {
		return nil
	}
	if w.Start.IsZero() || w.End.IsZero() || !w.Start.Before(w.End) {
		return invalid("window %s..%s: start must come before end", w.Start.Format(time.RFC3339), w.End.Format(time.RFC3339))
	}
	return nil
}

// validateExpect checks expectations and resolves their CIs among ids.
func (s *Service) validateExpect(ctx context.Context, ex []Expectation, ids []string) ([]Expectation, error) {
	out := make([]Expectation, 0, len(ex))
	for i, e := range ex {
		refs, err := s.resolve(ctx, []string{e.CI})
		if err != nil {
			return nil, fmt.Errorf("expectation %d: %w", i+1, err)
		}
		e.CI = refs[0]
		if !slices.Contains(ids, e.CI) {
			return nil, invalid("expectation %d: CI %s is not among the change's CIs", i+1, e.CI)
		}
		switch {
		case e.Software != "" && e.Attr != "":
			return nil, invalid("expectation %d: software or attribute, not both", i+1)
		case e.Software == "" && e.Attr == "":
			return nil, invalid("expectation %d: name a software package or an attribute", i+1)
		case e.Absent && e.MinVersion != "":
			return nil, invalid("expectation %d: an absent package has no version", i+1)
		case e.Attr != "" && (e.MinVersion != "" || e.Absent):
			return nil, invalid("expectation %d: versions apply to software only", i+1)
		}
		out = append(out, e)
	}
	return out, nil
}

func (s *Service) validateInput(ctx context.Context, in *Input) error {
	in.Title = strings.TrimSpace(in.Title)
	if in.Type == "" {
		in.Type = Normal
	}
	switch {
	case !slices.Contains(Types, in.Type):
		return invalid("type %q: want standard, normal or emergency", in.Type)
	case in.Type == Standard && in.Template == "":
		return invalid("a standard change comes from a template: name one")
	case in.Title == "" || len(in.Title) > 200:
		return invalid("title: 1 to 200 characters")
	case len(in.CIs) == 0:
		return invalid("name at least one affected CI")
	case len(in.CIs) > MaxCIs:
		return invalid("%d CIs: at most %d per change", len(in.CIs), MaxCIs)
	case len(in.Description) > 64<<10 || len(in.ImplPlan) > 64<<10 || len(in.BackoutPlan) > 64<<10 || len(in.Justification) > 64<<10:
		return invalid("description, justification and plans: at most 64 KiB each")
	}
	if _, ok := riskRank[in.Risk]; !ok {
		return invalid("risk %q: want low, medium or high", in.Risk)
	}
	return validateWindow(in.Window)
}

// Create records a new change in draft. A template makes it a standard
// change and fills what the input leaves empty.
func (s *Service) Create(ctx context.Context, actor string, now time.Time, in Input) (*Change, error) {
	now = now.UTC()
	var tpl *Template
	if in.Template != "" {
		t, err := s.Template(ctx, in.Template)
		if err != nil {
			return nil, err
		}
		tpl = t
		if in.Type == "" {
			in.Type = Standard
		}
		if in.Type != Standard {
			return nil, invalid("template %s makes a standard change, not %s", t.Name, in.Type)
		}
		in.Title = firstNonEmpty(in.Title, t.Title)
		in.Description = firstNonEmpty(in.Description, t.Description)
		in.ImplPlan = firstNonEmpty(in.ImplPlan, t.ImplPlan)
		in.BackoutPlan = firstNonEmpty(in.BackoutPlan, t.BackoutPlan)
	}
	if err := s.validateInput(ctx, &in); err != nil {
		return nil, err
	}
	ids, err := s.resolve(ctx, in.CIs)
	if err != nil {
		return nil, err
	}
	if tpl != nil {
		for _, e := range tpl.Expect {
			if e.CI == "" {
				for _, id := range ids {
					e.CI = id
					in.Expect = append(in.Expect, e)
				}
			}
		}
	}
	expect, err := s.validateExpect(ctx, in.Expect, ids)
	if err != nil {
		return nil, err
	}
	c := &Change{Type: in.Type, Title: in.Title, Description: in.Description, Justification: in.Justification,
		Requester: actor, CIs: ids, Window: utcWindow(in.Window), ImplPlan: in.ImplPlan, BackoutPlan: in.BackoutPlan,
		Risk: in.Risk, State: Draft, Template: in.Template, Expect: expect, Created: now, Updated: now}
	_, err = s.st.Update(ctx, func(tx store.Txn) error {
		var seq int64
		if _, err := get(ctx, tx, keySeq, &seq); err != nil {
			return err
		}
		seq++
		c.Number = numberOf(seq)
		c.Log = []LogEntry{{At: now, Actor: actor, Action: "created", To: Draft}}
		for _, id := range ids {
			if _, err := tx.Get(ctx, []byte(cmdb.PrefixCI+id)); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("CI %s: %w", id, cmdb.ErrNotFound)
				}
				return err
			}
			if err := tx.Put(byCIKey(id, c.Number), nil); err != nil {
				return err
			}
		}
		if err := put(tx, keySeq, seq); err != nil {
			return err
		}
		if err := put(tx, changeKey(c.Number), c); err != nil {
			return err
		}
		if err := syncOpen(tx, c); err != nil {
			return err
		}
		return audit.Record(tx, audit.Entry{At: now, Actor: actor, Action: "change.create", Object: "change/" + c.Number,
			After: summary(c)})
	})
	if err != nil {
		return nil, fmt.Errorf("create change: %w", err)
	}
	return c, nil
}

func utcWindow(w Window) Window {
	if w.IsZero() {
		return w
	}
	return Window{Start: w.Start.UTC(), End: w.End.UTC()}
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// summary is what the audit log keeps of a change.
func summary(c *Change) map[string]any {
	m := map[string]any{"number": c.Number, "type": string(c.Type), "title": c.Title, "state": string(c.State),
		"requester": c.Requester, "cis": c.CIs}
	if !c.Window.IsZero() {
		m["window"] = c.Window.Start.Format(time.RFC3339) + "/" + c.Window.End.Format(time.RFC3339)
	}
	if c.RiskLevel != "" {
		m["risk"] = c.RiskLevel
	}
	if c.Outcome != "" {
		m["outcome"] = c.Outcome
	}
	return m
}

// Get returns change num.
func (s *Service) Get(ctx context.Context, num string) (*Change, error) {
	return Load(ctx, s.st, num)
}

// ListOptions selects changes.
type ListOptions struct {
	State State
	Type  Type
	// CI keeps the changes naming this CI (an id).
	CI string
	// Open keeps changes that are not closed, rejected or cancelled.
	Open  bool
	After string
	Limit int
}

// List returns changes by number and the cursor of the next page.
func (s *Service) List(ctx context.Context, o ListOptions) ([]*Change, string, error) {
	if o.Limit <= 0 || o.Limit > 1000 {
		o.Limit = 100
	}
	var out []*Change
	next := ""
	err := s.st.View(ctx, func(r store.Reader) error {
		if o.CI != "" {
			cs, err := changesOnCI(ctx, r, o.CI)
			if err != nil {
				return err
			}
			for _, c := range cs {
				if o.match(c) && c.Number > o.After && len(out) < o.Limit {
					out = append(out, c)
				}
			}
			return nil
		}
		rg := store.Range{Prefix: []byte(prefixChange), Limit: 200}
		if o.After != "" {
			rg.After = changeKey(normalizeNumber(o.After))
		}
		for {
			kvs, err := r.Scan(ctx, rg)
			if err != nil {
				return err
			}
			for _, kv := range kvs {
				c := &Change{}
				if err := cmdb.Decode(kv.Value, c); err != nil {
					return err
				}
				if !o.match(c) {
					continue
				}
				if len(out) == o.Limit {
					next = out[len(out)-1].Number
					return nil
				}
				out = append(out, c)
			}
			if len(kvs) < rg.Limit {
				return nil
			}
			rg.After = kvs[len(kvs)-1].Key
		}
	})
	if err != nil {
		return nil, "", fmt.Errorf("list changes: %w", err)
	}
	return out, next, nil
}

func (o ListOptions) match(c *Change) bool {
	return (o.State == "" || c.State == o.State) && (o.Type == "" || c.Type == o.Type) && (!o.Open || !c.State.Terminal())
}

// mutate loads change num inside a transaction, lets fn change it, and
// writes it with an audit entry of action. fn returns a note for the audit
// entry's detail.
func (s *Service) mutate(ctx context.Context, num, actor, action string, now time.Time, fn func(tx store.Txn, c *Change) (string, error)) (*Change, error) {
	now = now.UTC()
	var out *Change
	_, err := s.st.Update(ctx, func(tx store.Txn) error {
		c, err := Load(ctx, tx, num)
		if err != nil {
			return err
		}
		before := summary(c)
		detail, err := fn(tx, c)
		if err != nil {
			return err
		}
		c.Updated = now
		if err := put(tx, changeKey(c.Number), c); err != nil {
			return err
		}
		if err := syncOpen(tx, c); err != nil {
			return err
		}
		out = c
		return audit.Record(tx, audit.Entry{At: now, Actor: actor, Action: action, Object: "change/" + c.Number,
			Before: before, After: summary(c), Detail: detail})
	})
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", action, num, err)
	}
	return out, nil
}

// move changes c's state along the transition table and logs it.
func move(c *Change, to State, actor string, now time.Time, note string) error {
	if !CanMove(c.Type, c.State, to) {
		return fmt.Errorf("a %s change cannot move from %s to %s: %w", c.Type, c.State, to, cmdb.ErrForbidden)
	}
	c.Log = append(c.Log, LogEntry{At: now, Actor: actor, Action: "state", From: c.State, To: to, Note: note})
	c.State = to
	return nil
}

// Submit takes the impact snapshot, scores the risk and moves the change
// from draft to assess; a normal or emergency change then waits in
// authorize for the approvals its rule needs, a standard change stays in
// assess, pre-approved, until it is scheduled.
func (s *Service) Submit(ctx context.Context, num, actor string, now time.Time) (*Change, error) {
	c, err := s.Get(ctx, num)
	if err != nil {
		return nil, err
	}
	if c.State != Draft {
		return nil, fmt.Errorf("submit %s: it is in %s, not draft: %w", c.Number, c.State, cmdb.ErrForbidden)
	}
	if c.Type != Emergency && c.Window.IsZero() {
		return nil, fmt.Errorf("submit %s: set a planned window first: %w", c.Number, cmdb.ErrInvalid)
	}
	imp, err := s.Analyze(ctx, c, now)
	if err != nil {
		return nil, err
	}
	return s.mutate(ctx, c.Number, actor, "change.submit", now, func(tx store.Txn, c *Change) (string, error) {
		if c.State != Draft {
			return "", fmt.Errorf("it is in %s, not draft: %w", c.State, cmdb.ErrForbidden)
		}
		rules, err := LoadRules(ctx, tx)
		if err != nil {
			return "", err
		}
		c.RiskScore, c.RiskLevel, c.Snapshot = imp.RiskScore, imp.RiskLevel, imp.At
		if c.Type == Standard {
			tpl := &Template{}
			if ok, err := get(ctx, tx, templateKey(c.Template), tpl); err != nil {
				return "", err
			} else if !ok {
				return "", fmt.Errorf("template %s no longer exists: %w", c.Template, cmdb.ErrForbidden)
			}
			if maxRisk := firstNonEmpty(tpl.MaxRisk, RiskLow); riskRank[c.RiskLevel] > riskRank[maxRisk] {
				return "", fmt.Errorf("risk %s (%d: %s) exceeds template %s's %s: raise a normal change: %w",
					c.RiskLevel, c.RiskScore, strings.Join(imp.Reasons, "; "), tpl.Name, maxRisk, cmdb.ErrForbidden)
			}
		}
		req, err := requirement(rules, c, imp)
		if err != nil {
			return "", err
		}
		c.Required = req
		c.Approvals = nil
		c.Approved, _ = satisfied(req, nil)
		if err := putSnapshot(tx, c.Number, imp); err != nil {
			return "", err
		}
		note := fmt.Sprintf("risk %s (%d)", c.RiskLevel, c.RiskScore)
		if err := move(c, Assess, actor, now.UTC(), note); err != nil {
			return "", err
		}
		if c.Type != Standard {
			if err := move(c, Authorize, actor, now.UTC(), "approval rule "+req.Rule); err != nil {
				return "", err
			}
		}
		return note, nil
	})
}

// Snapshot returns the impact stored at submit (or at the last recompute).
func (s *Service) Snapshot(ctx context.Context, num string) (*Impact, error) {
	num = normalizeNumber(num)
	if _, err := s.Get(ctx, num); err != nil {
		return nil, err
	}
	imp := &Impact{}
	ok, err := get(ctx, s.st, snapKey(num), imp)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("change %s has no impact snapshot until it is submitted: %w", num, cmdb.ErrNotFound)
	}
	return imp, nil
}

// Recompute analyses the change again on the current graph and stores the
// result as its snapshot (approvers are told in the log). The approval
// requirement and the approvals given so far stay.
func (s *Service) Recompute(ctx context.Context, num, actor string, now time.Time) (*Impact, error) {
	c, err := s.Get(ctx, num)
	if err != nil {
		return nil, err
	}
	imp, err := s.Analyze(ctx, c, now)
	if err != nil {
		return nil, err
	}
	_, err = s.mutate(ctx, c.Number, actor, "change.impact", now, func(tx store.Txn, c *Change) (string, error) {
		if c.State.Terminal() {
			return "", fmt.Errorf("it is %s: %w", c.State, cmdb.ErrForbidden)
		}
		c.RiskScore, c.RiskLevel, c.Snapshot = imp.RiskScore, imp.RiskLevel, imp.At
		note := fmt.Sprintf("impact recomputed: risk %s (%d)", c.RiskLevel, c.RiskScore)
		c.Log = append(c.Log, LogEntry{At: now.UTC(), Actor: actor, Action: "impact", Note: note})
		return note, putSnapshot(tx, c.Number, imp)
	})
	if err != nil {
		return nil, err
	}
	return imp, nil
}

// Decide records an approval (approve true) or a rejection by actor. The
// requester may not approve their own change, and only the approvers and
// owners the requirement names may decide. A rejection rejects the change.
func (s *Service) Decide(ctx context.Context, num, actor string, approve bool, comment string, now time.Time) (*Change, error) {
	action := "change.reject"
	if approve {
		action = "change.approve"
	}
	if len(comment) > 4096 {
		return nil, invalid("comment: at most 4096 bytes")
	}
	if !approve && strings.TrimSpace(comment) == "" {
		return nil, invalid("a rejection needs a comment")
	}
	return s.mutate(ctx, num, actor, action, now, func(tx store.Txn, c *Change) (string, error) {
		if c.State != Authorize {
			return "", fmt.Errorf("%s is in %s: approvals are given in authorize: %w", c.Number, c.State, cmdb.ErrForbidden)
		}
		if person(actor) == person(c.Requester) {
			return "", fmt.Errorf("%s requested the change and cannot decide on it: %w", actor, cmdb.ErrForbidden)
		}
		if c.Required == nil {
			return "", fmt.Errorf("%s has no approval requirement: %w", c.Number, cmdb.ErrForbidden)
		}
		as := capacities(c.Required, actor)
		if len(as) == 0 {
			return "", fmt.Errorf("%s is not an approver of %s (rule %s): %w", actor, c.Number, c.Required.Rule, cmdb.ErrForbidden)
		}
		for _, a := range c.Approvals {
			if person(a.By) == person(actor) {
				return "", fmt.Errorf("%s already decided on %s: %w", actor, c.Number, cmdb.ErrConflict)
			}
		}
		d := "approved"
		if !approve {
			d = "rejected"
		}
		c.Approvals = append(c.Approvals, Approval{By: actor, Decision: d, Comment: comment, At: now.UTC(), As: as})
		c.Log = append(c.Log, LogEntry{At: now.UTC(), Actor: actor, Action: d, Note: comment})
		if !approve {
			return comment, move(c, Rejected, actor, now.UTC(), comment)
		}
		ok, missing := satisfied(c.Required, c.Approvals)
		if ok && !c.Approved {
			c.Log = append(c.Log, LogEntry{At: now.UTC(), Actor: actor, Action: "authorized", Note: "approval rule " + c.Required.Rule + " met"})
		}
		c.Approved = ok
		return strings.TrimSpace(comment + " " + missing), nil
	})
}

// Schedule moves an authorized (or, for a standard change, assessed)
// change to scheduled, optionally with a new window. It needs the approvals
// of its rule, and a window that violates no freeze unless the change is an
// emergency.
func (s *Service) Schedule(ctx context.Context, num, actor string, w Window, now time.Time) (*Change, error) {
	if err := validateWindow(w); err != nil {
		return nil, err
	}
	c, err := s.Get(ctx, num)
	if err != nil {
		return nil, err
	}
	win := c.Window
	if !w.IsZero() {
		win = utcWindow(w)
	}
	imp, _ := s.Snapshot(ctx, c.Number)
	return s.mutate(ctx, c.Number, actor, "change.schedule", now, func(tx store.Txn, c *Change) (string, error) {
		if !c.Approved {
			_, missing := satisfied(c.Required, c.Approvals)
			return "", fmt.Errorf("%s cannot be scheduled without its approvals (%s): %w", c.Number, missing, cmdb.ErrForbidden)
		}
		if win.IsZero() {
			return "", invalid("%s has no window: give one", c.Number)
		}
		ids := map[string]bool{}
		classes := map[string]map[string]bool{}
		if imp != nil {
			ids, classes = imp.reached(), imp.classes()
		}
		for _, id := range c.CIs {
			ids[id] = true
		}
		hits, err := freezeHits(ctx, tx, win, ids, classes)
		if err != nil {
			return "", err
		}
		note := win.Start.Format(time.RFC3339) + " to " + win.End.Format(time.RFC3339)
		if len(hits) > 0 {
			if c.Type != Emergency {
				return "", fmt.Errorf("window %s violates freeze %s (%s): %w", note, hits[0].ID, hits[0].Name, cmdb.ErrForbidden)
			}
			note += "; emergency change during freeze " + hits[0].ID
		}
		if win != c.Window {
			c.Log = append(c.Log, LogEntry{At: now.UTC(), Actor: actor, Action: "rescheduled",
				Note: c.Window.Start.Format(time.RFC3339) + " → " + win.Start.Format(time.RFC3339)})
			c.Window = win
		}
		return note, move(c, Scheduled, actor, now.UTC(), note)
	})
}

// Implement starts implementation: the actual start is recorded and every
// CI with expectations waits for discovery to verify it.
func (s *Service) Implement(ctx context.Context, num, actor string, now time.Time) (*Change, error) {
	return s.mutate(ctx, num, actor, "change.implement", now, func(tx store.Txn, c *Change) (string, error) {
		if c.State == Authorize && !c.Approved {
			_, missing := satisfied(c.Required, c.Approvals)
			return "", fmt.Errorf("%s is not authorized (%s): %w", c.Number, missing, cmdb.ErrForbidden)
		}
		note := ""
		if !c.Window.IsZero() && !c.Window.Contains(now) {
			note = "started outside the planned window"
		}
		if err := move(c, Implement, actor, now.UTC(), note); err != nil {
			return "", err
		}
		c.Actual = Window{Start: now.UTC()}
		c.Verify = nil
		for _, ci := range expectedCIs(c) {
			c.Verify = append(c.Verify, Verification{CI: ci, Status: VerifyPending})
		}
		return note, nil
	})
}

// Review ends implementation with an outcome and moves the change to
// review.
func (s *Service) Review(ctx context.Context, num, actor, outcome, note string, now time.Time) (*Change, error) {
	if err := validOutcome(outcome); err != nil {
		return nil, err
	}
	return s.mutate(ctx, num, actor, "change.review", now, func(tx store.Txn, c *Change) (string, error) {
		if err := move(c, Review, actor, now.UTC(), strings.TrimSpace(outcome+" "+note)); err != nil {
			return "", err
		}
		c.Actual.End, c.Outcome = now.UTC(), outcome
		return outcome, nil
	})
}

func validOutcome(o string) error {
	switch o {
	case OutcomeSuccessful, OutcomeFailed, OutcomeBackedOut, OutcomePartial:
		return nil
	}
	return invalid("outcome %q: want successful, failed, backed_out or partial", o)
}

// Close closes a reviewed change (or an implemented standard change, with
// outcome, successful by default).
func (s *Service) Close(ctx context.Context, num, actor, outcome, note string, now time.Time) (*Change, error) {
	if outcome != "" {
		if err := validOutcome(outcome); err != nil {
			return nil, err
		}
	}
	return s.mutate(ctx, num, actor, "change.close", now, func(tx store.Txn, c *Change) (string, error) {
		if c.State == Implement {
			c.Actual.End = now.UTC()
			c.Outcome = firstNonEmpty(outcome, OutcomeSuccessful)
		} else if outcome != "" {
			c.Outcome = outcome
		}
		return note, move(c, Closed, actor, now.UTC(), note)
	})
}

// Cancel withdraws a change before implementation.
func (s *Service) Cancel(ctx context.Context, num, actor, note string, now time.Time) (*Change, error) {
	return s.mutate(ctx, num, actor, "change.cancel", now, func(tx store.Txn, c *Change) (string, error) {
		return note, move(c, Cancelled, actor, now.UTC(), note)
	})
}

// LinkIncident records that incident caused-by links to the change (the
// incident's caused_by_change names it); the review report lists it.
func (s *Service) LinkIncident(ctx context.Context, num, incident, actor string, now time.Time) (*Change, error) {
	incident = strings.TrimSpace(incident)
	if !validSegment(incident) {
		return nil, invalid("incident number %q", incident)
	}
	return s.mutate(ctx, num, actor, "change.link_incident", now, func(tx store.Txn, c *Change) (string, error) {
		if c.State == Draft {
			return "", fmt.Errorf("%s is a draft: nothing was changed yet to cause an incident: %w", c.Number, cmdb.ErrForbidden)
		}
		if slices.Contains(c.Incidents, incident) {
			return "", fmt.Errorf("incident %s is already linked to %s: %w", incident, c.Number, cmdb.ErrConflict)
		}
		c.Incidents = append(c.Incidents, incident)
		c.Log = append(c.Log, LogEntry{At: now.UTC(), Actor: actor, Action: "incident_linked", Note: incident})
		return incident, nil
	})
}

// expectedCIs lists the CIs with expectations, in order of first mention.
func expectedCIs(c *Change) []string {
	var out []string
	for _, e := range c.Expect {
		if !slices.Contains(out, e.CI) {
			out = append(out, e.CI)
		}
	}
	return out
}

// putSnapshot stores imp, halving its node lists (and marking it
// truncated) until it fits one store value.
func putSnapshot(tx store.Txn, num string, imp *Impact) error {
	for {
		raw, err := cmdb.Encode(imp)
		if err != nil {
			return err
		}
		if len(raw) <= store.MaxValueSize-4096 || len(imp.Downstream)+len(imp.Upstream) == 0 {
			return tx.Put(snapKey(num), raw)
		}
		imp.Downstream = imp.Downstream[:len(imp.Downstream)/2]
		imp.Upstream = imp.Upstream[:len(imp.Upstream)/2]
		imp.Truncated = true
	}
}

package incident

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"parc/cmdb"
	"parc/cmdb/audit"
	"parc/cmdb/store"
)

// Limits of one incident.
const (
	// MaxCIs is the most CIs an incident links (every link is two index
	// keys, and a transaction holds at most store.MaxTxnOps writes).
	MaxCIs = 40
	// MaxTimeline is the most timeline entries kept; beyond it the oldest
	// event repeats, then the oldest entries, are dropped.
	MaxTimeline = 500
	maxShort    = 200
	maxText     = 32 << 10
	maxServices = 50
)

// Service manages incidents in a store. It is safe for concurrent use;
// callers pass the acting principal and the time of every change.
type Service struct {
	st store.Store
	g  *cmdb.Graph
}

// New returns a Service over st.
func New(st store.Store) *Service { return &Service{st: st, g: cmdb.NewGraph(st)} }

// Store returns the underlying store.
func (s *Service) Store() store.Store { return s.st }

// NewIncident is the input of Create.
type NewIncident struct {
	ShortDescription string `json:"short_description"`
	Description      string `json:"description,omitempty"`
	Category         string `json:"category"`
	// Impact 0 derives it from the graph; Urgency 0 takes the middle level.
	Impact   int    `json:"impact,omitempty"`
	Urgency  int    `json:"urgency,omitempty"`
	Assignee string `json:"assignee,omitempty"`
	Group    string `json:"group,omitempty"`
	Caller   string `json:"caller,omitempty"`
	// CIs are references (id, name, hostname, serial, asset tag, ...).
	CIs            []string  `json:"cis,omitempty"`
	Major          bool      `json:"major,omitempty"`
	Recurring      bool      `json:"recurring,omitempty"`
	Complex        bool      `json:"complex,omitempty"`
	Occurred       time.Time `json:"occurred,omitzero"`
	Reported       time.Time `json:"reported,omitzero"`
	SupportCost    float64   `json:"support_cost,omitempty"`
	CausedByChange string    `json:"caused_by_change,omitempty"`
}

func invalid(f string, a ...any) error {
	return fmt.Errorf(f+": %w", append(a, cmdb.ErrInvalid)...)
}

func checkText(short, desc string) error {
	if strings.TrimSpace(short) == "" {
		return invalid("short description is required")
	}
	if len(short) > maxShort {
		return invalid("short description is %d bytes, at most %d", len(short), maxShort)
	}
	if len(desc) > maxText {
		return invalid("description is %d bytes, at most %d", len(desc), maxText)
	}
	return nil
}

func checkLevels(cfg Config, impact, urgency int) error {
	if impact < 0 || impact > cfg.ImpactLevels() {
		return invalid("impact %d: want 1 (high) to %d, or 0 to derive it", impact, cfg.ImpactLevels())
	}
	if urgency < 0 || urgency > cfg.UrgencyLevels() {
		return invalid("urgency %d: want 1 (high) to %d", urgency, cfg.UrgencyLevels())
	}
	return nil
}

func checkCategory(cfg Config, cat string) error {
	if !cfg.CategoryAllowed(cat) {
		return invalid("category %q: want one of %s", cat, strings.Join(append(slices.Clone(BuiltinCategories), cfg.Categories...), ", "))
	}
	return nil
}

// Create opens an incident. CIs named in it and identifiers found in its
// text are linked; its impact is derived from the graph unless given.
func (s *Service) Create(ctx context.Context, actor string, now time.Time, n NewIncident) (*Incident, error) {
	now = now.UTC()
	if actor == "" {
		return nil, invalid("create incident: no actor")
	}
	n.ShortDescription = strings.TrimSpace(n.ShortDescription)
	if err := checkText(n.ShortDescription, n.Description); err != nil {
		return nil, err
	}
	if n.SupportCost < 0 {
		return nil, invalid("support cost %g: want ≥ 0", n.SupportCost)
	}
	cfg, err := LoadConfig(ctx, s.st)
	if err != nil {
		return nil, err
	}
	if err := checkLevels(cfg, n.Impact, n.Urgency); err != nil {
		return nil, err
	}
	if err := checkCategory(cfg, n.Category); err != nil {
		return nil, err
	}
	links, err := s.resolveRefs(ctx, n.CIs, now)
	if err != nil {
		return nil, err
	}
	if len(links) > MaxCIs {
		return nil, invalid("%d CIs: an incident links at most %d", len(links), MaxCIs)
	}
	probe := &Incident{CIs: links}
	text, err := s.textLinks(ctx, s.st, n.ShortDescription+"\n"+n.Description, probe, now)
	if err != nil {
		return nil, err
	}
	links = append(links, text...)
	in := &Incident{
		ShortDescription: n.ShortDescription, Description: n.Description, Category: n.Category,
		Status: StatusNew, Occurred: n.Occurred.UTC(), Reported: n.Reported.UTC(),
		Impact: n.Impact, ImpactManual: n.Impact != 0, Urgency: n.Urgency,
		Assignee: strings.TrimSpace(n.Assignee), Group: strings.TrimSpace(n.Group), Caller: n.Caller,
		CIs: links, Major: n.Major, Recurring: n.Recurring, Complex: n.Complex,
		SupportCost: n.SupportCost, CausedByChange: strings.TrimSpace(n.CausedByChange), OpenedBy: actor,
	}
	if in.Reported.IsZero() {
		in.Reported = now
	}
	if in.Occurred.IsZero() {
		in.Occurred = in.Reported
	}
	if in.Occurred.After(in.Reported) {
		return nil, invalid("occurred %s is after reported %s", in.Occurred.Format(time.RFC3339), in.Reported.Format(time.RFC3339))
	}
	if in.Urgency == 0 {
		in.Urgency = (cfg.UrgencyLevels() + 1) / 2
	}
	var d *derivation
	if d, err = s.derive(ctx, cfg, in.CIs); err != nil {
		return nil, err
	}
	var out *Incident
	_, err = s.st.Update(ctx, func(tx store.Txn) error {
		cfg, err := LoadConfig(ctx, tx)
		if err != nil {
			return err
		}
		next := in.clone()
		next.Timeline = []Entry{{At: now, Actor: actor, Kind: EntryCreated, Text: next.ShortDescription}}
		next.StatusLog = []StatusChange{{At: next.Reported, Status: StatusNew}}
		for _, l := range next.CIs {
			if l.Source == LinkText {
				addEntry(next, Entry{At: now, Actor: actor, Kind: EntryLink, Text: "linked " + l.Name + " (" + l.Match + " in text)"})
			}
		}
		if next.Assignee != "" || next.Group != "" {
			next.AssignedAt = now
			if next.Assignee != "" {
				next.Assignments = 1
			}
			setStatus(next, actor, now, StatusAssigned, "")
		}
		applyDerivation(next, d)
		next.Priority = cfg.Priority(next.Impact, next.Urgency)
		if err := insert(ctx, tx, next, now); err != nil {
			return err
		}
		out = next
		return audit.Record(tx, audit.Entry{At: now, Actor: actor, Action: "incident.create", Object: "incident/" + next.Number, After: next.summary()})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// insert numbers in from the counter and writes it.
func insert(ctx context.Context, tx store.Txn, in *Incident, now time.Time) error {
	var seq int64
	v, err := tx.Get(ctx, keySeq)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return err
	default:
		if seq, err = strconv.ParseInt(string(v), 10, 64); err != nil {
			return fmt.Errorf("incident counter %q: %w", v, cmdb.ErrCorrupt)
		}
	}
	seq++
	if err := tx.Put(keySeq, []byte(strconv.FormatInt(seq, 10))); err != nil {
		return err
	}
	in.Seq, in.Number = seq, FormatNumber(seq)
	in.Created, in.Updated = now, now
	return write(tx, nil, in)
}

// addEntry appends e to the timeline, dropping the oldest event repeat (or
// else the oldest entry after the first) beyond MaxTimeline.
func addEntry(in *Incident, e Entry) {
	in.Timeline = append(in.Timeline, e)
	if len(in.Timeline) <= MaxTimeline {
		return
	}
	drop := 1
	for i, x := range in.Timeline {
		if x.Kind == EntryEvent {
			drop = i
			break
		}
	}
	in.Timeline = slices.Delete(in.Timeline, drop, drop+1)
}

// setStatus moves in to status to at now, logging it.
func setStatus(in *Incident, actor string, now time.Time, to, text string) {
	addEntry(in, Entry{At: now, Actor: actor, Kind: EntryStatus, From: in.Status, To: to, Text: text})
	in.Status = to
	in.StatusLog = append(in.StatusLog, StatusChange{At: now, Status: to})
}

// respond records the first response.
func respond(in *Incident, now time.Time) {
	if in.RespondedAt.IsZero() {
		in.RespondedAt = now
	}
}

func applyDerivation(in *Incident, d *derivation) {
	if d == nil {
		return
	}
	if !in.ImpactManual {
		in.Impact = d.impact
		b := d.basis
		in.ImpactBasis = &b
	}
	in.Services = d.services
}

// resolveRefs resolves CI references to links.
func (s *Service) resolveRefs(ctx context.Context, refs []string, now time.Time) ([]Link, error) {
	var links []Link
	seen := map[string]bool{}
	for _, ref := range refs {
		ci, err := s.g.Resolve(ctx, ref)
		if err != nil {
			return nil, fmt.Errorf("affected CI: %w", err)
		}
		if seen[ci.ID] {
			continue
		}
		seen[ci.ID] = true
		links = append(links, Link{CI: ci.ID, Name: ci.Name, Class: ci.Class, Source: LinkManual, Added: now})
	}
	return links, nil
}

// errStale makes change start over when the record moved under it.
var errStale = errors.New("incident changed concurrently")

// change applies edit to an incident in one transaction. edit must be a
// pure function of its arguments: it runs once on a snapshot (to learn
// the resulting CIs and text, which need graph reads) and once inside the
// transaction. Text edits link the identifiers found; a changed CI set
// recomputes the derived impact and priority.
func (s *Service) change(ctx context.Context, actor string, now time.Time, number, action string, edit func(cfg Config, in *Incident) error) (*Incident, error) {
	now = now.UTC()
	if actor == "" {
		return nil, invalid("%s: no actor", action)
	}
	seq, err := ParseNumber(number)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		snap, raw, err := load(ctx, s.st, seq)
		if err != nil {
			return nil, err
		}
		cfg, err := LoadConfig(ctx, s.st)
		if err != nil {
			return nil, err
		}
		trial := snap.clone()
		if err := edit(cfg, trial); err != nil {
			return nil, err
		}
		var extra []Link
		if trial.ShortDescription != snap.ShortDescription || trial.Description != snap.Description {
			if extra, err = s.textLinks(ctx, s.st, trial.ShortDescription+"\n"+trial.Description, trial, now); err != nil {
				return nil, err
			}
			trial.CIs = append(trial.CIs, extra...)
		}
		var d *derivation
		if !slices.Equal(snap.CIIDs(), trial.CIIDs()) || (snap.ImpactManual && !trial.ImpactManual) {
			if d, err = s.derive(ctx, cfg, trial.CIs); err != nil {
				return nil, err
			}
		}
		var out *Incident
		_, err = s.st.Update(ctx, func(tx store.Txn) error {
			cur, curRaw, err := load(ctx, tx, seq)
			if err != nil {
				return err
			}
			if !bytes.Equal(curRaw, raw) {
				return errStale
			}
			cfg, err := LoadConfig(ctx, tx)
			if err != nil {
				return err
			}
			next := cur.clone()
			if err := edit(cfg, next); err != nil {
				return err
			}
			for _, l := range extra {
				next.CIs = append(next.CIs, l)
				addEntry(next, Entry{At: now, Actor: actor, Kind: EntryLink, Text: "linked " + l.Name + " (" + l.Match + " in text)"})
			}
			applyDerivation(next, d)
			next.Priority = cfg.Priority(next.Impact, next.Urgency)
			next.Updated = now
			if err := write(tx, cur, next); err != nil {
				return err
			}
			out = next
			return audit.Record(tx, audit.Entry{At: now, Actor: actor, Action: action, Object: "incident/" + next.Number,
				Before: cur.summary(), After: next.summary()})
		})
		if errors.Is(err, errStale) && attempt < 8 {
			continue
		}
		if err != nil {
			return nil, err
		}
		return out, nil
	}
}

// Update is a partial edit: nil fields are left alone.
type Update struct {
	ShortDescription *string `json:"short_description,omitempty"`
	Description      *string `json:"description,omitempty"`
	Category         *string `json:"category,omitempty"`
	// Impact 0 returns to the impact derived from the graph.
	Impact         *int       `json:"impact,omitempty"`
	Urgency        *int       `json:"urgency,omitempty"`
	Major          *bool      `json:"major,omitempty"`
	Recurring      *bool      `json:"recurring,omitempty"`
	Complex        *bool      `json:"complex,omitempty"`
	Caller         *string    `json:"caller,omitempty"`
	Occurred       *time.Time `json:"occurred,omitempty"`
	SupportCost    *float64   `json:"support_cost,omitempty"`
	CausedByChange *string    `json:"caused_by_change,omitempty"`
}

// Update edits an incident's fields.
func (s *Service) Update(ctx context.Context, actor string, now time.Time, number string, u Update) (*Incident, error) {
	return s.change(ctx, actor, now, number, "incident.update", func(cfg Config, in *Incident) error {
		var changed []string
		note := func(f string, before, after any) {
			changed = append(changed, fmt.Sprintf("%s: %v → %v", f, before, after))
		}
		if u.ShortDescription != nil || u.Description != nil {
			short, desc := in.ShortDescription, in.Description
			if u.ShortDescription != nil {
				short = strings.TrimSpace(*u.ShortDescription)
			}
			if u.Description != nil {
				desc = *u.Description
			}
			if err := checkText(short, desc); err != nil {
				return err
			}
			if short != in.ShortDescription {
				note("short_description", in.ShortDescription, short)
			}
			if desc != in.Description {
				changed = append(changed, "description edited")
			}
			in.ShortDescription, in.Description = short, desc
		}
		if u.Category != nil && *u.Category != in.Category {
			if err := checkCategory(cfg, *u.Category); err != nil {
				return err
			}
			note("category", in.Category, *u.Category)
			in.Category = *u.Category
		}
		urgency := in.Urgency
		if u.Urgency != nil {
			urgency = *u.Urgency
			if urgency == 0 {
				return invalid("urgency 0: want 1 (high) to %d", cfg.UrgencyLevels())
			}
		}
		impact := 0
		if u.Impact != nil {
			impact = *u.Impact
		}
		if err := checkLevels(cfg, impact, urgency); err != nil {
			return err
		}
		if urgency != in.Urgency {
			note("urgency", in.Urgency, urgency)
			in.Urgency = urgency
		}
		if u.Impact != nil {
			if impact == 0 {
				if in.ImpactManual {
					changed = append(changed, "impact: derived from the graph")
				}
				in.ImpactManual = false
			} else if impact != in.Impact || !in.ImpactManual {
				note("impact", in.Impact, impact)
				in.Impact, in.ImpactManual, in.ImpactBasis = impact, true, nil
			}
		}
		flag := func(name string, p *bool, f *bool) {
			if p != nil && *p != *f {
				note(name, *f, *p)
				*f = *p
			}
		}
		flag("major", u.Major, &in.Major)
		flag("recurring", u.Recurring, &in.Recurring)
		flag("complex", u.Complex, &in.Complex)
		if u.Caller != nil && *u.Caller != in.Caller {
			note("caller", in.Caller, *u.Caller)
			in.Caller = *u.Caller
		}
		if u.Occurred != nil && !u.Occurred.Equal(in.Occurred) {
			if u.Occurred.After(in.Reported) {
				return invalid("occurred %s is after reported %s", u.Occurred.Format(time.RFC3339), in.Reported.Format(time.RFC3339))
			}
			note("occurred", in.Occurred.Format(time.RFC3339), u.Occurred.UTC().Format(time.RFC3339))
			in.Occurred = u.Occurred.UTC()
		}
		if u.SupportCost != nil && *u.SupportCost != in.SupportCost {
			if *u.SupportCost < 0 {
				return invalid("support cost %g: want ≥ 0", *u.SupportCost)
			}
			note("support_cost", in.SupportCost, *u.SupportCost)
			in.SupportCost = *u.SupportCost
		}
		if u.CausedByChange != nil && strings.TrimSpace(*u.CausedByChange) != in.CausedByChange {
			c := strings.TrimSpace(*u.CausedByChange)
			note("caused_by_change", in.CausedByChange, c)
			in.CausedByChange = c
		}
		if len(changed) == 0 {
			return invalid("%s: nothing to change", in.Number)
		}
		addEntry(in, Entry{At: now.UTC(), Actor: actor, Kind: EntryUpdate, Text: strings.Join(changed, "; ")})
		return nil
	})
}

// Assign sets the assignee and/or group. A new or reopened incident moves
// to assigned.
func (s *Service) Assign(ctx context.Context, actor string, now time.Time, number, assignee, group string) (*Incident, error) {
	assignee, group = strings.TrimSpace(assignee), strings.TrimSpace(group)
	return s.change(ctx, actor, now, number, "incident.assign", func(cfg Config, in *Incident) error {
		now := now.UTC()
		if assignee == "" && group == "" {
			return invalid("%s: assign needs an assignee or a group", in.Number)
		}
		if !IsOpen(in.Status) {
			return fmt.Errorf("%s is %s: reopen it before assigning: %w", in.Number, in.Status, cmdb.ErrForbidden)
		}
		if (assignee == "" || assignee == in.Assignee) && (group == "" || group == in.Group) {
			return invalid("%s: already assigned so", in.Number)
		}
		if assignee != "" && assignee != in.Assignee {
			in.Assignments++
			in.Assignee = assignee
		}
		if group != "" {
			in.Group = group
		}
		addEntry(in, Entry{At: now, Actor: actor, Kind: EntryAssign, Text: strings.TrimSpace(in.Assignee + " " + bracket(in.Group))})
		if in.AssignedAt.IsZero() {
			in.AssignedAt = now
		}
		respond(in, now)
		if in.Status == StatusNew || in.Status == StatusReopened {
			setStatus(in, actor, now, StatusAssigned, "")
		}
		return nil
	})
}

func bracket(s string) string {
	if s == "" {
		return ""
	}
	return "(" + s + ")"
}

// Transition is the input of Transition.
type Transition struct {
	To string `json:"to"`
	// Reason is required to reject.
	Reason string `json:"reason,omitempty"`
	// Note is the resolution when resolving, else a comment.
	Note string `json:"note,omitempty"`
}

// Transition moves an incident to another status through the table.
func (s *Service) Transition(ctx context.Context, actor string, now time.Time, number string, t Transition) (*Incident, error) {
	return s.change(ctx, actor, now, number, "incident.transition", func(cfg Config, in *Incident) error {
		if err := transition(in, actor, now.UTC(), t); err != nil {
			return err
		}
		stopClocks(in, cfg, now.UTC())
		return nil
	})
}

func transition(in *Incident, actor string, now time.Time, t Transition) error {
	if err := checkTransition(in, t.To, t.Reason); err != nil {
		return err
	}
	if len(t.Note) > maxText || len(t.Reason) > maxText {
		return invalid("note or reason over %d bytes", maxText)
	}
	text := t.Note
	switch t.To {
	case StatusResolved:
		in.ResolvedAt, in.ResolvedBy, in.Resolution = now, actor, t.Note
	case StatusClosed:
		in.ClosedAt = now
	case StatusRejected:
		in.RejectReason, text = t.Reason, t.Reason
	case StatusReopened:
		in.ReopenCount++
		in.ClosedAt = time.Time{}
	case StatusAssigned, StatusInProgress:
		if in.AssignedAt.IsZero() {
			in.AssignedAt = now
		}
	}
	respond(in, now)
	setStatus(in, actor, now, t.To, text)
	return nil
}

// Comment adds a comment to the timeline.
func (s *Service) Comment(ctx context.Context, actor string, now time.Time, number, text string) (*Incident, error) {
	text = strings.TrimSpace(text)
	return s.change(ctx, actor, now, number, "incident.comment", func(cfg Config, in *Incident) error {
		if text == "" {
			return invalid("empty comment")
		}
		if len(text) > maxText {
			return invalid("comment is %d bytes, at most %d", len(text), maxText)
		}
		addEntry(in, Entry{At: now.UTC(), Actor: actor, Kind: EntryComment, Text: text})
		respond(in, now.UTC())
		return nil
	})
}

// Link adds and removes affected CIs (references as for Create). The
// derived impact and the priority follow.
func (s *Service) Link(ctx context.Context, actor string, now time.Time, number string, add, remove []string) (*Incident, error) {
	if len(add)+len(remove) == 0 {
		return nil, invalid("link: name CIs to add or remove")
	}
	adds, err := s.resolveRefs(ctx, add, now.UTC())
	if err != nil {
		return nil, err
	}
	rms, err := s.resolveRefs(ctx, remove, now.UTC())
	if err != nil {
		return nil, err
	}
	return s.change(ctx, actor, now, number, "incident.link", func(cfg Config, in *Incident) error {
		var changed []string
		for _, r := range rms {
			i := slices.IndexFunc(in.CIs, func(l Link) bool { return l.CI == r.CI })
			if i < 0 {
				return fmt.Errorf("%s does not link %s: %w", in.Number, r.Name, cmdb.ErrNotFound)
			}
			in.CIs = slices.Delete(in.CIs, i, i+1)
			changed = append(changed, "unlinked "+r.Name)
		}
		for _, a := range adds {
			if in.HasCI(a.CI) {
				continue
			}
			in.CIs = append(in.CIs, a)
			changed = append(changed, "linked "+a.Name)
		}
		if len(changed) == 0 {
			return invalid("%s: links unchanged", in.Number)
		}
		if len(in.CIs) > MaxCIs {
			return invalid("%s would link %d CIs, at most %d", in.Number, len(in.CIs), MaxCIs)
		}
		addEntry(in, Entry{At: now.UTC(), Actor: actor, Kind: EntryLink, Text: strings.Join(changed, "; ")})
		return nil
	})
}

// Get returns an incident by number.
func (s *Service) Get(ctx context.Context, number string) (*Incident, error) {
	seq, err := ParseNumber(number)
	if err != nil {
		return nil, err
	}
	in, _, err := load(ctx, s.st, seq)
	return in, err
}

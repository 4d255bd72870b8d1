package change

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"parc/cmdb"
	"parc/cmdb/audit"
	"parc/cmdb/store"
)

// PutTemplate creates or replaces a standard-change template; actor is
// recorded as the one who pre-approved it.
func (s *Service) PutTemplate(ctx context.Context, actor string, now time.Time, t Template) (*Template, error) {
	t.Name = strings.TrimSpace(t.Name)
	t.Title = strings.TrimSpace(t.Title)
	switch {
	case !validSegment(t.Name) || strings.ContainsAny(t.Name, " \t"):
		return nil, invalid("template name %q: 1 to 128 characters, no spaces or '/'", t.Name)
	case t.Title == "":
		return nil, invalid("template %s: a title is required", t.Name)
	case riskRank[t.MaxRisk] == 0 && t.MaxRisk != "":
		return nil, invalid("template %s: max risk %q: want low, medium or high", t.Name, t.MaxRisk)
	}
	if _, ok := riskRank[t.MaxRisk]; !ok {
		return nil, invalid("template %s: max risk %q: want low, medium or high", t.Name, t.MaxRisk)
	}
	for i, e := range t.Expect {
		if (e.Software == "") == (e.Attr == "") {
			return nil, invalid("template %s: expectation %d: name a software package or an attribute", t.Name, i+1)
		}
	}
	t.Approver, t.Created = actor, now.UTC()
	_, err := s.st.Update(ctx, func(tx store.Txn) error {
		var old Template
		found, err := get(ctx, tx, templateKey(t.Name), &old)
		if err != nil {
			return err
		}
		var before any
		if found {
			before = old.Title
		}
		if err := put(tx, templateKey(t.Name), t); err != nil {
			return err
		}
		return audit.Record(tx, audit.Entry{At: now, Actor: actor, Action: "change.template.put", Object: "change-template/" + t.Name, Before: before, After: t.Title})
	})
	if err != nil {
		return nil, fmt.Errorf("put template %s: %w", t.Name, err)
	}
	return &t, nil
}

// Template returns a template by name.
func (s *Service) Template(ctx context.Context, name string) (*Template, error) {
	if !validSegment(name) {
		return nil, invalid("template name %q", name)
	}
	t := &Template{}
	ok, err := get(ctx, s.st, templateKey(name), t)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("template %s: %w", name, cmdb.ErrNotFound)
	}
	return t, nil
}

// Templates lists the templates by name.
func (s *Service) Templates(ctx context.Context) ([]Template, error) {
	kvs, err := s.st.Scan(ctx, store.Range{Prefix: []byte(prefixTpl)})
	if err != nil {
		return nil, err
	}
	out := make([]Template, 0, len(kvs))
	for _, kv := range kvs {
		var t Template
		if err := cmdb.Decode(kv.Value, &t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// DeleteTemplate removes a template.
func (s *Service) DeleteTemplate(ctx context.Context, actor, name string, now time.Time) error {
	if _, err := s.Template(ctx, name); err != nil {
		return err
	}
	_, err := s.st.Update(ctx, func(tx store.Txn) error {
		if err := tx.Delete(templateKey(name)); err != nil {
			return err
		}
		return audit.Record(tx, audit.Entry{At: now, Actor: actor, Action: "change.template.delete", Object: "change-template/" + name})
	})
	return err
}

// PutFreeze adds a freeze window (its id is assigned when empty) or
// replaces one.
func (s *Service) PutFreeze(ctx context.Context, actor string, now time.Time, f Freeze) (*Freeze, error) {
	f.Name = strings.TrimSpace(f.Name)
	if f.ID == "" {
		f.ID = cmdb.NewID()
	}
	switch {
	case !validSegment(f.ID):
		return nil, invalid("freeze id %q", f.ID)
	case f.Name == "" || len(f.Name) > 200:
		return nil, invalid("freeze name: 1 to 200 characters")
	case f.Window.IsZero():
		return nil, invalid("freeze %s: a window is required", f.Name)
	}
	if err := validateWindow(f.Window); err != nil {
		return nil, err
	}
	ids, err := s.resolve(ctx, f.CIs)
	if err != nil {
		return nil, err
	}
	f.CIs, f.Window = ids, utcWindow(f.Window)
	f.By, f.Created = actor, now.UTC()
	_, err = s.st.Update(ctx, func(tx store.Txn) error {
		if err := put(tx, freezeKey(f.ID), f); err != nil {
			return err
		}
		return audit.Record(tx, audit.Entry{At: now, Actor: actor, Action: "change.freeze.put", Object: "change-freeze/" + f.ID,
			After: map[string]any{"name": f.Name, "start": f.Window.Start.Format(time.RFC3339), "end": f.Window.End.Format(time.RFC3339), "cis": f.CIs, "classes": f.Classes}})
	})
	if err != nil {
		return nil, fmt.Errorf("put freeze: %w", err)
	}
	return &f, nil
}

// Freezes lists the freeze windows.
func (s *Service) Freezes(ctx context.Context) ([]Freeze, error) { return listFreezes(ctx, s.st) }

func listFreezes(ctx context.Context, r store.Reader) ([]Freeze, error) {
	kvs, err := r.Scan(ctx, store.Range{Prefix: []byte(prefixFreeze)})
	if err != nil {
		return nil, err
	}
	out := make([]Freeze, 0, len(kvs))
	for _, kv := range kvs {
		var f Freeze
		if err := cmdb.Decode(kv.Value, &f); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b Freeze) int { return a.Window.Start.Compare(b.Window.Start) })
	return out, nil
}

// DeleteFreeze removes a freeze window.
func (s *Service) DeleteFreeze(ctx context.Context, actor, id string, now time.Time) error {
	if !validSegment(id) {
		return invalid("freeze id %q", id)
	}
	_, err := s.st.Update(ctx, func(tx store.Txn) error {
		if _, err := tx.Get(ctx, freezeKey(id)); err != nil {
			return fmt.Errorf("freeze %s: %w", id, cmdb.ErrNotFound)
		}
		if err := tx.Delete(freezeKey(id)); err != nil {
			return err
		}
		return audit.Record(tx, audit.Entry{At: now, Actor: actor, Action: "change.freeze.delete", Object: "change-freeze/" + id})
	})
	return err
}

// SetRules replaces the approval rules.
func (s *Service) SetRules(ctx context.Context, actor string, now time.Time, rs Rules) (Rules, error) {
	if err := rs.Validate(); err != nil {
		return rs, err
	}
	_, err := s.st.Update(ctx, func(tx store.Txn) error {
		if err := put(tx, keyRules, rs); err != nil {
			return err
		}
		names := make([]string, len(rs.Rules))
		for i, r := range rs.Rules {
			names[i] = r.Name
		}
		return audit.Record(tx, audit.Entry{At: now, Actor: actor, Action: "change.rules.set", Object: "change-rules", After: names})
	})
	return rs, err
}

// Rules returns the approval rules in force.
func (s *Service) Rules(ctx context.Context) (Rules, error) { return LoadRules(ctx, s.st) }

// SetControl marks a CI as change-controlled (on) or not (off).
// openIncident asks drift on it to open an incident.
func (s *Service) SetControl(ctx context.Context, actor, ref string, on, openIncident bool, reason string, now time.Time) (*Control, error) {
	ci, err := s.g.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	c := &Control{CI: ci.ID, By: actor, At: now.UTC(), Reason: reason, OpenIncident: openIncident}
	_, err = s.st.Update(ctx, func(tx store.Txn) error {
		action := "change.control.on"
		if on {
			if err := put(tx, controlKey(ci.ID), c); err != nil {
				return err
			}
		} else {
			action = "change.control.off"
			if err := tx.Delete(controlKey(ci.ID)); err != nil {
				return err
			}
		}
		return audit.Record(tx, audit.Entry{At: now, Actor: actor, Action: action, Object: "ci/" + ci.ID, Detail: reason})
	})
	if err != nil {
		return nil, fmt.Errorf("change control of %s: %w", ci.ID, err)
	}
	return c, nil
}

// Controls lists the change-controlled CIs marked through SetControl.
func (s *Service) Controls(ctx context.Context) ([]Control, error) {
	kvs, err := s.st.Scan(ctx, store.Range{Prefix: []byte(prefixCtl)})
	if err != nil {
		return nil, err
	}
	out := make([]Control, 0, len(kvs))
	for _, kv := range kvs {
		var c Control
		if err := cmdb.Decode(kv.Value, &c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// controlOf returns the control record of a CI: its marker, or one made
// up from the CI's attribute change_controlled; nil when not controlled.
func controlOf(ctx context.Context, r store.Reader, ci *cmdb.CI) (*Control, error) {
	c := &Control{}
	ok, err := get(ctx, r, controlKey(ci.ID), c)
	if err != nil {
		return nil, err
	}
	if ok {
		return c, nil
	}
	switch v := ci.Attr("change_controlled").(type) {
	case bool:
		if v {
			return &Control{CI: ci.ID}, nil
		}
	case string:
		if v == "true" || v == "yes" {
			return &Control{CI: ci.ID}, nil
		}
	}
	return nil, nil
}

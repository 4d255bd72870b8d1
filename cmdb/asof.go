package cmdb

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"parc/cmdb/store"
)

// Snapshot is a CI and its stored relationships as they were at an
// instant, rebuilt from the current state by undoing every history entry
// recorded after it. Relationship sighting counters (LastSeen,
// Observations) are not historised and show their current values.
type Snapshot struct {
	At    time.Time `json:"at"`
	CI    *CI       `json:"ci"`
	Edges []Edge    `json:"edges"`
	// Software is the host's software record at the instant, when it
	// could be rebuilt (SoftwareComplete false when a large change was
	// historised only as counts).
	Software         []Installed `json:"software,omitempty"`
	SoftwareComplete bool        `json:"software_complete"`
}

// AsOf returns CI id as it was at instant at. A CI created after at is
// ErrNotFound.
func (g *Graph) AsOf(ctx context.Context, id string, at time.Time) (*Snapshot, error) {
	var snap *Snapshot
	err := g.st.View(ctx, func(rd store.Reader) error {
		var err error
		snap, err = asOf(ctx, rd, id, at)
		return err
	})
	if err != nil {
		return nil, err
	}
	return snap, nil
}

type edgeKey struct{ dir, typ, other string }

func asOf(ctx context.Context, rd store.Reader, id string, at time.Time) (*Snapshot, error) {
	cur, err := loadCI(ctx, rd, id)
	if err != nil {
		return nil, err
	}
	ci := cloneForUndo(cur)
	edges := map[edgeKey]Edge{}
	out, err := scanRels(ctx, rd, id, "")
	if err != nil {
		return nil, err
	}
	for _, r := range out {
		edges[edgeKey{"out", r.Type, r.To}] = Edge{Relationship: r, Direction: "out", Other: r.To}
	}
	in, err := rd.Scan(ctx, store.Range{Prefix: []byte(PrefixRelIn + id + "/")})
	if err != nil {
		return nil, err
	}
	for _, kv := range in {
		parts := strings.Split(strings.TrimPrefix(string(kv.Key), PrefixRelIn), "/")
		if len(parts) != 3 {
			continue
		}
		v, err := rd.Get(ctx, relOutKey(parts[2], parts[1], parts[0]))
		if err != nil {
			continue
		}
		var r Relationship
		if err := Decode(v, &r); err != nil {
			return nil, err
		}
		edges[edgeKey{"in", r.Type, r.From}] = Edge{Relationship: r, Direction: "in", Other: r.From}
	}
	sw, _, err := loadSoftware(ctx, rd, id)
	if err != nil {
		return nil, err
	}
	type pkgKey struct{ name, arch string }
	pkgs := map[pkgKey]Installed{}
	for _, it := range sw.Items {
		pkgs[pkgKey{it.Name, it.Arch}] = it
	}
	swComplete := true

	// Undo the entries after at, newest first.
	start := []byte(fmt.Sprintf("%s%s/%016x/", PrefixHistory, id, at.UnixNano()+1))
	kvs, err := rd.Scan(ctx, store.Range{Start: start, End: store.PrefixEnd(historyPrefix(id)), Reverse: true})
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", id, err)
	}
	for _, kv := range kvs {
		var e HistoryEntry
		if err := Decode(kv.Value, &e); err != nil {
			return nil, err
		}
		if e.Rel != "" {
			undoRel(edges, id, e)
			continue
		}
		if e.Kind == HistCreated {
			return nil, fmt.Errorf("CI %s did not exist at %s: %w", id, at.UTC().Format(time.RFC3339), ErrNotFound)
		}
		for _, c := range e.Changes {
			if name, ok := strings.CutPrefix(c.Field, "software:"); ok {
				n, arch := name, ""
				if i := strings.LastIndexByte(name, ':'); i >= 0 {
					n, arch = name[:i], name[i+1:]
				}
				k := pkgKey{n, arch}
				switch {
				case c.Before == nil:
					delete(pkgs, k)
				default:
					it := pkgs[k]
					it.Name, it.Arch, it.Version = n, arch, fmt.Sprint(c.Before)
					pkgs[k] = it
				}
				continue
			}
			if c.Field == "software" && Canon(c.Before) == nil || Canon(c.Before) == int64(0) && c.Field == "software" {
				clear(pkgs) // the first inventory: nothing before it
				continue
			}
			if c.Field == "software" {
				swComplete = false
				continue
			}
			if strings.HasPrefix(c.Field, "software.") {
				continue
			}
			undoField(ci, c)
		}
	}
	snap := &Snapshot{At: at.UTC(), CI: ci, SoftwareComplete: swComplete}
	for _, ed := range edges {
		if o, err := loadCI(ctx, rd, ed.Other); err == nil {
			ed.OtherName = o.Name
		}
		snap.Edges = append(snap.Edges, ed)
	}
	sortEdges(snap.Edges)
	for _, it := range pkgs {
		snap.Software = append(snap.Software, it)
	}
	sort.Slice(snap.Software, func(i, j int) bool {
		a, b := snap.Software[i], snap.Software[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Arch < b.Arch
	})
	return snap, nil
}

func sortEdges(edges []Edge) {
	sort.SliceStable(edges, func(i, j int) bool {
		a, b := edges[i], edges[j]
		if a.Direction != b.Direction {
			return a.Direction > b.Direction
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.OtherName != b.OtherName {
			return a.OtherName < b.OtherName
		}
		return a.Other < b.Other
	})
}

func cloneForUndo(c *CI) *CI {
	n := *c
	n.Attrs = make(map[string]Attr, len(c.Attrs))
	for k, v := range c.Attrs {
		n.Attrs[k] = v
	}
	n.Identifiers = make(map[string][]string, len(c.Identifiers))
	for k, v := range c.Identifiers {
		n.Identifiers[k] = append([]string(nil), v...)
	}
	n.Flags = make(map[string]bool, len(c.Flags))
	for k, v := range c.Flags {
		n.Flags[k] = v
	}
	n.Rev = 0
	return &n
}

func str(v any) string {
	if v == nil {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

// undoField sets the field a change names back to its Before value.
func undoField(ci *CI, c Change) {
	switch {
	case c.Field == "class":
		ci.Class = str(c.Before)
	case c.Field == "subclass":
		ci.Subclass = str(c.Before)
	case c.Field == "name":
		ci.Name = str(c.Before)
	case c.Field == "state":
		ci.State = str(c.Before)
	case strings.HasPrefix(c.Field, "attrs.") && strings.HasSuffix(c.Field, ".source") && ci.Attrs[strings.TrimSuffix(strings.TrimPrefix(c.Field, "attrs."), ".source")].Value != nil:
		k := strings.TrimSuffix(strings.TrimPrefix(c.Field, "attrs."), ".source")
		a := ci.Attrs[k]
		a.Source = str(c.Before)
		ci.Attrs[k] = a
	case strings.HasPrefix(c.Field, "attrs."):
		k := strings.TrimPrefix(c.Field, "attrs.")
		if c.Before == nil {
			delete(ci.Attrs, k)
			return
		}
		a := ci.Attrs[k]
		a.Value = Canon(c.Before)
		ci.Attrs[k] = a
	case strings.HasPrefix(c.Field, "identifiers."):
		k := strings.TrimPrefix(c.Field, "identifiers.")
		if c.Before == nil {
			delete(ci.Identifiers, k)
			return
		}
		if v, ok := Canon(c.Before).([]string); ok {
			ci.Identifiers[k] = v
		}
	case strings.HasPrefix(c.Field, "flags."):
		k := strings.TrimPrefix(c.Field, "flags.")
		if b, _ := c.Before.(bool); b {
			ci.Flags[k] = true
		} else {
			delete(ci.Flags, k)
		}
	}
}

// undoRel reverts one relationship history entry of CI id on edges.
func undoRel(edges map[edgeKey]Edge, id string, e HistoryEntry) {
	var k edgeKey
	if typ, other, ok := strings.Cut(e.Rel, "<-"); ok {
		k = edgeKey{"in", typ, other}
	} else if typ, other, ok := strings.Cut(e.Rel, ":"); ok {
		k = edgeKey{"out", typ, other}
	} else {
		return
	}
	switch e.Kind {
	case HistRelAdded:
		delete(edges, k)
	case HistRelRemoved:
		r := Relationship{Type: k.typ, Attrs: map[string]string{}}
		if k.dir == "out" {
			r.From, r.To = id, k.other
		} else {
			r.From, r.To = k.other, id
		}
		for _, c := range e.Changes {
			if c.Before != nil {
				r.Attrs[c.Field] = str(c.Before)
			}
		}
		if len(r.Attrs) == 0 {
			r.Attrs = nil
		}
		edges[k] = Edge{Relationship: r, Direction: k.dir, Other: k.other}
	case HistRelUpdated:
		ed, ok := edges[k]
		if !ok {
			return
		}
		attrs := map[string]string{}
		for a, v := range ed.Attrs {
			attrs[a] = v
		}
		for _, c := range e.Changes {
			if c.Field == "source" {
				ed.Source = str(c.Before)
				continue
			}
			if c.Before == nil {
				delete(attrs, c.Field)
			} else {
				attrs[c.Field] = str(c.Before)
			}
		}
		ed.Attrs = attrs
		edges[k] = ed
	}
}

// Diff is how a CI changed between two instants.
type Diff struct {
	CI   string    `json:"ci"`
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Existed says whether the CI existed at From and at To.
	ExistedFrom bool `json:"existed_from"`
	ExistedTo   bool `json:"existed_to"`
	// Changes are the net field changes from From to To.
	Changes      []Change `json:"changes"`
	EdgesAdded   []Edge   `json:"edges_added"`
	EdgesRemoved []Edge   `json:"edges_removed"`
	// EdgesChanged holds the To side of relationships whose attributes changed.
	EdgesChanged []Edge `json:"edges_changed"`
	// Software lists the net package changes (field software:NAME[:ARCH]).
	Software []Change `json:"software,omitempty"`
	// Entries are the history entries recorded in (From, To], oldest first:
	// who changed what and when.
	Entries []HistoryEntry `json:"entries"`
}

// Diff compares CI id at two instants.
func (g *Graph) Diff(ctx context.Context, id string, from, to time.Time) (*Diff, error) {
	if to.Before(from) {
		return nil, fmt.Errorf("diff: --to %s is before --from %s: %w", to.Format(time.RFC3339), from.Format(time.RFC3339), ErrInvalid)
	}
	d := &Diff{CI: id, From: from.UTC(), To: to.UTC()}
	err := g.st.View(ctx, func(rd store.Reader) error {
		a, err := asOf(ctx, rd, id, from)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if errors.Is(err, ErrNotFound) {
			if _, err := loadCI(ctx, rd, id); err != nil {
				return err // no such CI at all
			}
			a = &Snapshot{CI: &CI{}, SoftwareComplete: true}
		} else {
			d.ExistedFrom = true
		}
		b, err := asOf(ctx, rd, id, to)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if errors.Is(err, ErrNotFound) {
			b = &Snapshot{CI: &CI{}, SoftwareComplete: true}
		} else {
			d.ExistedTo = true
		}
		d.Changes = ciChanges(a.CI, b.CI)
		ea := map[edgeKey]Edge{}
		for _, e := range a.Edges {
			ea[edgeKey{e.Direction, e.Type, e.Other}] = e
		}
		for _, e := range b.Edges {
			k := edgeKey{e.Direction, e.Type, e.Other}
			old, ok := ea[k]
			switch {
			case !ok:
				d.EdgesAdded = append(d.EdgesAdded, e)
			case len(mapChanges(old.Attrs, e.Attrs)) > 0 || old.Source != e.Source:
				d.EdgesChanged = append(d.EdgesChanged, e)
			}
			delete(ea, k)
		}
		for _, e := range ea {
			d.EdgesRemoved = append(d.EdgesRemoved, e)
		}
		sortEdges(d.EdgesRemoved)
		d.Software = SoftwareChanges(a.Software, b.Software, 1000)
		start := []byte(fmt.Sprintf("%s%s/%016x/", PrefixHistory, id, from.UnixNano()+1))
		end := []byte(fmt.Sprintf("%s%s/%016x/", PrefixHistory, id, to.UnixNano()+1))
		kvs, err := rd.Scan(ctx, store.Range{Start: start, End: end, Limit: 1000})
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			var e HistoryEntry
			if err := Decode(kv.Value, &e); err != nil {
				return err
			}
			d.Entries = append(d.Entries, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("diff %s: %w", id, err)
	}
	for _, p := range []*[]Edge{&d.EdgesAdded, &d.EdgesRemoved, &d.EdgesChanged} {
		if *p == nil {
			*p = []Edge{}
		}
	}
	if d.Changes == nil {
		d.Changes = []Change{}
	}
	if d.Entries == nil {
		d.Entries = []HistoryEntry{}
	}
	return d, nil
}

package cmdb

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"

	"parc/cmdb/store"
)

// Graph reads the CI graph. It is safe for concurrent use.
type Graph struct {
	st store.Store
	// titles, once set, answers which hosts a software title is on.
	titles atomic.Pointer[TitleIndexer]
	// index, while RunIndex runs, answers traversals from memory.
	index atomic.Pointer[graphIndex]
}

// NewGraph returns a Graph over st.
func NewGraph(st store.Store) *Graph { return &Graph{st: st} }

// Store returns the underlying store.
func (g *Graph) Store() store.Store { return g.st }

// CI returns the CI with id, or ErrNotFound.
func (g *Graph) CI(ctx context.Context, id string) (*CI, error) {
	return loadCI(ctx, g.st, id)
}

// Resolve finds a CI by id, or else by exact (case-insensitive) name, or
// else by an identifier value (serial, hostname, fqdn, asset tag, ...). A name
// shared by several CIs is ErrAmbiguous.
func (g *Graph) Resolve(ctx context.Context, ref string) (*CI, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return nil, fmt.Errorf("empty CI reference: %w", ErrInvalid)
	}
	if len(ref) == 26 && !strings.ContainsAny(ref, "/%") {
		ci, err := g.CI(ctx, ref)
		if err == nil || !errors.Is(err, ErrNotFound) {
			return ci, err
		}
	}
	kvs, err := g.st.Scan(ctx, store.Range{Prefix: []byte(PrefixName + nameIndex(ref) + "/"), Limit: 10})
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(kvs))
	for _, kv := range kvs {
		ids = append(ids, lastSegment(kv.Key))
	}
	if len(ids) == 0 {
		for _, kind := range []string{"hostname", "fqdn", "serial", "asset_tag", "machine_id", "uuid", "mac", "ip"} {
			if ids, err = findIdent(ctx, g.st, kind, ref); err != nil {
				return nil, err
			}
			if len(ids) > 0 {
				break
			}
		}
	}
	switch len(ids) {
	case 0:
		return nil, fmt.Errorf("CI %q: %w", ref, ErrNotFound)
	case 1:
		return g.CI(ctx, ids[0])
	default:
		return nil, fmt.Errorf("%q names %d CIs (%s): use an id: %w", ref, len(ids), strings.Join(ids, ", "), ErrAmbiguous)
	}
}

// ListOptions selects a page of CIs.
type ListOptions struct {
	Class string
	// After is the cursor: the id of the last CI of the previous page.
	After string
	Limit int
}

// List returns a page of CIs ordered by id and the cursor of the next page
// ("" on the last page).
func (g *Graph) List(ctx context.Context, o ListOptions) ([]*CI, string, error) {
	if o.Limit <= 0 || o.Limit > 1000 {
		o.Limit = 100
	}
	prefix := []byte(PrefixCI)
	if o.Class != "" {
		prefix = []byte(PrefixClass + o.Class + "/")
	}
	r := store.Range{Prefix: prefix, Limit: o.Limit + 1}
	if o.After != "" {
		r.After = append(append([]byte(nil), prefix...), o.After...)
	}
	var out []*CI
	err := g.st.View(ctx, func(rd store.Reader) error {
		kvs, err := rd.Scan(ctx, r)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			ci := &CI{}
			if o.Class == "" {
				if err := Decode(kv.Value, ci); err != nil {
					return err
				}
				ci.Rev = kv.ModRev
			} else {
				c, err := loadCI(ctx, rd, lastSegment(kv.Key))
				if err != nil {
					return err
				}
				ci = c
			}
			out = append(out, ci)
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("list CIs: %w", err)
	}
	next := ""
	if len(out) > o.Limit {
		out = out[:o.Limit]
		next = out[len(out)-1].ID
	}
	return out, next, nil
}

// Edges returns every relationship of a CI in both directions, including the
// installed_on relationships derived from software records, sorted by
// direction, type and the other end's name.
func (g *Graph) Edges(ctx context.Context, id string) ([]Edge, error) {
	var edges []Edge
	err := g.st.View(ctx, func(rd store.Reader) error {
		ci, err := loadCI(ctx, rd, id)
		if err != nil {
			return err
		}
		out, err := scanRels(ctx, rd, id, "")
		if err != nil {
			return err
		}
		for _, r := range out {
			edges = append(edges, Edge{Relationship: r, Direction: "out", Other: r.To})
		}
		in, err := rd.Scan(ctx, store.Range{Prefix: []byte(PrefixRelIn + id + "/")})
		if err != nil {
			return err
		}
		for _, kv := range in {
			parts := strings.Split(strings.TrimPrefix(string(kv.Key), PrefixRelIn), "/")
			if len(parts) != 3 {
				continue
			}
			v, err := rd.Get(ctx, relOutKey(parts[2], parts[1], parts[0]))
			if err != nil {
				return fmt.Errorf("relationship %s: %w", kv.Key, err)
			}
			var r Relationship
			if err := Decode(v, &r); err != nil {
				return err
			}
			edges = append(edges, Edge{Relationship: r, Direction: "in", Other: r.From})
		}
		derived, err := g.installedEdges(ctx, rd, ci)
		if err != nil {
			return err
		}
		edges = append(edges, derived...)
		for i := range edges {
			if edges[i].OtherName != "" {
				continue
			}
			if o, err := loadCI(ctx, rd, edges[i].Other); err == nil {
				edges[i].OtherName = o.Name
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(edges, func(i, j int) bool {
		a, b := edges[i], edges[j]
		if a.Direction != b.Direction {
			return a.Direction > b.Direction
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return a.OtherName < b.OtherName
	})
	return edges, nil
}

// installedEdges presents a host's software record, or a title's hosts,
// as installed_on relationships (software -installed_on-> host).
func (g *Graph) installedEdges(ctx context.Context, rd store.Reader, ci *CI) ([]Edge, error) {
	var edges []Edge
	if ci.Class == ClassSoftware {
		hosts, err := g.titleHosts(ctx, rd, ci)
		if err != nil {
			return nil, err
		}
		for _, h := range hosts {
			edges = append(edges, Edge{Relationship: installedRel(ci.ID, h.Host, h.Installed), Direction: "in", Other: h.Host})
		}
		return edges, nil
	}
	rec, _, err := loadSoftware(ctx, rd, ci.ID)
	if err != nil {
		return nil, err
	}
	for _, it := range rec.Items {
		title := TitleID(it.Title)
		edges = append(edges, Edge{Relationship: installedRel(title, ci.ID, it), Direction: "in", Other: title, OtherName: it.Title})
	}
	return edges, nil
}

func installedRel(title, host string, it Installed) Relationship {
	attrs := map[string]string{"version": it.Version, "package": it.Name}
	if it.Arch != "" {
		attrs["arch"] = it.Arch
	}
	if it.Source != "" {
		attrs["source"] = it.Source
	}
	return Relationship{From: title, To: host, Type: RelInstalledOn, Source: SourceAgent, Attrs: attrs}
}

// TitleID is the id of the software title CI for a normalized title.
func TitleID(title string) string { return DerivedID(ClassSoftware, title) }

// Software returns the software record of a host.
func (g *Graph) Software(ctx context.Context, host string) (SoftwareRecord, error) {
	rec, _, err := loadSoftware(ctx, g.st, host)
	return rec, err
}

// HistoryOptions selects history entries.
type HistoryOptions struct {
	// Limit caps the number of entries (0: all). Newest are kept when Reverse.
	Limit   int
	Reverse bool
}

// History returns the history of a CI, oldest first (newest first with
// Reverse).
func (g *Graph) History(ctx context.Context, id string, o HistoryOptions) ([]HistoryEntry, error) {
	if _, err := g.CI(ctx, id); err != nil {
		return nil, err
	}
	kvs, err := g.st.Scan(ctx, store.Range{Prefix: historyPrefix(id), Limit: o.Limit, Reverse: o.Reverse})
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", id, err)
	}
	out := make([]HistoryEntry, 0, len(kvs))
	for _, kv := range kvs {
		var e HistoryEntry
		if err := Decode(kv.Value, &e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

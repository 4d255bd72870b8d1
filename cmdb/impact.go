package cmdb

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"parc/cmdb/store"
)

// Direction of an impact traversal.
type Direction string

const (
	// Downstream follows what relies on the start CIs: their dependants,
	// the blast radius of a failure or change.
	Downstream Direction = "downstream"
	// Upstream follows what the start CIs rely on.
	Upstream Direction = "upstream"
	// Both follows both.
	Both Direction = "both"
)

// reliesOnTarget says, per relationship type, whether the relationship's
// From relies on its To (true: depends_on, runs_on, contains) or the
// reverse (false: provides). Types not listed are not traversed unless
// named in ImpactOptions.Types, and then they count as From relies on To.
var reliesOnTarget = map[string]bool{
	RelDependsOn: true,
	RelRunsOn:    true,
	RelContains:  true,
	RelProvides:  false,
}

// ImpactOptions shapes a traversal.
type ImpactOptions struct {
	Direction Direction
	// Types limits the relationship types followed (default: depends_on,
	// runs_on, contains, provides).
	Types []string
	// Depth is the most hops from a start CI (default 3, at most 10).
	Depth int
	// Limit caps the CIs returned (default 10000).
	Limit int
	// Classes, when set, keeps only reached CIs of these classes in the
	// result (traversal still passes through the others).
	Classes []string
}

// ImpactNode is one CI reached by a traversal.
type ImpactNode struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Class    string `json:"class"`
	Subclass string `json:"subclass,omitempty"`
	Depth    int    `json:"depth"`
	// Path is the shortest chain of CI ids from a start CI to this one.
	Path []string `json:"path"`
	// Via is the relationship type of the last hop.
	Via string `json:"via"`
}

// ImpactResult is the outcome of a traversal.
type ImpactResult struct {
	Start []string       `json:"start"`
	Nodes []ImpactNode   `json:"nodes"`
	Count map[string]int `json:"count_by_class"`
	// Truncated is true when Limit cut the traversal short.
	Truncated bool `json:"truncated,omitempty"`
}

// Impact walks the graph breadth-first from the start CIs and returns every
// CI reached within the depth, each with its shortest path. While RunIndex
// runs it reads the in-memory index, else the store.
func (g *Graph) Impact(ctx context.Context, start []string, o ImpactOptions) (*ImpactResult, error) {
	if len(start) == 0 {
		return nil, fmt.Errorf("impact: no start CI: %w", ErrInvalid)
	}
	if o.Direction == "" {
		o.Direction = Downstream
	}
	if o.Direction != Downstream && o.Direction != Upstream && o.Direction != Both {
		return nil, fmt.Errorf("direction %q: want upstream, downstream or both: %w", o.Direction, ErrInvalid)
	}
	if o.Depth <= 0 {
		o.Depth = 3
	}
	if o.Depth > 10 {
		return nil, fmt.Errorf("depth %d: at most 10: %w", o.Depth, ErrInvalid)
	}
	if o.Limit <= 0 {
		o.Limit = 10000
	}
	types := map[string]bool{}
	if len(o.Types) == 0 {
		for t := range reliesOnTarget {
			types[t] = true
		}
	}
	for _, t := range o.Types {
		types[t] = true
	}
	keepClass := map[string]bool{}
	for _, c := range o.Classes {
		keepClass[c] = true
	}
	if x := g.index.Load(); x != nil {
		var res *ImpactResult
		ok, err := x.read(ctx, func(adj *adjIndex) (err error) {
			res, err = adj.impact(ctx, start, o, types, keepClass)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("impact of %s: %w", strings.Join(start, ","), err)
		}
		if ok {
			return res, nil
		}
	}
	return g.walkImpact(ctx, start, o, types, keepClass)
}

// walkImpact is Impact read from the store: per reached CI, a scan of its
// relationships and a read of its record.
func (g *Graph) walkImpact(ctx context.Context, start []string, o ImpactOptions, types, keepClass map[string]bool) (*ImpactResult, error) {
	res := &ImpactResult{Start: start, Count: map[string]int{}}
	err := g.st.View(ctx, func(rd store.Reader) error {
		type item struct {
			id   string
			path []string
		}
		seen := map[string]bool{}
		var frontier []item
		for _, id := range start {
			if _, err := loadHead(ctx, rd, id); err != nil {
				return err
			}
			seen[id] = true
			frontier = append(frontier, item{id: id, path: []string{id}})
		}
		for depth := 1; depth <= o.Depth && len(frontier) > 0; depth++ {
			var next []item
			for _, it := range frontier {
				nbrs, err := neighbours(ctx, rd, it.id, o.Direction, types)
				if err != nil {
					return err
				}
				for _, nb := range nbrs {
					if seen[nb.id] {
						continue
					}
					seen[nb.id] = true
					path := append(append([]string(nil), it.path...), nb.id)
					ci, err := loadHead(ctx, rd, nb.id)
					if err != nil {
						return err
					}
					if len(keepClass) == 0 || keepClass[ci.Class] {
						if len(res.Nodes) >= o.Limit {
							res.Truncated = true
							return nil
						}
						res.Nodes = append(res.Nodes, ImpactNode{ID: ci.ID, Name: ci.Name, Class: ci.Class, Subclass: ci.Subclass, Depth: depth, Path: path, Via: nb.via})
						res.Count[ci.Class]++
					}
					next = append(next, item{id: nb.id, path: path})
				}
			}
			frontier = next
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("impact of %s: %w", strings.Join(start, ","), err)
	}
	return res, nil
}

type neighbour struct{ id, via string }

// relies reports whether a relationship of type typ makes its From rely on
// its To (types not in reliesOnTarget count as such).
func relies(typ string) bool {
	r, known := reliesOnTarget[typ]
	return r || !known
}

// scanPrefix narrows an adjacency scan to one relationship type when only
// one is wanted on that side, and skips the side when none is ("").
func scanPrefix(base, id string, want []string) string {
	switch len(want) {
	case 0:
		return ""
	case 1:
		return base + id + "/" + want[0] + "/"
	}
	return base + id + "/"
}

// neighbours lists the CIs one hop from id in the given direction.
func neighbours(ctx context.Context, rd store.Reader, id string, dir Direction, types map[string]bool) ([]neighbour, error) {
	var outTypes, inTypes []string
	for t := range types {
		// id -t-> x: x is upstream of id when id relies on x.
		if (relies(t) && dir != Downstream) || (!relies(t) && dir != Upstream) {
			outTypes = append(outTypes, t)
		}
		// x -t-> id: x is downstream of id when x relies on id.
		if (relies(t) && dir != Upstream) || (!relies(t) && dir != Downstream) {
			inTypes = append(inTypes, t)
		}
	}
	var out []neighbour
	for _, side := range []struct {
		base  string
		types []string
	}{{PrefixRelOut, outTypes}, {PrefixRelIn, inTypes}} {
		p := scanPrefix(side.base, id, side.types)
		if p == "" {
			continue
		}
		kvs, err := rd.Scan(ctx, store.Range{Prefix: []byte(p)})
		if err != nil {
			return nil, err
		}
		want := map[string]bool{}
		for _, t := range side.types {
			want[t] = true
		}
		for _, kv := range kvs {
			typ, other, ok := splitRelKey(kv.Key, side.base+id+"/")
			if ok && want[typ] {
				out = append(out, neighbour{other, typ})
			}
		}
	}
	return out, nil
}

func splitRelKey(key []byte, prefix string) (typ, other string, ok bool) {
	rest := strings.TrimPrefix(string(key), prefix)
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return "", "", false
	}
	return rest[:i], rest[i+1:], true
}

// ciHead is the part of a CI a traversal shows; decoding only it skips the
// attributes, identifiers and history of every reached CI.
type ciHead struct {
	ID       string `cbor:"1,keyasint"`
	Class    string `cbor:"2,keyasint"`
	Subclass string `cbor:"3,keyasint,omitempty"`
	Name     string `cbor:"4,keyasint"`
}

func loadHead(ctx context.Context, r store.Reader, id string) (*ciHead, error) {
	v, err := r.Get(ctx, ciKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("CI %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load CI %s: %w", id, err)
	}
	h := &ciHead{}
	if err := Decode(v, h); err != nil {
		return nil, fmt.Errorf("load CI %s: %w", id, err)
	}
	return h, nil
}

// CIHead is what a list of CIs shows of each: identity, class and name,
// and the business facts owner and criticality (attributes of those names,
// when strings).
type CIHead struct {
	ID          string `json:"id"`
	Class       string `json:"class"`
	Subclass    string `json:"subclass,omitempty"`
	Name        string `json:"name"`
	Owner       string `json:"owner,omitempty"`
	Criticality string `json:"criticality,omitempty"`
}

// Heads returns the heads of the CIs with ids, in order; a missing CI is
// ErrNotFound. While RunIndex runs it reads them from memory, else from
// the store.
func (g *Graph) Heads(ctx context.Context, ids []string) ([]CIHead, error) {
	out := make([]CIHead, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	if x := g.index.Load(); x != nil {
		ok, err := x.read(ctx, func(adj *adjIndex) error { return adj.heads(ids, out) })
		if err != nil {
			return nil, err
		}
		if ok {
			return out, nil
		}
	}
	err := g.st.View(ctx, func(rd store.Reader) error {
		for i, id := range ids {
			ci, err := loadCI(ctx, rd, id)
			if err != nil {
				return err
			}
			out[i] = CIHead{ID: ci.ID, Class: ci.Class, Subclass: ci.Subclass, Name: ci.Name,
				Owner: ci.AttrString(attrOwner), Criticality: ci.AttrString(attrCriticality)}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

package incident

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"parc/cmdb"
	"parc/cmdb/store"
)

// maxDeriveNodes bounds the CIs one impact derivation visits;
// maxServiceIndex bounds the service ids read up front.
const maxDeriveNodes = 20000

var maxServiceIndex = 10000

// derivation is what the graph says about a set of affected CIs.
type derivation struct {
	impact   int
	basis    ImpactBasis
	services []ServiceRef
}

// ciHead is the part of a CI record the derivation reads (the decoder
// skips the other fields).
type ciHead struct {
	ID    string `cbor:"1,keyasint"`
	Class string `cbor:"2,keyasint"`
	Name  string `cbor:"4,keyasint"`
}

// downstream lists the CIs that rely on id directly, following the same
// relationship semantics as cmdb.Graph.Impact with Downstream: x
// depends_on, runs_on or is contained in id (x -T-> id), or id provides x.
func downstream(ctx context.Context, r store.Reader, id string) ([]string, error) {
	var out []string
	in, err := r.Scan(ctx, store.Range{Prefix: []byte(cmdb.PrefixRelIn + id + "/")})
	if err != nil {
		return nil, err
	}
	for _, kv := range in {
		rest := strings.TrimPrefix(string(kv.Key), cmdb.PrefixRelIn+id+"/")
		typ, other, ok := strings.Cut(rest, "/")
		if ok && (typ == cmdb.RelDependsOn || typ == cmdb.RelRunsOn || typ == cmdb.RelContains) {
			out = append(out, other)
		}
	}
	prov, err := r.Scan(ctx, store.Range{Prefix: []byte(cmdb.PrefixRelOut + id + "/" + cmdb.RelProvides + "/")})
	if err != nil {
		return nil, err
	}
	for _, kv := range prov {
		out = append(out, string(kv.Key[strings.LastIndexByte(string(kv.Key), '/')+1:]))
	}
	return out, nil
}

// derive computes the impact level and the affected services of links by
// walking breadth-first downstream (what relies on the CIs), counting
// services and dependants. The walk stops after the depth at which the
// impact is already the highest level (the counts then cover that depth,
// ImpactBasis.Depth, and Partial is set), at ImpactRule.Depth, or after
// maxDeriveNodes CIs.
func (s *Service) derive(ctx context.Context, cfg Config, links []Link) (*derivation, error) {
	levels := cfg.ImpactLevels()
	d := &derivation{impact: levels}
	if len(links) == 0 {
		return d, nil
	}
	r := cfg.Impact
	seen := map[string]bool{}
	var frontier []string
	nsvc := 0
	addService := func(id, name string) {
		nsvc++
		if len(d.services) < maxServices {
			d.services = append(d.services, ServiceRef{ID: id, Name: name})
		}
	}
	for _, l := range links {
		if seen[l.CI] {
			continue
		}
		seen[l.CI] = true
		frontier = append(frontier, l.CI)
		if l.Class == cmdb.ClassService {
			addService(l.CI, l.Name)
		}
	}
	deps := 0
	high := func() bool {
		return r.HighServices > 0 && nsvc >= r.HighServices || r.HighDependants > 0 && deps >= r.HighDependants
	}
	err := s.st.View(ctx, func(rd store.Reader) error {
		// The services are usually few: read their ids once from the class
		// index, so that dependants need no load (beyond a bound, load
		// every dependant to learn its class).
		svcKeys, err := rd.Scan(ctx, store.Range{Prefix: []byte(cmdb.PrefixClass + cmdb.ClassService + "/"), Limit: maxServiceIndex + 1})
		if err != nil {
			return err
		}
		var services map[string]bool
		if len(svcKeys) <= maxServiceIndex {
			services = make(map[string]bool, len(svcKeys))
			for _, kv := range svcKeys {
				services[string(kv.Key[strings.LastIndexByte(string(kv.Key), '/')+1:])] = true
			}
		}
		for depth := 1; depth <= r.Depth && len(frontier) > 0; depth++ {
			var next []string
			for _, id := range frontier {
				nbrs, err := downstream(ctx, rd, id)
				if err != nil {
					return err
				}
				for _, nb := range nbrs {
					if seen[nb] {
						continue
					}
					seen[nb] = true
					isService := services[nb]
					if services == nil || isService {
						v, err := rd.Get(ctx, []byte(cmdb.PrefixCI+nb))
						if errors.Is(err, store.ErrNotFound) {
							continue // relationship to a CI being written: skip
						}
						if err != nil {
							return err
						}
						var h ciHead
						if err := cmdb.Decode(v, &h); err != nil {
							return err
						}
						if h.Class == cmdb.ClassService {
							addService(nb, h.Name)
						}
					}
					deps++
					next = append(next, nb)
					if len(seen) >= maxDeriveNodes {
						d.basis.Depth, d.basis.Partial = depth, true
						return nil
					}
				}
			}
			d.basis.Depth = depth
			frontier = next
			if high() && len(frontier) > 0 && depth < r.Depth {
				d.basis.Partial = true
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("derive impact: %w", err)
	}
	d.basis.Services, d.basis.Dependants = nsvc, deps
	switch {
	case high():
		d.impact = 1
	case r.MediumDependants > 0 && deps >= r.MediumDependants:
		d.impact = (levels + 1) / 2
	}
	return d, nil
}

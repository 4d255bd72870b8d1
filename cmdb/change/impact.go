package change

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"parc/cmdb"
	"parc/cmdb/store"
)

// CIRef names a CI in an analysis.
type CIRef struct {
	ID          string `cbor:"1,keyasint" json:"id"`
	Name        string `cbor:"2,keyasint" json:"name"`
	Class       string `cbor:"3,keyasint" json:"class"`
	Owner       string `cbor:"4,keyasint,omitempty" json:"owner,omitempty"`
	Criticality string `cbor:"5,keyasint,omitempty" json:"criticality,omitempty"`
}

// Node is a CI reached from the affected CIs, with its depth and path.
type Node struct {
	ID    string   `cbor:"1,keyasint" json:"id"`
	Name  string   `cbor:"2,keyasint" json:"name"`
	Class string   `cbor:"3,keyasint" json:"class"`
	Depth int      `cbor:"4,keyasint" json:"depth"`
	Path  []string `cbor:"5,keyasint" json:"path"`
	Via   string   `cbor:"6,keyasint" json:"via"`
}

// Collision is another open change whose window overlaps, on the same CIs
// or on CIs that depend on each other.
type Collision struct {
	Number string   `cbor:"1,keyasint" json:"number"`
	Title  string   `cbor:"2,keyasint" json:"title"`
	State  State    `cbor:"3,keyasint" json:"state"`
	Window Window   `cbor:"4,keyasint" json:"window"`
	CIs    []string `cbor:"5,keyasint" json:"cis"`
	// Direct is true when both changes name one of the CIs.
	Direct bool `cbor:"6,keyasint,omitempty" json:"direct,omitempty"`
}

// FreezeHit is a freeze window the change's window violates.
type FreezeHit struct {
	ID     string `cbor:"1,keyasint" json:"id"`
	Name   string `cbor:"2,keyasint" json:"name"`
	Window Window `cbor:"3,keyasint" json:"window"`
	Reason string `cbor:"4,keyasint,omitempty" json:"reason,omitempty"`
}

// Impact is the analysis of a change on the graph.
type Impact struct {
	Change string    `cbor:"1,keyasint" json:"change"`
	At     time.Time `cbor:"2,keyasint" json:"at"`
	Window Window    `cbor:"3,keyasint" json:"window"`
	// Affected are the CIs the change names.
	Affected []CIRef `cbor:"4,keyasint" json:"affected"`
	// Downstream are the dependants (what relies on the affected CIs), the
	// blast radius; Upstream what the affected CIs rely on.
	Downstream []Node `cbor:"5,keyasint" json:"downstream"`
	Upstream   []Node `cbor:"6,keyasint" json:"upstream"`
	// Services are the service CIs among both lists, Critical those of
	// them (or of the affected CIs) whose criticality is critical.
	Services []CIRef `cbor:"7,keyasint,omitempty" json:"services"`
	Critical []CIRef `cbor:"8,keyasint,omitempty" json:"critical_services"`
	// CountByClass counts affected CIs and dependants by class.
	CountByClass map[string]int `cbor:"9,keyasint" json:"count_by_class"`
	// OpenIncidents and OpenProblems map a CI to its open records.
	OpenIncidents map[string][]string `cbor:"10,keyasint,omitempty" json:"open_incidents"`
	OpenProblems  map[string][]string `cbor:"11,keyasint,omitempty" json:"open_problems"`
	Collisions    []Collision         `cbor:"12,keyasint,omitempty" json:"collisions"`
	Freezes       []FreezeHit         `cbor:"13,keyasint,omitempty" json:"freezes"`
	RiskScore     int                 `cbor:"14,keyasint" json:"risk_score"`
	RiskLevel     string              `cbor:"15,keyasint" json:"risk_level"`
	Reasons       []string            `cbor:"16,keyasint,omitempty" json:"reasons"`
	// Truncated is true when the node lists were cut to the snapshot cap
	// (the counts stay exact up to the traversal limit).
	Truncated bool `cbor:"17,keyasint,omitempty" json:"truncated,omitempty"`
	Depth     int  `cbor:"18,keyasint" json:"depth"`
}

// reached returns the ids of every affected, downstream and upstream CI.
func (imp *Impact) reached() map[string]bool {
	m := make(map[string]bool, len(imp.Affected)+len(imp.Downstream)+len(imp.Upstream))
	for _, a := range imp.Affected {
		m[a.ID] = true
	}
	for _, n := range imp.Downstream {
		m[n.ID] = true
	}
	for _, n := range imp.Upstream {
		m[n.ID] = true
	}
	return m
}

// Analyze computes the impact of c on the graph as of now, without storing
// it.
func (s *Service) Analyze(ctx context.Context, c *Change, now time.Time) (*Impact, error) {
	imp := &Impact{Change: c.Number, At: now.UTC(), Window: c.Window, CountByClass: map[string]int{}, Depth: s.cfg.Depth,
		OpenIncidents: map[string][]string{}, OpenProblems: map[string][]string{}}
	rules, err := LoadRules(ctx, s.st)
	if err != nil {
		return nil, err
	}
	critical := func(ci cmdb.CIHead) bool {
		return slices.Contains(rules.Critical, strings.ToLower(ci.Criticality))
	}
	ref := func(ci cmdb.CIHead) CIRef {
		return CIRef{ID: ci.ID, Name: ci.Name, Class: ci.Class, Owner: ci.Owner, Criticality: ci.Criticality}
	}
	// Heads (with owner and criticality) come from the graph index when it
	// runs: no record reads.
	affected, err := s.g.Heads(ctx, c.CIs)
	if err != nil {
		return nil, err
	}
	var services []string
	for _, ci := range affected {
		r := ref(ci)
		imp.Affected = append(imp.Affected, r)
		imp.CountByClass[ci.Class]++
		if ci.Class == cmdb.ClassService {
			imp.Services = append(imp.Services, r)
			services = append(services, ci.ID)
			if critical(ci) {
				imp.Critical = append(imp.Critical, r)
			}
		}
	}
	// Both traversals at once: each is a chain of small reads.
	var up *cmdb.ImpactResult
	var upErr error
	upDone := make(chan struct{})
	go func() {
		defer close(upDone)
		up, upErr = s.g.Impact(ctx, c.CIs, cmdb.ImpactOptions{Direction: cmdb.Upstream, Depth: s.cfg.Depth, Limit: s.cfg.Limit})
	}()
	down, err := s.g.Impact(ctx, c.CIs, cmdb.ImpactOptions{Direction: cmdb.Downstream, Depth: s.cfg.Depth, Limit: s.cfg.Limit})
	<-upDone
	if err != nil {
		return nil, err
	}
	if upErr != nil {
		return nil, upErr
	}
	imp.Truncated = down.Truncated || up.Truncated
	for class, n := range down.Count {
		imp.CountByClass[class] += n
	}
	nodes := func(res *cmdb.ImpactResult) []Node {
		out := make([]Node, 0, min(len(res.Nodes), s.cfg.SnapshotNodes))
		for _, n := range res.Nodes {
			if len(out) == s.cfg.SnapshotNodes {
				imp.Truncated = true
				break
			}
			out = append(out, Node{ID: n.ID, Name: n.Name, Class: n.Class, Depth: n.Depth, Path: n.Path, Via: n.Via})
		}
		return out
	}
	imp.Downstream, imp.Upstream = nodes(down), nodes(up)
	// Services among the reached CIs. Those downstream rely on what
	// changes: their owner and criticality count, and their open records.
	seen := make(map[string]bool, len(services))
	for _, id := range services {
		seen[id] = true
	}
	var reached []string
	for _, n := range down.Nodes {
		if n.Class == cmdb.ClassService && !seen[n.ID] {
			seen[n.ID] = true
			reached = append(reached, n.ID)
		}
	}
	heads, err := s.g.Heads(ctx, reached)
	if err != nil {
		return nil, fmt.Errorf("impact of %s: %w", c.Number, err)
	}
	for _, ci := range heads {
		imp.Services = append(imp.Services, ref(ci))
		if critical(ci) {
			imp.Critical = append(imp.Critical, ref(ci))
		}
	}
	for _, n := range up.Nodes {
		if n.Class == cmdb.ClassService && !seen[n.ID] {
			seen[n.ID] = true
			imp.Services = append(imp.Services, CIRef{ID: n.ID, Name: n.Name, Class: n.Class})
		}
	}
	// Open incidents and problems on the affected CIs and on the critical
	// services that rely on them.
	look := slices.Clone(c.CIs)
	for _, cr := range imp.Critical {
		if !slices.Contains(look, cr.ID) {
			look = append(look, cr.ID)
		}
	}
	err = s.st.View(ctx, func(r store.Reader) error {
		for _, id := range look {
			if s.cfg.OpenIncidents != nil {
				ids, err := s.cfg.OpenIncidents(ctx, r, id)
				if err != nil {
					return fmt.Errorf("open incidents on %s: %w", id, err)
				}
				if len(ids) > 0 {
					imp.OpenIncidents[id] = ids
				}
			}
			if s.cfg.OpenProblems != nil {
				ids, err := s.cfg.OpenProblems(ctx, r, id)
				if err != nil {
					return fmt.Errorf("open problems on %s: %w", id, err)
				}
				if len(ids) > 0 {
					imp.OpenProblems[id] = ids
				}
			}
		}
		hits, err := s.collisions(ctx, r, c, c.CIs, down, up)
		if err != nil {
			return err
		}
		imp.Collisions = hits
		frz, err := freezeHits(ctx, r, c.Window, imp.reached(), imp.classes())
		if err != nil {
			return err
		}
		imp.Freezes = frz
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("impact of %s: %w", c.Number, err)
	}
	imp.RiskScore, imp.RiskLevel, imp.Reasons = score(c, imp, down, up)
	return imp, nil
}

// classes returns the classes of the affected and reached CIs.
func (imp *Impact) classes() map[string]map[string]bool {
	m := map[string]map[string]bool{}
	add := func(class, id string) {
		if m[class] == nil {
			m[class] = map[string]bool{}
		}
		m[class][id] = true
	}
	for _, a := range imp.Affected {
		add(a.Class, a.ID)
	}
	for _, n := range imp.Downstream {
		add(n.Class, n.ID)
	}
	for _, n := range imp.Upstream {
		add(n.Class, n.ID)
	}
	return m
}

// collisions lists the other open changes with an overlapping window on the
// affected CIs (direct) or on the CIs they depend on or that depend on them.
func (s *Service) collisions(ctx context.Context, r store.Reader, c *Change, affected []string, down, up *cmdb.ImpactResult) ([]Collision, error) {
	if c.Window.IsZero() {
		return nil, nil
	}
	kvs, err := r.Scan(ctx, store.Range{Prefix: []byte(prefixOpen)})
	if err != nil {
		return nil, err
	}
	var reached map[string]bool
	var out []Collision
	for _, kv := range kvs {
		var o openEntry
		if err := cmdb.Decode(kv.Value, &o); err != nil {
			return nil, err
		}
		if o.Number == c.Number || o.State == Draft || o.State.Terminal() || !o.Window.Overlaps(c.Window) {
			continue
		}
		if reached == nil {
			reached = make(map[string]bool, len(down.Nodes)+len(up.Nodes))
			for _, res := range []*cmdb.ImpactResult{down, up} {
				for _, n := range res.Nodes {
					reached[n.ID] = true
				}
			}
		}
		col := Collision{Number: o.Number, Title: o.Title, State: o.State, Window: o.Window}
		for _, id := range o.CIs {
			switch {
			case slices.Contains(affected, id):
				col.Direct = true
				col.CIs = append(col.CIs, id)
			case reached[id]:
				col.CIs = append(col.CIs, id)
			}
		}
		if len(col.CIs) > 0 {
			sort.Strings(col.CIs)
			out = append(out, col)
		}
	}
	return out, nil
}

// freezeHits lists the freeze windows that overlap w and apply to one of
// the CIs (by id or class).
func freezeHits(ctx context.Context, r store.Reader, w Window, ids map[string]bool, classes map[string]map[string]bool) ([]FreezeHit, error) {
	if w.IsZero() {
		return nil, nil
	}
	frz, err := listFreezes(ctx, r)
	if err != nil {
		return nil, err
	}
	var out []FreezeHit
	for _, f := range frz {
		if !f.Window.Overlaps(w) {
			continue
		}
		applies := len(f.CIs) == 0 && len(f.Classes) == 0
		for _, id := range f.CIs {
			applies = applies || ids[id]
		}
		for _, cl := range f.Classes {
			applies = applies || len(classes[cl]) > 0
		}
		if applies {
			out = append(out, FreezeHit{ID: f.ID, Name: f.Name, Window: f.Window, Reason: f.Reason})
		}
	}
	return out, nil
}

// score computes the risk score, its level and its reasons.
func score(c *Change, imp *Impact, down, up *cmdb.ImpactResult) (int, string, []string) {
	total := 0
	var reasons []string
	add := func(n int, format string, args ...any) {
		if n == 0 {
			return
		}
		total += n
		reasons = append(reasons, fmt.Sprintf("+%d ", n)+fmt.Sprintf(format, args...))
	}
	switch c.Type {
	case Normal:
		add(10, "normal change")
	case Emergency:
		add(25, "emergency change")
	}
	if n := len(down.Nodes); n > 0 {
		pts := 5
		switch {
		case n > 100:
			pts = 20
		case n > 10:
			pts = 10
		}
		add(pts, "%d dependant CIs", n)
	}
	if n := len(imp.Critical); n > 0 {
		add(min(40, 20*n), "%d critical service(s) affected", n)
	} else if n := len(imp.Services); n > 0 {
		add(min(15, 5*n), "%d service(s) reached", n)
	}
	inc, prb := 0, 0
	for _, v := range imp.OpenIncidents {
		inc += len(v)
	}
	for _, v := range imp.OpenProblems {
		prb += len(v)
	}
	add(min(20, 5*inc), "%d open incident(s) on affected CIs", inc)
	add(min(10, 5*prb), "%d open problem(s) on affected CIs", prb)
	direct := 0
	for _, col := range imp.Collisions {
		if col.Direct {
			direct++
		}
	}
	add(min(40, 20*direct), "%d colliding change(s) on the same CIs", direct)
	add(min(20, 10*(len(imp.Collisions)-direct)), "%d colliding change(s) on dependent CIs", len(imp.Collisions)-direct)
	add(min(40, 30*len(imp.Freezes)), "window violates %d freeze(s)", len(imp.Freezes))
	if strings.TrimSpace(c.BackoutPlan) == "" {
		add(15, "no back-out plan")
	}
	if strings.TrimSpace(c.ImplPlan) == "" {
		add(5, "no implementation plan")
	}
	if c.Window.IsZero() {
		add(10, "no planned window")
	}
	level := RiskLow
	switch {
	case total >= 60:
		level = RiskHigh
	case total >= 30:
		level = RiskMedium
	}
	if riskRank[c.Risk] > riskRank[level] {
		reasons = append(reasons, "requester declared "+c.Risk+" risk")
		level = c.Risk
	}
	return total, level, reasons
}

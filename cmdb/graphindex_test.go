package cmdb_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"

	"parc/cmdb"
	"parc/cmdb/store"
	"parc/cmdb/store/badgerstore"
	"parc/cmdb/store/teststore"
)

// indexed starts the graph index on st, waits until it is built and stops
// it when the test ends, checking that it stops cleanly. Traversals wait
// up to 10s for it, so that a slow machine never makes them walk the store.
func indexed(t *testing.T, st store.Store) *cmdb.Graph {
	t.Helper()
	g := cmdb.NewGraph(st)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.RunIndex(ctx, cmdb.IndexOptions{MaxWait: 10 * time.Second, PageSize: 7}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("RunIndex: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("RunIndex did not stop")
		}
		if s := g.IndexStats(); s.State != "off" {
			t.Errorf("index state after stop = %q", s.State)
		}
	})
	waitReady(t, g, 1)
	return g
}

// waitReady waits until the index has been built builds times and is ready.
func waitReady(t *testing.T, g *cmdb.Graph, builds int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := g.IndexStats()
		if s.State == "ready" && s.Builds >= builds {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("index not ready: %+v", s)
		}
		time.Sleep(time.Millisecond)
	}
}

// sameImpact runs a traversal on the indexed graph and on a store walk and
// fails unless both agree; it returns the indexed result.
func sameImpact(t *testing.T, g, walk *cmdb.Graph, start []string, o cmdb.ImpactOptions) *cmdb.ImpactResult {
	t.Helper()
	got, gerr := g.Impact(context.Background(), start, o)
	want, werr := walk.Impact(context.Background(), start, o)
	if (gerr == nil) != (werr == nil) || (werr != nil && gerr.Error() != werr.Error()) {
		t.Fatalf("impact %v %+v: index err %v, walk err %v", start, o, gerr, werr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("impact %v %+v:\nindex %+v\nwalk  %+v", start, o, got, want)
	}
	return got
}

// hitsDuring returns how many traversals fn answered from the index and
// how many walked the store.
func hitsDuring(g *cmdb.Graph, fn func()) (hits, fallbacks int64) {
	s0 := g.IndexStats()
	fn()
	s1 := g.IndexStats()
	return s1.Hits - s0.Hits, s1.Fallbacks - s0.Fallbacks
}

func TestIndexImpactCases(t *testing.T) {
	walk := impactGraph(t)
	g := indexed(t, walk.Store())
	opts := []cmdb.ImpactOptions{
		{Direction: cmdb.Downstream}, {Direction: cmdb.Upstream}, {Direction: cmdb.Both},
		{Direction: cmdb.Downstream, Depth: 5}, {Direction: cmdb.Both, Depth: 1},
		{Direction: cmdb.Downstream, Types: []string{cmdb.RelRunsOn}},
		{Direction: cmdb.Upstream, Types: []string{cmdb.RelConnectsTo}},
		{Direction: cmdb.Both, Types: []string{cmdb.RelConnectsTo, cmdb.RelDependsOn, "unknown"}},
		{Direction: cmdb.Downstream, Depth: 5, Classes: []string{cmdb.ClassService}},
		{Direction: cmdb.Downstream, Limit: 2}, {Direction: cmdb.Both, Depth: 10, Limit: 3, Classes: []string{cmdb.ClassComputer}},
	}
	hits, fallbacks := hitsDuring(g, func() {
		for _, start := range [][]string{{id("disk")}, {id("web")}, {id("shop")}, {id("pg"), id("cache")}, {id("lb"), id("lb")}} {
			for _, o := range opts {
				sameImpact(t, g, walk, start, o)
			}
		}
	})
	if fallbacks != 0 || hits != 5*int64(len(opts)) {
		t.Errorf("%d traversals from the index, %d from the store", hits, fallbacks)
	}
	// An unknown start is the store walk's error.
	if _, err := g.Impact(context.Background(), []string{id("nothing")}, cmdb.ImpactOptions{}); !errors.Is(err, cmdb.ErrNotFound) {
		t.Errorf("unknown start: %v", err)
	}
}

// TestIndexCoherent checks that a traversal right after a write sees it,
// from the index, and that as-of reads are unaffected.
func TestIndexCoherent(t *testing.T) {
	st := teststore.Open(t)
	walk := cmdb.NewGraph(st)
	g := indexed(t, st)
	ctx := context.Background()
	at := t0
	step := func(fn func(tx *cmdb.Tx) error) {
		t.Helper()
		at = at.Add(time.Minute)
		edit(t, st, "user:test", at, fn)
	}
	rel := func(from, typ, to string) func(tx *cmdb.Tx) error {
		return func(tx *cmdb.Tx) error {
			return tx.PutRel(cmdb.Relationship{From: id(from), Type: typ, To: id(to), Source: cmdb.SourceManual})
		}
	}
	names := func(res *cmdb.ImpactResult) []string {
		var out []string
		for _, n := range res.Nodes {
			out = append(out, n.Name+"/"+n.Class+"/"+n.Subclass)
		}
		return out
	}
	down := cmdb.ImpactOptions{Direction: cmdb.Downstream, Depth: 5}
	check := func(start string, o cmdb.ImpactOptions, want ...string) {
		t.Helper()
		var res *cmdb.ImpactResult
		hits, _ := hitsDuring(g, func() { res = sameImpact(t, g, walk, []string{id(start)}, o) })
		if hits != 1 {
			t.Errorf("traversal from %s not answered by the index", start)
		}
		if got := names(res); !reflect.DeepEqual(got, want) {
			t.Errorf("from %s: got %q, want %q", start, got, want)
		}
	}

	// A CI created after the build, then linked.
	put(t, st, at, &cmdb.CI{ID: id("host"), Class: cmdb.ClassComputer, Subclass: "server", Name: "host"})
	check("host", down)
	put(t, st, at, &cmdb.CI{ID: id("app"), Class: cmdb.ClassService, Name: "app"})
	step(rel("app", cmdb.RelRunsOn, "host"))
	check("host", down, "app/service/")
	put(t, st, at, &cmdb.CI{ID: id("web"), Class: cmdb.ClassService, Name: "web"})
	step(rel("web", cmdb.RelDependsOn, "app"))
	check("host", down, "app/service/", "web/service/")
	// Rename and reclassify.
	step(func(tx *cmdb.Tx) error {
		old, err := tx.CI(id("app"))
		if err != nil {
			return err
		}
		ci := *old
		ci.Name, ci.Subclass = "app-renamed", "database"
		ci.Attrs = map[string]cmdb.Attr{"owner": {Value: "team-a"}, "criticality": {Value: "critical"}}
		_, err = tx.PutCI(old, &ci)
		return err
	})
	check("host", down, "app-renamed/service/database", "web/service/")
	var heads []cmdb.CIHead
	hits, _ := hitsDuring(g, func() {
		var err error
		if heads, err = g.Heads(ctx, []string{id("app"), id("host")}); err != nil {
			t.Fatal(err)
		}
	})
	want := []cmdb.CIHead{{ID: id("app"), Class: cmdb.ClassService, Subclass: "database", Name: "app-renamed", Owner: "team-a", Criticality: "critical"},
		{ID: id("host"), Class: cmdb.ClassComputer, Subclass: "server", Name: "host"}}
	if hits != 1 || !reflect.DeepEqual(heads, want) {
		t.Errorf("heads (%d from the index): %+v, want %+v", hits, heads, want)
	}
	check("host", cmdb.ImpactOptions{Direction: cmdb.Downstream, Classes: []string{cmdb.ClassComputer}})
	// Delete a relationship, then add it back with another type.
	step(func(tx *cmdb.Tx) error { return tx.DeleteRel(id("web"), cmdb.RelDependsOn, id("app")) })
	check("host", down, "app-renamed/service/database")
	check("web", cmdb.ImpactOptions{Direction: cmdb.Upstream})
	step(rel("web", cmdb.RelContains, "app"))
	check("web", cmdb.ImpactOptions{Direction: cmdb.Upstream}, "app-renamed/service/database", "host/computer/server")
	// A relationship update (a sighting) changes nothing.
	step(func(tx *cmdb.Tx) error {
		return tx.PutRel(cmdb.Relationship{From: id("web"), Type: cmdb.RelContains, To: id("app"), Source: cmdb.SourceAgent, Observations: 3})
	})
	check("web", cmdb.ImpactOptions{Direction: cmdb.Upstream}, "app-renamed/service/database", "host/computer/server")

	// A CI record removed under a relationship: the walk's error, from
	// the store walk.
	if _, err := st.Update(ctx, func(tx store.Txn) error { return tx.Delete([]byte(cmdb.PrefixCI + id("web"))) }); err != nil {
		t.Fatal(err)
	}
	_, fallbacks := hitsDuring(g, func() {
		if _, err := g.Impact(ctx, []string{id("host")}, down); !errors.Is(err, cmdb.ErrNotFound) {
			t.Errorf("traversal to a missing CI: %v", err)
		}
	})
	if fallbacks != 1 {
		t.Errorf("a missing CI should make the index defer to the store walk")
	}
	put(t, st, at, &cmdb.CI{ID: id("web"), Class: cmdb.ClassService, Name: "web again"})
	check("host", down, "app-renamed/service/database", "web again/service/")

	// As-of reads do not go through the index.
	for _, when := range []time.Time{t0.Add(2 * time.Minute), t0.Add(5 * time.Minute), at} {
		a, aerr := g.AsOf(ctx, id("app"), when)
		b, berr := walk.AsOf(ctx, id("app"), when)
		if (aerr == nil) != (berr == nil) || !reflect.DeepEqual(a, b) {
			t.Errorf("as of %s: %+v (%v) vs %+v (%v)", when, a, aerr, b, berr)
		}
	}
	snap, err := g.AsOf(ctx, id("app"), t0.Add(150*time.Second))
	if err != nil || snap.CI.Name != "app" {
		t.Errorf("app as of before the rename: %+v, %v", snap, err)
	}
}

// randomGraph is a random graph written through Tx.
type randomGraph struct {
	t   *testing.T
	st  store.Store
	rnd *rand.Rand
	ids []string
	at  time.Time
}

var (
	randClasses = []string{cmdb.ClassComputer, cmdb.ClassService, cmdb.ClassDisk, cmdb.ClassNetwork, cmdb.ClassPerson}
	randTypes   = []string{cmdb.RelDependsOn, cmdb.RelRunsOn, cmdb.RelContains, cmdb.RelProvides, cmdb.RelConnectsTo, cmdb.RelOwnedBy}
)

func (r *randomGraph) ci(i int) string { return fmt.Sprintf("01R%023d", i) }

func (r *randomGraph) edit(fn func(tx *cmdb.Tx) error) {
	r.at = r.at.Add(time.Second)
	edit(r.t, r.st, "user:test", r.at, fn)
}

func (r *randomGraph) addCIs(n int) {
	for ; n > 20; n -= 20 {
		r.addCIs(20)
	}
	r.edit(func(tx *cmdb.Tx) error {
		for range n {
			i := len(r.ids)
			id := r.ci(i)
			ci := &cmdb.CI{ID: id, Class: randClasses[r.rnd.IntN(len(randClasses))], Name: fmt.Sprintf("ci-%d", i), Attrs: r.attrs()}
			if r.rnd.IntN(3) == 0 {
				ci.Subclass = "sub" + fmt.Sprint(r.rnd.IntN(3))
			}
			if _, err := tx.PutCI(nil, ci); err != nil {
				return err
			}
			r.ids = append(r.ids, id)
		}
		return nil
	})
}

// mutate makes k random changes, in transactions of at most 20 (within
// the store's limits): relationships added
// or removed (cycles and self-loops included), CIs renamed or reclassified.
func (r *randomGraph) mutate(k int) {
	for ; k > 20; k -= 20 {
		r.mutate(20)
	}
	r.edit(func(tx *cmdb.Tx) error {
		for range k {
			a, b := r.ids[r.rnd.IntN(len(r.ids))], r.ids[r.rnd.IntN(len(r.ids))]
			typ := randTypes[r.rnd.IntN(len(randTypes))]
			switch op := r.rnd.IntN(10); {
			case op < 6:
				if err := tx.PutRel(cmdb.Relationship{From: a, Type: typ, To: b, Source: cmdb.SourceManual}); err != nil {
					return err
				}
			case op < 8:
				rels, err := tx.OutRels(a, "")
				if err != nil {
					return err
				}
				if len(rels) > 0 {
					rel := rels[r.rnd.IntN(len(rels))]
					if err := tx.DeleteRel(rel.From, rel.Type, rel.To); err != nil {
						return err
					}
				}
			default:
				old, err := tx.CI(a)
				if err != nil {
					return err
				}
				ci := *old
				ci.Name = fmt.Sprintf("%s'", old.Name)
				ci.Attrs = r.attrs()
				if r.rnd.IntN(2) == 0 {
					ci.Class = randClasses[r.rnd.IntN(len(randClasses))]
				}
				if _, err := tx.PutCI(old, &ci); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// attrs returns random attributes: owner and criticality or not, as
// strings or not, among others.
func (r *randomGraph) attrs() map[string]cmdb.Attr {
	a := map[string]cmdb.Attr{"cores": {Value: int64(r.rnd.IntN(64)), Source: cmdb.SourceAgent, Updated: r.at}}
	switch r.rnd.IntN(4) {
	case 0:
		a["owner"] = cmdb.Attr{Value: fmt.Sprintf("team-%d", r.rnd.IntN(5)), Source: cmdb.SourceImport}
	case 1:
		a["owner"] = cmdb.Attr{Value: int64(r.rnd.IntN(5))}
	}
	if r.rnd.IntN(3) == 0 {
		a["criticality"] = cmdb.Attr{Value: []string{"low", "high", "critical"}[r.rnd.IntN(3)], Source: cmdb.SourceManual}
	}
	return a
}

// heads picks a few ids, one sometimes missing.
func (r *randomGraph) heads() []string {
	ids := make([]string, 1+r.rnd.IntN(5))
	for i := range ids {
		ids[i] = r.ids[r.rnd.IntN(len(r.ids))]
	}
	if r.rnd.IntN(10) == 0 {
		ids[0] = r.ci(len(r.ids) + 1000)
	}
	return ids
}

// sameHeads reads heads from the index and from the store and fails unless
// both agree.
func sameHeads(t *testing.T, g, walk *cmdb.Graph, ids []string) {
	t.Helper()
	got, gerr := g.Heads(context.Background(), ids)
	want, werr := walk.Heads(context.Background(), ids)
	if (gerr == nil) != (werr == nil) || (werr != nil && gerr.Error() != werr.Error()) || !reflect.DeepEqual(got, want) {
		t.Fatalf("heads %v:\nindex %+v (%v)\nstore %+v (%v)", ids, got, gerr, want, werr)
	}
}

func (r *randomGraph) query() ([]string, cmdb.ImpactOptions) {
	start := []string{r.ids[r.rnd.IntN(len(r.ids))]}
	if r.rnd.IntN(4) == 0 {
		start = append(start, r.ids[r.rnd.IntN(len(r.ids))])
	}
	o := cmdb.ImpactOptions{
		Direction: []cmdb.Direction{cmdb.Downstream, cmdb.Upstream, cmdb.Both}[r.rnd.IntN(3)],
		Depth:     1 + r.rnd.IntN(6),
	}
	if r.rnd.IntN(3) == 0 {
		o.Types = []string{randTypes[r.rnd.IntN(len(randTypes))], randTypes[r.rnd.IntN(len(randTypes))]}
	}
	if r.rnd.IntN(4) == 0 {
		o.Classes = []string{randClasses[r.rnd.IntN(len(randClasses))]}
	}
	if r.rnd.IntN(4) == 0 {
		o.Limit = 1 + r.rnd.IntN(20)
	}
	return start, o
}

// TestIndexMatchesWalk compares the index with the store walk on a random
// graph that keeps changing, after each change.
func TestIndexMatchesWalk(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("PARC_TEST_SEED"); v != "" {
		fmt.Sscan(v, &seed)
	}
	t.Logf("seed %d (PARC_TEST_SEED)", seed)
	st := teststore.Open(t)
	r := &randomGraph{t: t, st: st, rnd: rand.New(rand.NewPCG(seed, 7)), at: t0}
	for range 4 {
		r.addCIs(40)
	}
	r.mutate(500)
	walk := cmdb.NewGraph(st)
	g := indexed(t, st)
	rounds, queries, reached := 30, 12, 0
	if testing.Short() {
		rounds = 10
	}
	hits, fallbacks := hitsDuring(g, func() {
		for round := range rounds {
			switch {
			case round%10 == 9:
				r.addCIs(10)
			default:
				r.mutate(1 + r.rnd.IntN(30))
			}
			for range queries {
				start, o := r.query()
				res := sameImpact(t, g, walk, start, o)
				reached += len(res.Nodes)
			}
			sameHeads(t, g, walk, r.heads())
		}
	})
	if hits+fallbacks != int64(rounds*(queries+1)) || hits < int64(rounds*queries) {
		t.Errorf("%d reads from the index, %d from the store", hits, fallbacks)
	}
	t.Logf("%.1f CIs reached per traversal", float64(reached)/float64(rounds*queries))
}

// feedBreaker wraps a store so that a test can break the graph index's
// change feed (as a compaction does) or hold its start.
type feedBreaker struct {
	store.Store
	mu      sync.Mutex
	watches int
	hold    chan struct{} // when set, Watch waits for it to close
	brk     chan struct{} // closing it ends the current feed with ErrCompacted
}

func (f *feedBreaker) Watch(ctx context.Context, prefix []byte, from int64) (<-chan store.Event, error) {
	f.mu.Lock()
	f.watches++
	hold, brk := f.hold, f.brk
	f.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	in, err := f.Store.Watch(ctx, prefix, from)
	if err != nil || brk == nil {
		return in, err
	}
	out := make(chan store.Event)
	go func() {
		defer close(out)
		for {
			select {
			case ev, ok := <-in:
				if !ok {
					return
				}
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			case <-brk:
				select {
				case out <- store.Event{Err: store.ErrCompacted}:
				case <-ctx.Done():
				}
				return
			}
		}
	}()
	return out, nil
}

// TestIndexRebuildsWhenCompacted breaks the feed under a built index: it
// rebuilds, traversals walk the store meanwhile, and both agree
// throughout, including on writes made while the feed was down.
func TestIndexRebuildsWhenCompacted(t *testing.T) {
	st := teststore.Open(t)
	r := &randomGraph{t: t, st: st, rnd: rand.New(rand.NewPCG(11, 12)), at: t0}
	r.addCIs(60)
	r.mutate(100)
	brk, hold := make(chan struct{}), make(chan struct{})
	fb := &feedBreaker{Store: st, brk: brk}
	walk := cmdb.NewGraph(st)
	g := indexed(t, fb)
	compare := func() {
		for range 20 {
			start, o := r.query()
			sameImpact(t, g, walk, start, o)
		}
	}
	compare()
	// Break the feed and hold the next one: the index is rebuilding.
	fb.mu.Lock()
	fb.hold, fb.brk = hold, nil
	fb.mu.Unlock()
	close(brk)
	deadline := time.Now().Add(10 * time.Second)
	for g.IndexStats().State != "building" {
		if time.Now().After(deadline) {
			t.Fatal("index did not drop after the feed broke")
		}
		time.Sleep(time.Millisecond)
	}
	r.mutate(50)
	r.addCIs(5)
	hits, fallbacks := hitsDuring(g, compare)
	if hits != 0 || fallbacks != 20 {
		t.Errorf("while rebuilding: %d traversals from the index, %d from the store", hits, fallbacks)
	}
	close(hold)
	waitReady(t, g, 2)
	r.mutate(20)
	hits, _ = hitsDuring(g, compare)
	if hits != 20 {
		t.Errorf("after the rebuild: %d of 20 traversals from the index", hits)
	}
}

// TestIndexRebuildsAfterRealCompaction holds the feed of a freshly built
// index while Badger compacts the feed past its start: the watch then
// fails with ErrCompacted and the index rebuilds from the store.
func TestIndexRebuildsAfterRealCompaction(t *testing.T) {
	bst, err := badgerstore.Open(t.TempDir(), badgerstore.Options{FeedRetention: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bst.Close() })
	r := &randomGraph{t: t, st: bst, rnd: rand.New(rand.NewPCG(21, 22)), at: t0}
	r.addCIs(50)
	hold := make(chan struct{})
	fb := &feedBreaker{Store: bst, hold: hold}
	g := cmdb.NewGraph(fb)
	walk := cmdb.NewGraph(bst)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.RunIndex(ctx, cmdb.IndexOptions{MaxWait: 10 * time.Second}) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunIndex: %v", err)
		}
	}()
	// The build scanned; its watch waits. Write and compact past it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		fb.mu.Lock()
		n := fb.watches
		fb.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("index never watched")
		}
		time.Sleep(time.Millisecond)
	}
	for range 30 {
		r.mutate(3)
	}
	rev, _ := bst.Rev(ctx)
	if err := bst.Compact(ctx, rev); err != nil {
		t.Fatal(err)
	}
	fb.mu.Lock()
	fb.hold = nil
	fb.mu.Unlock()
	close(hold)
	waitReady(t, g, 2)
	hits, _ := hitsDuring(g, func() {
		for range 30 {
			start, o := r.query()
			sameImpact(t, g, walk, start, o)
		}
	})
	if hits != 30 {
		t.Errorf("after the rebuild: %d of 30 traversals from the index", hits)
	}
}

// TestIndexSyncWrite moves the store's revision without an event the index
// can see (on etcd, a write under another namespace of the same cluster;
// on Badger there is no such thing and the test only checks the answer):
// a traversal still gets its answer from the index, after a sync write.
func TestIndexSyncWrite(t *testing.T) {
	walk := impactGraph(t)
	g := indexed(t, walk.Store())
	other := teststore.Open(t)
	for i := range 3 {
		if _, err := other.Update(context.Background(), func(tx store.Txn) error {
			return tx.Put([]byte("x/"+fmt.Sprint(i)), []byte("x"))
		}); err != nil {
			t.Fatal(err)
		}
	}
	hits, _ := hitsDuring(g, func() { sameImpact(t, g, walk, []string{id("disk")}, cmdb.ImpactOptions{}) })
	if hits != 1 {
		t.Errorf("traversal after a foreign revision not answered by the index")
	}
	if os.Getenv(teststore.BackendEnv) == "etcd" && g.IndexStats().Barriers == 0 {
		t.Errorf("no sync write on etcd")
	}
}

func TestIndexStopped(t *testing.T) {
	walk := impactGraph(t)
	g := cmdb.NewGraph(walk.Store())
	if s := g.IndexStats(); s.State != "off" {
		t.Errorf("state %q before RunIndex", s.State)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.RunIndex(ctx, cmdb.IndexOptions{}) }()
	waitReady(t, g, 1)
	if err := g.RunIndex(ctx, cmdb.IndexOptions{}); !errors.Is(err, cmdb.ErrConflict) {
		t.Errorf("second RunIndex: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("RunIndex: %v", err)
	}
	// The store walk answers again.
	sameImpact(t, g, walk, []string{id("disk")}, cmdb.ImpactOptions{Depth: 4})
}

package cmdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"parc/cmdb/store"
)

// TitleIndexer keeps the software title CIs and the title → hosts index in
// step with the hosts' software records (sw/), following the change feed.
//
// The index lives in memory: a fleet of 10,000 hosts with 800 packages each
// holds 8 million (title, host) pairs, which as store keys cost more to
// write, compact and map into memory than everything else a report writes,
// while in memory they take 8 bytes each. Every collector runs its own
// indexer: it loads the software records once at start, then follows the
// feed. Title CIs are persistent: the indexer creates the missing ones (a
// creation racing another collector's conflicts and is retried, and finds
// the CI there).
type TitleIndexer struct {
	st  store.Store
	log *slog.Logger

	done atomic.Int64 // last revision folded in
	seen atomic.Int64 // newest software change received
	// ready is set once the software records are loaded.
	ready atomic.Bool
	loads atomic.Int64 // times the records were loaded

	mu      sync.RWMutex
	hostNo  map[string]uint32
	hostIDs []string
	titleNo map[string]uint32 // by title CI id
	titles  []titleEntry
	varNo   map[Installed]uint32 // interned (Name, Version, Arch, Source)
	vars    []Installed
	pairs   int

	// byName maps a normalized title to its CI id (Run's goroutine only).
	byName map[string]string
	// create holds title CIs to make (Run's goroutine only).
	create []Installed
}

// titleEntry is one title's postings: host numbers in ascending order, and
// per host the interned package version.
type titleEntry struct {
	name  string
	hosts []uint32
	vars  []uint32
}

// NewTitleIndexer returns an indexer over st.
func NewTitleIndexer(st store.Store, log *slog.Logger) *TitleIndexer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	x := &TitleIndexer{st: st, log: log.With("component", "title-indexer")}
	x.reset()
	return x
}

func (x *TitleIndexer) reset() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.hostNo, x.hostIDs = map[string]uint32{}, nil
	x.titleNo, x.titles = map[string]uint32{}, nil
	x.varNo, x.vars = map[Installed]uint32{}, nil
	x.pairs = 0
	x.byName = map[string]string{}
	x.create = nil
}

// Done returns the last store revision folded into the index.
func (x *TitleIndexer) Done() int64 { return x.done.Load() }

// Pending returns the revision distance between the newest software change
// the indexer has received and the last one it folded in: 0 when caught
// up. Before the records are loaded it is at least 1.
func (x *TitleIndexer) Pending() int64 {
	if !x.ready.Load() {
		return max(1, x.seen.Load()-x.done.Load())
	}
	return max(0, x.seen.Load()-x.done.Load())
}

// TitleIndexStats describe the in-memory index.
type TitleIndexStats struct {
	Hosts, Titles, Pairs, Versions int
}

// Stats returns the index's size.
func (x *TitleIndexer) Stats() TitleIndexStats {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return TitleIndexStats{Hosts: len(x.hostIDs), Titles: len(x.titles), Pairs: x.pairs, Versions: len(x.vars)}
}

// TitleInstall is one host a title is installed on, with the package.
type TitleInstall struct {
	Host string
	Installed
}

// Hosts returns the hosts a title (by CI id) is installed on, in no
// particular order. ok is false until the index has loaded the software
// records; callers then read the records themselves.
func (x *TitleIndexer) Hosts(titleID string) (out []TitleInstall, ok bool) {
	if !x.ready.Load() {
		return nil, false
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	n, found := x.titleNo[titleID]
	if !found {
		return nil, true
	}
	t := &x.titles[n]
	out = make([]TitleInstall, len(t.hosts))
	for i, h := range t.hosts {
		it := x.vars[t.vars[i]]
		it.Title = t.name
		out[i] = TitleInstall{Host: x.hostIDs[h], Installed: it}
	}
	return out, true
}

// Run loads the software records, then follows the feed until ctx ends.
func (x *TitleIndexer) Run(ctx context.Context) error {
	for {
		from, err := x.load(ctx)
		if err == nil {
			err = x.follow(ctx, from)
		}
		if ctx.Err() != nil {
			return nil
		}
		if !errors.Is(err, store.ErrCompacted) {
			return err
		}
		x.log.Warn("software feed compacted; loading the records again")
		x.ready.Store(false)
		x.reset()
	}
}

// load folds every software record into the index and returns the
// revision to follow the feed from. Records are read page by page after
// that revision; replaying the feed from it makes the pages consistent.
func (x *TitleIndexer) load(ctx context.Context) (int64, error) {
	from, err := x.st.Rev(ctx)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	var after []byte
	hosts := 0
	for {
		kvs, err := x.st.Scan(ctx, store.Range{Prefix: []byte(PrefixSoftware), After: after, Limit: 256})
		if err != nil {
			return 0, err
		}
		if len(kvs) == 0 {
			break
		}
		for _, kv := range kvs {
			var rec SoftwareRecord
			if err := Decode(kv.Value, &rec); err != nil {
				return 0, fmt.Errorf("software record %s: %w", kv.Key, err)
			}
			x.apply(string(kv.Key[len(PrefixSoftware):]), nil, rec.Items)
			hosts++
		}
		after = kvs[len(kvs)-1].Key
		if err := x.createTitles(ctx); err != nil {
			return 0, err
		}
	}
	x.done.Store(from)
	x.seen.Store(max(x.seen.Load(), from))
	x.ready.Store(true)
	x.loads.Add(1)
	st := x.Stats()
	x.log.Info("software title index loaded", "hosts", hosts, "titles", st.Titles, "pairs", st.Pairs, "took", time.Since(start).Round(time.Millisecond))
	return from, nil
}

func (x *TitleIndexer) follow(ctx context.Context, from int64) error {
	ch, err := x.st.Watch(ctx, []byte(PrefixSoftware), from)
	if err != nil {
		return err
	}
	for ev := range ch {
		if ev.Err != nil {
			return ev.Err
		}
		x.seen.Store(ev.Rev)
		value := ev.Value
		if ev.Type != store.EventPut {
			value = nil
		}
		if err := x.fold(string(ev.Key[len(PrefixSoftware):]), ev.Prev, value); err != nil {
			return err
		}
		if ev.Last && (len(ch) == 0 || len(x.create) >= 64) {
			if err := x.createTitles(ctx); err != nil {
				return err
			}
		}
		if ev.Last && len(x.create) == 0 {
			x.done.Store(ev.Rev)
		}
	}
	return ctx.Err()
}

// fold folds one host's change of software record, from the encoded
// record prev to value (nil when absent), into the index.
func (x *TitleIndexer) fold(host string, prev, value []byte) error {
	var before, after SoftwareRecord
	if prev != nil {
		if err := Decode(prev, &before); err != nil {
			return err
		}
	}
	if value != nil {
		if err := Decode(value, &after); err != nil {
			return err
		}
	}
	x.apply(host, before.Items, after.Items)
	return nil
}

// apply folds one host's change of software record into the index.
func (x *TitleIndexer) apply(host string, before, after []Installed) {
	ops := titleOps(host, before, after)
	if len(ops) == 0 {
		return
	}
	ids := make([]string, len(ops))
	for i, op := range ops {
		id, ok := x.byName[op.title]
		if !ok {
			id = TitleID(op.title)
			x.byName[op.title] = id
		}
		ids[i] = id
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	h, ok := x.hostNo[host]
	if !ok {
		h = uint32(len(x.hostIDs))
		x.hostNo[host] = h
		x.hostIDs = append(x.hostIDs, host)
	}
	for i, op := range ops {
		n, ok := x.titleNo[ids[i]]
		if !ok {
			if op.item == nil {
				continue
			}
			n = uint32(len(x.titles))
			x.titleNo[ids[i]] = n
			x.titles = append(x.titles, titleEntry{name: op.title})
			x.create = append(x.create, *op.item)
		}
		t := &x.titles[n]
		j, found := slices.BinarySearch(t.hosts, h)
		if op.item == nil {
			if found {
				t.hosts = slices.Delete(t.hosts, j, j+1)
				t.vars = slices.Delete(t.vars, j, j+1)
				x.pairs--
			}
			continue
		}
		key := Installed{Name: op.item.Name, Version: op.item.Version, Arch: op.item.Arch, Source: op.item.Source}
		v, ok := x.varNo[key]
		if !ok {
			v = uint32(len(x.vars))
			x.varNo[key] = v
			x.vars = append(x.vars, key)
		}
		if found {
			t.vars[j] = v
			continue
		}
		t.hosts = slices.Insert(t.hosts, j, h)
		t.vars = slices.Insert(t.vars, j, v)
		x.pairs++
	}
}

// titleOps lists the index changes from one software record to the next:
// one entry per title and host (the first package of the title), merged
// over the two lists in title order.
func titleOps(host string, before, after []Installed) []titleOp {
	a, b := firstByTitle(before), firstByTitle(after)
	var ops []titleOp
	for len(a) > 0 || len(b) > 0 {
		switch {
		case len(b) == 0 || (len(a) > 0 && a[0].Title < b[0].Title):
			ops = append(ops, titleOp{title: a[0].Title, host: host})
			a = a[1:]
		case len(a) == 0 || b[0].Title < a[0].Title:
			ops = append(ops, titleOp{title: b[0].Title, host: host, item: b[0]})
			b = b[1:]
		default:
			if *a[0] != *b[0] {
				ops = append(ops, titleOp{title: b[0].Title, host: host, item: b[0]})
			}
			a, b = a[1:], b[1:]
		}
	}
	return ops
}

// firstByTitle returns the first package of each title, in title order.
func firstByTitle(items []Installed) []*Installed {
	p := make([]*Installed, len(items))
	for i := range items {
		p[i] = &items[i]
	}
	byTitle := func(x, y *Installed) int { return strings.Compare(x.Title, y.Title) }
	if !slices.IsSortedFunc(p, byTitle) {
		slices.SortStableFunc(p, byTitle) // stable: the first package of a title stays first
	}
	return slices.CompactFunc(p, func(x, y *Installed) bool { return x.Title == y.Title })
}

type titleOp struct {
	title, host string
	item        *Installed // nil: the title left the host
}

// createTitles makes the title CIs first seen since the last call that do
// not exist yet, a few per transaction (a new CI is about five writes).
func (x *TitleIndexer) createTitles(ctx context.Context) error {
	const per = 20
	sort.Slice(x.create, func(i, j int) bool { return x.create[i].Title < x.create[j].Title })
	for len(x.create) > 0 {
		batch := x.create[:min(per, len(x.create))]
		_, err := x.st.Update(ctx, func(stx store.Txn) error {
			tx := NewTx(ctx, stx, "system:title-indexer", time.Now())
			for _, it := range batch {
				id := x.byName[it.Title]
				if _, err := tx.CI(id); !errors.Is(err, ErrNotFound) {
					if err != nil {
						return err
					}
					continue
				}
				title := &CI{ID: id, Class: ClassSoftware, Name: it.Title, State: "use"}
				if it.Publisher != "" {
					title.Attrs = map[string]Attr{"publisher": {Value: it.Publisher, Source: SourceAgent, Updated: tx.Now()}}
				}
				if _, err := tx.PutCI(nil, title); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("title CIs: %w", err)
		}
		x.create = x.create[len(batch):]
	}
	x.create = nil
	return nil
}

// UseTitleIndex makes g answer a software title's hosts from x once x has
// loaded; until then (or without one) g reads every software record.
func (g *Graph) UseTitleIndex(x *TitleIndexer) { g.titles.Store(x) }

// titleHosts returns the hosts software title ci is installed on, sorted.
func (g *Graph) titleHosts(ctx context.Context, rd store.Reader, ci *CI) ([]TitleInstall, error) {
	hosts, ok := []TitleInstall(nil), false
	if x := g.titles.Load(); x != nil {
		hosts, ok = x.Hosts(ci.ID)
	}
	if !ok {
		var err error
		if hosts, err = scanTitleHosts(ctx, rd, ci.Name); err != nil {
			return nil, err
		}
	}
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].Host < hosts[j].Host })
	return hosts, nil
}

// scanTitleHosts finds a title's hosts by reading every software record:
// the answer while the in-memory index loads.
func scanTitleHosts(ctx context.Context, rd store.Reader, title string) ([]TitleInstall, error) {
	var out []TitleInstall
	var after []byte
	for {
		kvs, err := rd.Scan(ctx, store.Range{Prefix: []byte(PrefixSoftware), After: after, Limit: 256})
		if err != nil {
			return nil, err
		}
		if len(kvs) == 0 {
			return out, nil
		}
		for _, kv := range kvs {
			var rec SoftwareRecord
			if err := Decode(kv.Value, &rec); err != nil {
				return nil, fmt.Errorf("software record %s: %w", kv.Key, err)
			}
			for _, it := range rec.Items {
				if it.Title == title {
					out = append(out, TitleInstall{Host: string(kv.Key[len(PrefixSoftware):]), Installed: it})
					break
				}
			}
		}
		after = kvs[len(kvs)-1].Key
	}
}

package cmdb

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

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
	// varNo interns the (Name, Version, Arch, Source) of packages, by
	// their lengths and bytes (see variant); vars holds those keys.
	varNo map[string]uint32
	vars  []string
	pairs int

	// The rest is Run's goroutine's.
	// titleNum maps a normalized title to its number.
	titleNum map[string]uint32
	// create holds title CIs to make: their Title and Publisher.
	create []Installed
	fb     foldBufs
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
	x.varNo, x.vars = map[string]uint32{}, nil
	x.pairs = 0
	x.titleNum = map[string]uint32{}
	x.create = nil
	x.fb = foldBufs{}
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
		it := x.installed(t.vars[i])
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
			if err := x.fold(string(kv.Key[len(PrefixSoftware):]), nil, kv.Value); err != nil {
				return 0, fmt.Errorf("software record %s: %w", kv.Key, err)
			}
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
	fb := &x.fb
	return withPackages(value, &fb.after, func(after []swPkg) error {
		fb.gone, fb.added = fb.gone[:0], fb.added[:0]
		if prev == nil {
			for j := range after {
				fb.added = append(fb.added, int32(j))
			}
			return x.apply(host, after)
		}
		diffed := false
		err := WithPayload(prev, func(p []byte) error {
			if fb.diff(p, after) != nil {
				return nil
			}
			diffed = true
			return x.apply(host, after)
		})
		if diffed || err != nil {
			return err
		}
		// Not a record diff reads: every package may have changed.
		var rec SoftwareRecord
		if err := Decode(prev, &rec); err != nil {
			return err
		}
		fb.gone, fb.added = fb.gone[:0], fb.added[:0]
		for _, it := range rec.Items {
			fb.gone = append(fb.gone, []byte(it.Title))
		}
		for j := range after {
			fb.added = append(fb.added, int32(j))
		}
		return x.apply(host, after)
	})
}

// withPackages calls fn with the packages of the encoded software record
// data (none when nil), read into *buf's storage. Most records are read
// in place by scanSoftware; the others by the general decoder.
func withPackages(data []byte, buf *[]swPkg, fn func([]swPkg) error) error {
	if data == nil {
		return fn(nil)
	}
	scanned := false
	err := WithPayload(data, func(p []byte) error {
		pkgs, err := scanSoftware(p, *buf)
		*buf = pkgs
		if err != nil {
			return err
		}
		scanned = true
		return fn(pkgs)
	})
	if scanned {
		return err
	}
	var rec SoftwareRecord
	if err := Decode(data, &rec); err != nil {
		return err
	}
	pkgs := (*buf)[:0]
	for _, it := range rec.Items {
		pkgs = append(pkgs, swPkg{title: []byte(it.Title), name: []byte(it.Name), version: []byte(it.Version),
			arch: []byte(it.Arch), publisher: []byte(it.Publisher), source: []byte(it.Source)})
	}
	*buf = pkgs
	return fn(pkgs)
}

// foldBufs are fold's working storage, kept from one event to the next
// (Run's goroutine only).
type foldBufs struct {
	after []swPkg
	gone  [][]byte // titles of the previous record's unmatched packages
	added []int32  // unmatched packages of the new record
	// titleOf holds the title number + 1 of after's packages, 0 if not
	// looked up.
	titleOf []uint32
	key     []byte
	// mark holds per title number the state of a title in this apply:
	// 2*epoch when it may change, 2*epoch+1 once changed.
	mark  []uint32
	epoch uint32
}

// diff matches the packages of the previous software record's payload p
// with those of the new record, after, walking both in order (by Name,
// Arch, Source), and leaves the unmatched ones in gone and added. A
// package of p is read only when its bytes are not those of the next
// package of after: a new record mostly repeats the previous one.
func (fb *foldBufs) diff(p []byte, after []swPkg) error {
	r := &CBORReader{B: p}
	items, err := softwareHead(r)
	if err != nil {
		return err
	}
	gone, added := fb.gone[:0], fb.added[:0]
	var b swPkg // p's package at hand, when read is set
	read := false
	j := 0
	for j < len(after) && (read || items > 0) {
		a := &after[j]
		if !read {
			// The same bytes at a package boundary are the same package.
			if len(a.raw) > 0 && bytes.HasPrefix(p[r.I:], a.raw) {
				r.I += len(a.raw)
				items--
				j++
				continue
			}
			if err := scanPackage(r, &b); err != nil {
				return err
			}
			items--
			read = true
		}
		if b.same(a) {
			read = false
			j++
			continue
		}
		switch c := b.cmpKey(a); {
		case c < 0:
			gone = append(gone, b.title)
			read = false
		case c > 0:
			added = append(added, int32(j))
			j++
		default:
			gone, added = append(gone, b.title), append(added, int32(j))
			read = false
			j++
		}
	}
	if read {
		gone = append(gone, b.title)
	}
	for ; items > 0; items-- {
		if err := scanPackage(r, &b); err != nil {
			return err
		}
		gone = append(gone, b.title)
	}
	for ; j < len(after); j++ {
		added = append(added, int32(j))
	}
	fb.gone, fb.added = gone, added
	return r.End()
}

// apply folds one host's change of software record into the index, after
// diff: for each title, the host's entry is the title's first package in
// the new record, after. Under any order-preserving matching of equal
// packages, as diff's, a title whose packages all matched keeps its first
// package, so only the titles of unmatched packages are looked at. Of a
// report changing a few versions, that is a few titles.
func (x *TitleIndexer) apply(host string, after []swPkg) error {
	fb := &x.fb
	gone, added := fb.gone, fb.added
	if len(gone) == 0 && len(added) == 0 {
		return nil
	}

	x.mu.Lock()
	defer x.mu.Unlock()
	h, ok := x.hostNo[host]
	if !ok {
		h = uint32(len(x.hostIDs))
		x.hostNo[host] = h
		x.hostIDs = append(x.hostIDs, host)
	}
	fb.epoch++
	if fb.epoch >= 1<<31 {
		clear(fb.mark)
		fb.epoch = 1
	}
	changing, changed := 2*fb.epoch, 2*fb.epoch+1
	firstNew := uint32(len(x.titles))
	// The titles that may change, and a filter of them that spares most
	// unchanged packages a lookup.
	fb.titleOf = slices.Grow(fb.titleOf[:0], len(after))[:len(after)]
	clear(fb.titleOf)
	var filter uint64
	for _, j := range added {
		n, err := x.title(after[j].title)
		if err != nil {
			return err
		}
		fb.titleOf[j] = n + 1
		fb.mark[n] = changing
		filter |= titleBit(after[j].title)
	}
	for _, t := range gone {
		if n, ok := x.titleNum[string(t)]; ok {
			fb.mark[n] = changing
			filter |= titleBit(t)
		}
	}
	// Their first packages in after, in order.
	for j := range after {
		n := fb.titleOf[j]
		if n == 0 {
			if filter&titleBit(after[j].title) == 0 {
				continue
			}
			m, ok := x.titleNum[string(after[j].title)]
			if !ok {
				continue
			}
			n = m + 1
		}
		n--
		if fb.mark[n] != changing {
			continue
		}
		fb.mark[n] = changed
		v, err := x.variant(&after[j])
		if err != nil {
			return err
		}
		if n >= firstNew {
			if !utf8.Valid(after[j].publisher) {
				return fmt.Errorf("%w: publisher is not UTF-8", ErrCorrupt)
			}
			x.create = append(x.create, Installed{Title: x.titles[n].name, Publisher: string(after[j].publisher)})
		}
		x.titles[n].set(h, v, &x.pairs)
	}
	// The others left the host.
	for _, t := range gone {
		if n, ok := x.titleNum[string(t)]; ok && fb.mark[n] == changing {
			fb.mark[n] = changed
			x.titles[n].remove(h, &x.pairs)
		}
	}
	return nil
}

// titleBit returns a title's bit in a 64-bit filter of titles, from its
// length and last bytes.
func titleBit(t []byte) uint64 {
	h := uint64(len(t))
	if len(t) >= 2 {
		h = h<<16 | uint64(t[len(t)-2])<<8 | uint64(t[len(t)-1])
	}
	return 1 << (h * 0x9e3779b97f4a7c15 >> 58)
}

// same reports whether a and b are the same package to the index.
func (a *swPkg) same(b *swPkg) bool {
	if a.raw != nil && b.raw != nil && bytes.Equal(a.raw, b.raw) {
		return true
	}
	return bytes.Equal(a.title, b.title) && bytes.Equal(a.name, b.name) && bytes.Equal(a.version, b.version) &&
		bytes.Equal(a.arch, b.arch) && bytes.Equal(a.source, b.source)
}

// cmpKey compares a and b in the order of a software record.
func (a *swPkg) cmpKey(b *swPkg) int {
	if c := bytes.Compare(a.name, b.name); c != 0 {
		return c
	}
	if c := bytes.Compare(a.arch, b.arch); c != 0 {
		return c
	}
	return bytes.Compare(a.source, b.source)
}

// title returns the number of a title, adding the title if new.
func (x *TitleIndexer) title(title []byte) (uint32, error) {
	if n, ok := x.titleNum[string(title)]; ok {
		return n, nil
	}
	if !utf8.Valid(title) {
		return 0, fmt.Errorf("%w: title is not UTF-8", ErrCorrupt)
	}
	name := string(title)
	id := TitleID(name)
	n, ok := x.titleNo[id]
	if !ok {
		n = uint32(len(x.titles))
		x.titleNo[id] = n
		x.titles = append(x.titles, titleEntry{name: name})
		x.fb.mark = append(x.fb.mark, 0)
	}
	x.titleNum[name] = n
	return n, nil
}

// variant returns the number of a package's (Name, Version, Arch, Source),
// adding it if new.
func (x *TitleIndexer) variant(p *swPkg) (uint32, error) {
	k := x.fb.key[:0]
	for _, f := range [...][]byte{p.name, p.version, p.arch} {
		k = append(binary.AppendUvarint(k, uint64(len(f))), f...)
	}
	k = append(k, p.source...)
	x.fb.key = k
	if v, ok := x.varNo[string(k)]; ok {
		return v, nil
	}
	if !utf8.Valid(p.name) || !utf8.Valid(p.version) || !utf8.Valid(p.arch) || !utf8.Valid(p.source) {
		return 0, fmt.Errorf("%w: package %q is not UTF-8", ErrCorrupt, p.name)
	}
	v := uint32(len(x.vars))
	x.varNo[string(k)] = v
	x.vars = append(x.vars, string(k))
	return v, nil
}

// installed returns the package of variant v.
func (x *TitleIndexer) installed(v uint32) Installed {
	k := x.vars[v]
	var f [3]string
	for i := range f {
		f[i], k = cutVarField(k)
	}
	return Installed{Name: f[0], Version: f[1], Arch: f[2], Source: k}
}

// cutVarField cuts the first length-prefixed field off variant key k.
func cutVarField(k string) (field, rest string) {
	n, s := 0, 0
	for {
		b := k[0]
		k = k[1:]
		n |= int(b&0x7f) << s
		s += 7
		if b < 0x80 {
			return k[:n], k[n:]
		}
	}
}

// set makes v host h's package of the title.
func (t *titleEntry) set(h, v uint32, pairs *int) {
	if len(t.hosts) == 0 || t.hosts[len(t.hosts)-1] < h { // a host's first record, mostly
		t.hosts, t.vars = append(t.hosts, h), append(t.vars, v)
		*pairs++
		return
	}
	j, found := slices.BinarySearch(t.hosts, h)
	if found {
		t.vars[j] = v
		return
	}
	t.hosts = slices.Insert(t.hosts, j, h)
	t.vars = slices.Insert(t.vars, j, v)
	*pairs++
}

// remove removes host h from the title.
func (t *titleEntry) remove(h uint32, pairs *int) {
	if j, found := slices.BinarySearch(t.hosts, h); found {
		t.hosts = slices.Delete(t.hosts, j, j+1)
		t.vars = slices.Delete(t.vars, j, j+1)
		*pairs--
	}
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
				id := TitleID(it.Title)
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

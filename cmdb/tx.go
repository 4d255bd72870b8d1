package cmdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"parc/cmdb/store"
)

// Tx applies graph changes inside one store transaction, keeping the
// indexes and the history in step with the records. Every write path of the
// CMDB goes through a Tx, so a change and its history commit together.
type Tx struct {
	tx    store.Txn
	ctx   context.Context
	actor string
	now   time.Time
	n     int
	// tag tells apart the history keys of transactions made at the same
	// instant (tests, or two collectors within one nanosecond).
	tag uint32
}

// NewTx wraps tx. actor and now are recorded in every history entry.
func NewTx(ctx context.Context, tx store.Txn, actor string, now time.Time) *Tx {
	return &Tx{tx: tx, ctx: ctx, actor: actor, now: now.UTC(), tag: rand.Uint32()}
}

// Store returns the underlying transaction, for module records that live
// beside the graph.
func (t *Tx) Store() store.Txn { return t.tx }

// Now returns the transaction's time.
func (t *Tx) Now() time.Time { return t.now }

// Actor returns who the transaction acts for.
func (t *Tx) Actor() string { return t.actor }

// CI loads a CI, or ErrNotFound.
func (t *Tx) CI(id string) (*CI, error) { return loadCI(t.ctx, t.tx, id) }

func loadCI(ctx context.Context, r store.Reader, id string) (*CI, error) {
	v, err := readCI(ctx, r, id)
	if err != nil {
		return nil, err
	}
	ci := &CI{}
	if err := Decode(v, ci); err != nil {
		return nil, fmt.Errorf("load CI %s: %w", id, err)
	}
	return ci, nil
}

// readCI returns the stored value of CI id, or ErrNotFound.
func readCI(ctx context.Context, r store.Reader, id string) ([]byte, error) {
	v, err := r.Get(ctx, ciKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("CI %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load CI %s: %w", id, err)
	}
	return v, nil
}

// CIHead reads a CI without its attributes and sightings, for callers
// that need its identity, name, state, identifiers or flags only: the
// attributes are most of a host's record. The result cannot be written
// (PutCI refuses it, and clones of it); read the CI with CI to change it.
func (t *Tx) CIHead(id string) (*CI, error) {
	v, err := readCI(t.ctx, t.tx, id)
	if err != nil {
		return nil, err
	}
	ci := &CI{}
	if WithPayload(v, func(p []byte) error { return decodeCIFields(p, ci, false) }) != nil {
		// Not the shape the direct decoder reads: the whole CI.
		ci = &CI{}
		if err := Decode(v, ci); err != nil {
			return nil, fmt.Errorf("load CI %s: %w", id, err)
		}
		return ci, nil
	}
	ci.head = true
	return ci, nil
}

// IsHead reports whether ci was read by CIHead, without its attributes.
func (ci *CI) IsHead() bool { return ci.head }

// Whole returns ci with its attributes: ci itself, or read again when it
// is a head.
func (t *Tx) Whole(ci *CI) (*CI, error) {
	if !ci.head {
		return ci, nil
	}
	return t.CI(ci.ID)
}

// PutCI writes ci. old is its previous state (nil for a new CI). Indexes
// follow the change and one history entry lists every changed field. When
// nothing changed, nothing is written and PutCI returns false.
func (t *Tx) PutCI(old, ci *CI) (bool, error) {
	return t.putCI(old, ci, t.tx.Put)
}

// CreateCI writes a new CI whose ID was just made (NewID): its record and
// index keys, which all hold the ID, are new, so the store is not asked
// for what they held before (store.PutNew).
func (t *Tx) CreateCI(ci *CI) error {
	_, err := t.putCI(nil, ci, func(k, v []byte) error { return store.PutNew(t.tx, k, v) })
	return err
}

func (t *Tx) putCI(old, ci *CI, put func(k, v []byte) error) (bool, error) {
	if ci.ID == "" || ci.Class == "" {
		return false, fmt.Errorf("put CI: id and class are required: %w", ErrInvalid)
	}
	if ci.head || (old != nil && old.head) {
		// Its attributes were not read: writing it would drop them.
		return false, fmt.Errorf("put CI %s: read without its attributes (CIHead): %w", ci.ID, ErrInvalid)
	}
	var changes []Change
	kind := HistUpdated
	if old == nil {
		kind = HistCreated
		if ci.Created.IsZero() {
			ci.Created = t.now
		}
		changes = ciChanges(&CI{}, ci)
	} else {
		changes = ciChanges(old, ci)
		if len(changes) == 0 {
			return false, nil
		}
		ci.Created = old.Created
	}
	ci.Updated = t.now
	v, err := Encode(ci)
	if err != nil {
		return false, err
	}
	if err := put(ciKey(ci.ID), v); err != nil {
		return false, fmt.Errorf("put CI %s: %w", ci.ID, err)
	}
	if err := t.reindex(old, ci, put); err != nil {
		return false, err
	}
	return true, t.AddHistory(HistoryEntry{CI: ci.ID, Kind: kind, Changes: changes})
}

func (t *Tx) reindex(old, ci *CI, put func(k, v []byte) error) error {
	var oldClass, oldName string
	var oldIdents map[string][]string
	if old != nil {
		oldClass, oldName, oldIdents = old.Class, old.Name, old.Identifiers
	}
	if oldClass != ci.Class {
		if oldClass != "" {
			if err := t.tx.Delete(classKey(oldClass, ci.ID)); err != nil {
				return err
			}
		}
		if err := put(classKey(ci.Class, ci.ID), nil); err != nil {
			return err
		}
	}
	if nameIndex(oldName) != nameIndex(ci.Name) {
		if oldName != "" {
			if err := t.tx.Delete(nameKey(oldName, ci.ID)); err != nil {
				return err
			}
		}
		if ci.Name != "" {
			if err := put(nameKey(ci.Name, ci.ID), nil); err != nil {
				return err
			}
		}
	}
	for kind, vals := range oldIdents {
		for _, v := range vals {
			if !slices.Contains(ci.Identifiers[kind], v) {
				if err := t.tx.Delete(identKey(kind, v, ci.ID)); err != nil {
					return err
				}
			}
		}
	}
	for kind, vals := range ci.Identifiers {
		for _, v := range vals {
			if !slices.Contains(oldIdents[kind], v) {
				if err := put(identKey(kind, v, ci.ID), nil); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// AddHistory appends a history entry stamped with the transaction's actor
// and time.
func (t *Tx) AddHistory(e HistoryEntry) error {
	e.At, e.Actor = t.now, t.actor
	v, err := Encode(e)
	if err != nil {
		return err
	}
	t.n++
	// The key is new: (time, number, this transaction's random tag).
	return store.PutNew(t.tx, historyKey(e.CI, t.now, t.n, t.tag), v)
}

// FindIdent returns the ids of CIs that carry identifier kind=value.
func (t *Tx) FindIdent(kind, value string) ([]string, error) {
	return findIdent(t.ctx, t.tx, kind, value)
}

func findIdent(ctx context.Context, r store.Reader, kind, value string) ([]string, error) {
	kvs, err := r.Scan(ctx, store.Range{Prefix: identPrefix(kind, value), Limit: 64})
	if err != nil {
		return nil, fmt.Errorf("find %s=%s: %w", kind, value, err)
	}
	ids := make([]string, 0, len(kvs))
	for _, kv := range kvs {
		ids = append(ids, lastSegment(kv.Key))
	}
	return ids, nil
}

// Rel loads the relationship from -typ-> to, or ErrNotFound.
func (t *Tx) Rel(from, typ, to string) (*Relationship, error) {
	v, err := t.tx.Get(t.ctx, relOutKey(from, typ, to))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("relationship %s %s %s: %w", from, typ, to, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	r := &Relationship{}
	return r, Decode(v, r)
}

// PutRel creates or updates a relationship. A new relationship, or a change
// of its attributes or source, is recorded in the history of both ends. A
// sighting that changes only LastSeen and Observations is written without
// history; an identical one writes nothing.
func (t *Tx) PutRel(r Relationship) error {
	old, err := t.Rel(r.From, r.Type, r.To)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return t.PutRelOver(old, r)
}

// PutRelOver is PutRel for a caller that has read the relationship already
// in this transaction: old is what Rel returned (nil when not found).
func (t *Tx) PutRelOver(old *Relationship, r Relationship) error {
	if old == nil {
		if r.FirstSeen.IsZero() {
			r.FirstSeen = t.now
		}
		if r.LastSeen.IsZero() {
			r.LastSeen = r.FirstSeen
		}
		if err := t.writeRel(r, true); err != nil {
			return err
		}
		return t.relHistory(r.From, r.Type, r.To, HistRelAdded, mapChanges(nil, r.Attrs))
	}
	r.FirstSeen = old.FirstSeen
	if r.LastSeen.IsZero() {
		r.LastSeen = old.LastSeen
	}
	changes := mapChanges(old.Attrs, r.Attrs)
	if old.Source != r.Source {
		changes = append(changes, Change{Field: "source", Before: old.Source, After: r.Source})
	}
	if len(changes) == 0 {
		if old.LastSeen.Equal(r.LastSeen) && old.Observations == r.Observations {
			return nil
		}
		return t.writeRel(r, false)
	}
	if err := t.writeRel(r, false); err != nil {
		return err
	}
	return t.relHistory(r.From, r.Type, r.To, HistRelUpdated, changes)
}

func (t *Tx) relHistory(from, typ, to, kind string, changes []Change) error {
	if err := t.AddHistory(HistoryEntry{CI: from, Kind: kind, Rel: typ + ":" + to, Changes: changes}); err != nil {
		return err
	}
	return t.AddHistory(HistoryEntry{CI: to, Kind: kind, Rel: typ + "<-" + from, Changes: changes})
}

func (t *Tx) writeRel(r Relationship, isNew bool) error {
	v, err := Encode(r)
	if err != nil {
		return err
	}
	if err := t.tx.Put(relOutKey(r.From, r.Type, r.To), v); err != nil {
		return err
	}
	if isNew {
		return t.tx.Put(relInKey(r.To, r.Type, r.From), nil)
	}
	return nil
}

// DeleteRel removes a relationship and records it in both ends' history.
// Removing an absent relationship does nothing.
func (t *Tx) DeleteRel(from, typ, to string) error {
	old, err := t.Rel(from, typ, to)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := t.tx.Delete(relOutKey(from, typ, to)); err != nil {
		return err
	}
	if err := t.tx.Delete(relInKey(to, typ, from)); err != nil {
		return err
	}
	return t.relHistory(from, typ, to, HistRelRemoved, mapChanges(old.Attrs, nil))
}

// OutRels returns the stored relationships whose source is id, of type typ
// ("" for all types).
func (t *Tx) OutRels(id, typ string) ([]Relationship, error) {
	return scanRels(t.ctx, t.tx, id, typ)
}

func scanRels(ctx context.Context, r store.Reader, id, typ string) ([]Relationship, error) {
	p := PrefixRelOut + id + "/"
	if typ != "" {
		p += typ + "/"
	}
	kvs, err := r.Scan(ctx, store.Range{Prefix: []byte(p)})
	if err != nil {
		return nil, err
	}
	out := make([]Relationship, 0, len(kvs))
	for _, kv := range kvs {
		var rel Relationship
		if err := Decode(kv.Value, &rel); err != nil {
			return nil, fmt.Errorf("relationship %s: %w", kv.Key, err)
		}
		out = append(out, rel)
	}
	return out, nil
}

// Software returns a host's software record (empty when none).
func (t *Tx) Software(host string) (SoftwareRecord, []byte, error) {
	return loadSoftware(t.ctx, t.tx, host)
}

func loadSoftware(ctx context.Context, r store.Reader, host string) (SoftwareRecord, []byte, error) {
	var rec SoftwareRecord
	v, err := r.Get(ctx, softwareKey(host))
	if errors.Is(err, store.ErrNotFound) {
		return rec, nil, nil
	}
	if err != nil {
		return rec, nil, err
	}
	return rec, v, Decode(v, &rec)
}

// PutSoftware replaces a host's software record and records what changed in
// the host's history: every added, removed and changed package by name, or
// only counts when the list is long (a first inventory).
func (t *Tx) PutSoftware(host string, rec SoftwareRecord) (bool, error) {
	buf := encodeBufs.Get().(*[]byte)
	defer func() {
		if cap(*buf) <= maxPooled {
			encodeBufs.Put(buf)
		}
	}()
	*buf = appendSoftwareCBOR((*buf)[:0], &rec)
	payload := *buf
	var changes []Change
	raw, err := t.tx.Get(t.ctx, softwareKey(host))
	switch {
	case errors.Is(err, store.ErrNotFound):
		changes = SoftwareChanges(nil, rec.Items, softwareHistoryLimit)
	case err != nil:
		return false, err
	default:
		same := false
		err := WithPayload(raw, func(p []byte) error {
			if same = bytes.Equal(p, payload); same {
				return nil
			}
			var err error
			changes, err = softwareChangesFrom(p, rec.Items, softwareHistoryLimit)
			return err
		})
		if err != nil {
			return false, fmt.Errorf("software of %s: %w", host, err)
		}
		if same {
			return false, nil
		}
	}
	return true, t.writeSoftware(host, payload, changes)
}

// softwareHistoryLimit is how many packages a software history entry
// names; past it, only counts.
const softwareHistoryLimit = 200

// writeSoftware stores a host's software record from its CBOR payload,
// compressed against the fleet's dictionary, and records changes in the
// host's history.
func (t *Tx) writeSoftware(host string, payload []byte, changes []Change) error {
	d, err := t.softwareDict(payload)
	if err != nil {
		return err
	}
	v := encodeWithDict(payload, d)
	if err := t.tx.Put(softwareKey(host), v); err != nil {
		return fmt.Errorf("put software of %s: %w", host, err)
	}
	if v[0] != formatCBOR {
		// Its readers (the title index, licence compliance, the next
		// patch) follow right behind.
		payloads.put(v, payload)
	}
	return t.AddHistory(HistoryEntry{CI: host, Kind: HistUpdated, Changes: changes})
}

var (
	scanBufs      = sync.Pool{New: func() any { return new([]swPkg) }}
	installedBufs = sync.Pool{New: func() any { return new([]Installed) }}
)

// softwareChangesFrom is SoftwareChanges from the record whose CBOR is p
// to after. The previous record is read in place: its packages are
// compared through strings that view p, and only what a change keeps is
// copied out.
func softwareChangesFrom(p []byte, after []Installed, limit int) ([]Change, error) {
	scan := scanBufs.Get().(*[]swPkg)
	defer scanBufs.Put(scan)
	var err error
	if *scan, err = scanSoftware(p, *scan); err != nil {
		var old SoftwareRecord
		if err := decodePayload(p, &old); err != nil {
			return nil, err
		}
		return SoftwareChanges(old.Items, after, limit), nil
	}
	view := installedBufs.Get().(*[]Installed)
	defer installedBufs.Put(view)
	before := (*view)[:0]
	for i := range *scan {
		pkg := &(*scan)[i]
		before = append(before, Installed{Name: bstr(pkg.name), Version: bstr(pkg.version), Arch: bstr(pkg.arch)})
	}
	changes := SoftwareChanges(before, after, limit)
	clear(before) // drop the views of p
	*view = before[:0]
	for i := range changes {
		// Fields are built anew; a version from before still views p.
		if v, ok := changes[i].Before.(string); ok {
			changes[i].Before = strings.Clone(v)
		}
	}
	return changes, nil
}

// SoftwareChanges lists the differences between two sorted software lists
// as history changes, one per package (field "software:NAME[:ARCH]"), or a
// summary when more than limit packages differ. When a list names a
// (name, arch) twice, its later entry counts.
func SoftwareChanges(before, after []Installed, limit int) []Change {
	if (len(before) == 0 && len(after) > limit) || (len(after) == 0 && len(before) > limit) {
		// A first inventory (or a wiped one): counts only, without
		// indexing either side.
		return softwareSummary(before, after, len(after), len(before), 0)
	}
	if !sortedByPackage(before) || !sortedByPackage(after) {
		return softwareChangesMap(before, after, limit)
	}
	// Both sorted (as the engine writes them): walk them side by side.
	// Equal keys are adjacent, so the last of each run stands for it.
	var changes []Change
	var added, removed, changed int
	keep := func(c Change) {
		if len(changes) < limit { // past limit only the counts matter
			changes = append(changes, c)
		}
	}
	i, j := 0, 0
	for i < len(before) || j < len(after) {
		c := 1 // only after is left: added
		switch {
		case j == len(after):
			c = -1
		case i < len(before):
			c = comparePackages(&before[i], &after[j])
		}
		switch {
		case c < 0:
			bi := lastOfRun(before, &i)
			removed++
			keep(Change{Field: softwareField(bi.Name, bi.Arch), Before: bi.Version})
		case c > 0:
			ai := lastOfRun(after, &j)
			added++
			keep(Change{Field: softwareField(ai.Name, ai.Arch), After: ai.Version})
		default:
			bi, ai := lastOfRun(before, &i), lastOfRun(after, &j)
			if bi.Version != ai.Version {
				changed++
				keep(Change{Field: softwareField(ai.Name, ai.Arch), Before: bi.Version, After: ai.Version})
			}
		}
	}
	if added+removed+changed > limit {
		return softwareSummary(before, after, added, removed, changed)
	}
	// Field order is not package order ("a-b" sorts before "a:amd64").
	slices.SortStableFunc(changes, func(x, y Change) int { return strings.Compare(x.Field, y.Field) })
	return changes
}

// softwareChangesMap is SoftwareChanges for lists that are not sorted.
func softwareChangesMap(before, after []Installed, limit int) []Change {
	type key struct{ name, arch string }
	idx := func(items []Installed) map[key]Installed {
		m := make(map[key]Installed, len(items))
		for _, it := range items {
			m[key{it.Name, it.Arch}] = it
		}
		return m
	}
	b, a := idx(before), idx(after)
	var changes []Change
	var added, removed, changed int
	for k, ai := range a {
		bi, ok := b[k]
		switch {
		case !ok:
			added++
			changes = append(changes, Change{Field: softwareField(k.name, k.arch), After: ai.Version})
		case bi.Version != ai.Version:
			changed++
			changes = append(changes, Change{Field: softwareField(k.name, k.arch), Before: bi.Version, After: ai.Version})
		}
	}
	for k, bi := range b {
		if _, ok := a[k]; !ok {
			removed++
			changes = append(changes, Change{Field: softwareField(k.name, k.arch), Before: bi.Version})
		}
	}
	if len(changes) > limit {
		return softwareSummary(before, after, added, removed, changed)
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].Field < changes[j].Field })
	return changes
}

// softwareSummary is the history of a change to too many packages to list.
func softwareSummary(before, after []Installed, added, removed, changed int) []Change {
	return []Change{{Field: "software", Before: int64(len(before)), After: int64(len(after))},
		{Field: "software.added", After: int64(added)},
		{Field: "software.removed", After: int64(removed)},
		{Field: "software.changed", After: int64(changed)}}
}

// softwareField is the history field of a package.
func softwareField(name, arch string) string {
	if arch == "" {
		return "software:" + name
	}
	return "software:" + name + ":" + arch
}

// comparePackages orders packages by (Name, Arch).
func comparePackages(a, b *Installed) int {
	if c := strings.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	return strings.Compare(a.Arch, b.Arch)
}

// sortedByPackage reports whether items are in (Name, Arch) order.
func sortedByPackage(items []Installed) bool {
	for k := 1; k < len(items); k++ {
		if comparePackages(&items[k-1], &items[k]) > 0 {
			return false
		}
	}
	return true
}

// lastOfRun returns the last of the items from *i on with the (Name, Arch)
// of items[*i], and moves *i past them.
func lastOfRun(items []Installed, i *int) *Installed {
	k := *i
	for k+1 < len(items) && comparePackages(&items[k], &items[k+1]) == 0 {
		k++
	}
	*i = k + 1
	return &items[k]
}

// ciChanges returns the field changes from a to b, sorted by field.
func ciChanges(a, b *CI) []Change {
	var out []Change
	str := func(f, x, y string) {
		if x != y {
			out = append(out, Change{Field: f, Before: nilIfEmpty(x), After: nilIfEmpty(y)})
		}
	}
	str("class", a.Class, b.Class)
	str("subclass", a.Subclass, b.Subclass)
	str("name", a.Name, b.Name)
	str("state", a.State, b.State)
	for k := range union(a.Attrs, b.Attrs) {
		av, aok := a.Attrs[k]
		bv, bok := b.Attrs[k]
		if aok != bok || !reflect.DeepEqual(Canon(av.Value), Canon(bv.Value)) {
			out = append(out, Change{Field: "attrs." + k, Before: valueOrNil(av, aok), After: valueOrNil(bv, bok)})
		} else if av.Source != bv.Source {
			out = append(out, Change{Field: "attrs." + k + ".source", Before: av.Source, After: bv.Source})
		}
	}
	for k := range union(a.Identifiers, b.Identifiers) {
		if !slices.Equal(a.Identifiers[k], b.Identifiers[k]) {
			out = append(out, Change{Field: "identifiers." + k, Before: sliceOrNil(a.Identifiers[k]), After: sliceOrNil(b.Identifiers[k])})
		}
	}
	for k := range union(a.Flags, b.Flags) {
		if a.Flags[k] != b.Flags[k] {
			out = append(out, Change{Field: "flags." + k, Before: a.Flags[k], After: b.Flags[k]})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}

func mapChanges(a, b map[string]string) []Change {
	var out []Change
	for k := range union(a, b) {
		if a[k] != b[k] {
			out = append(out, Change{Field: k, Before: nilIfEmpty(a[k]), After: nilIfEmpty(b[k])})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}

func union[V any](a, b map[string]V) map[string]struct{} {
	m := make(map[string]struct{}, len(a)+len(b))
	for k := range a {
		m[k] = struct{}{}
	}
	for k := range b {
		m[k] = struct{}{}
	}
	return m
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func valueOrNil(a Attr, ok bool) any {
	if !ok {
		return nil
	}
	return a.Value
}

func sliceOrNil(s []string) any {
	if len(s) == 0 {
		return nil
	}
	return s
}

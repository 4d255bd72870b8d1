package cmdb

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"unsafe"
)

// adjIndex is the in-memory copy of the graph a traversal needs: every CI's
// head (class, subclass, name, owner and criticality) and the stored
// relationships in both directions, with CI ids interned to uint32 node
// numbers. It is not safe for concurrent use: graphIndex guards it.
//
// Layout, for about 80 bytes per CI (with a 26-byte id and a short name)
// plus 12 per relationship:
//   - id and name strings live in an append-only arena (strArena) and nodes
//     hold 4-byte references to them;
//   - an open-addressing table maps an id to its node;
//   - adjacency is compressed sparse rows (one offset per node, then the
//     other ends and relationship types of every node's list), built from
//     the scan; lists changed since then are copied into an overlay, folded
//     back into the rows when it grows.
//
// Every list is sorted as the store's keys are (type, then the other end's
// id), so a traversal visits neighbours in the order the store walk does
// and both return the same paths.
type adjIndex struct {
	strs strArena
	// per node
	ids    []uint32 // arena reference of the id
	names  []uint32 // arena reference of the name
	class  []uint16 // classAbsent: no CI record; classOdd: one the index cannot show
	sub    []uint16
	owner  []uint32 // values codes of the attributes owner and criticality
	crit   []uint32
	table  idTable
	sorted uint32 // nodes below it were interned in id order (by the build)

	classes interner // code 0 and 1 reserved
	types   interner
	values  valueSet
	rank    []uint16 // per type code: position in key order

	out, in adjacency
	rels    int // relationships
}

const (
	classAbsent = 0
	classOdd    = 1
)

// errIndexMiss makes a traversal fall back to the store walk, which returns
// the exact error (a missing or undecodable CI).
var errIndexMiss = errors.New("graph index: CI not indexed")

// errIndexLimit is a graph too large for the index's numbering; it then
// stays off and traversals walk the store.
var errIndexLimit = errors.New("graph index: limit reached")

func newAdjIndex() *adjIndex {
	x := &adjIndex{}
	x.table.init(1024)
	x.classes.code("\x00absent")
	x.classes.code("\x00odd")
	return x
}

// node returns the node of id, if any.
func (x *adjIndex) node(id string) (uint32, bool) { return x.table.find(x, id) }

// intern returns the node of id, adding one without a CI record if needed.
func (x *adjIndex) intern(id []byte) (uint32, error) {
	if n, ok := x.table.find(x, bstr(id)); ok {
		return n, nil
	}
	if len(x.ids) >= maxNodes {
		return 0, errTooManyNodes
	}
	ref, err := x.strs.add(id)
	if err != nil {
		return 0, err
	}
	n := uint32(len(x.ids))
	x.ids = append(x.ids, ref)
	x.names = append(x.names, ref) // a placeholder until the CI record comes
	x.class = append(x.class, classAbsent)
	x.sub = append(x.sub, 0)
	x.owner = append(x.owner, 0)
	x.crit = append(x.crit, 0)
	x.table.insert(x, n)
	return n, nil
}

func (x *adjIndex) id(n uint32) string   { return x.strs.get(x.ids[n]) }
func (x *adjIndex) name(n uint32) string { return x.strs.get(x.names[n]) }

// setHead records the CI record v of the CI with id (the key's id).
func (x *adjIndex) setHead(id []byte, v []byte) error {
	n, err := x.intern(id)
	if err != nil {
		return err
	}
	h, ok := parseHead(v)
	if !ok {
		var full CI
		if Decode(v, &full) != nil {
			x.class[n] = classOdd
			return nil
		}
		h = rawHead{id: []byte(full.ID), class: []byte(full.Class), sub: []byte(full.Subclass), name: []byte(full.Name),
			owner: []byte(full.AttrString(attrOwner)), crit: []byte(full.AttrString(attrCriticality))}
	}
	if !bytes.Equal(h.id, id) {
		x.class[n] = classOdd // the walk shows the record's id: let it
		return nil
	}
	x.class[n] = x.classes.codeBytes(h.class)
	x.sub[n] = 0
	if len(h.sub) > 0 {
		x.sub[n] = x.classes.codeBytes(h.sub)
	}
	x.owner[n] = x.values.codeBytes(h.owner)
	x.crit[n] = x.values.codeBytes(h.crit)
	if x.strs.get(x.names[n]) != bstr(h.name) {
		ref, err := x.strs.add(h.name)
		if err != nil {
			return err
		}
		x.names[n] = ref
	}
	return nil
}

// dropHead records that the CI record of id was deleted.
func (x *adjIndex) dropHead(id []byte) {
	if n, ok := x.table.find(x, bstr(id)); ok {
		x.class[n] = classAbsent
	}
}

// splitRel splits the key suffix "<from>/<type>/<to>" of a relationship as
// the store walk does: from and type end at the first slashes.
func splitRel(rest []byte) (from, typ, to []byte, ok bool) {
	i := bytes.IndexByte(rest, '/')
	if i <= 0 {
		return nil, nil, nil, false
	}
	j := bytes.IndexByte(rest[i+1:], '/')
	if j < 0 {
		return nil, nil, nil, false
	}
	return rest[:i], rest[i+1 : i+1+j], rest[i+2+j:], true
}

// typeCode returns the code of a relationship type, adding it (and
// recomputing the key-order ranks) when new.
func (x *adjIndex) typeCode(t []byte) uint16 {
	if c, ok := x.types.lookup(bstr(t)); ok {
		return c
	}
	c := x.types.code(string(t))
	x.rerank()
	return c
}

// rerank orders the type codes as the store's keys order the types
// ("<type>/..." compared bytewise).
func (x *adjIndex) rerank() {
	codes := make([]uint16, len(x.types.names))
	for i := range codes {
		codes[i] = uint16(i)
	}
	slices.SortFunc(codes, func(a, b uint16) int {
		return strings.Compare(x.types.names[a]+"/", x.types.names[b]+"/")
	})
	x.rank = make([]uint16, len(codes))
	for pos, c := range codes {
		x.rank[c] = uint16(pos)
	}
}

// cmpEdge orders (type, other end) pairs as the store's keys are ordered.
func (x *adjIndex) cmpEdge(ta uint16, a uint32, tb uint16, b uint32) int {
	if ta != tb {
		return int(x.rank[ta]) - int(x.rank[tb])
	}
	if a == b {
		return 0
	}
	if a < x.sorted && b < x.sorted {
		if a < b {
			return -1
		}
		return 1
	}
	return strings.Compare(x.id(a), x.id(b))
}

// addRel adds the relationship from -typ-> to; adding a present one does
// nothing.
func (x *adjIndex) addRel(from, typ, to []byte) error {
	f, err := x.intern(from)
	if err != nil {
		return err
	}
	t, err := x.intern(to)
	if err != nil {
		return err
	}
	c := x.typeCode(typ)
	if x.out.insert(x, f, c, t) {
		x.in.insert(x, t, c, f)
		x.rels++
	}
	return nil
}

// dropRel removes the relationship from -typ-> to, if present.
func (x *adjIndex) dropRel(from, typ, to []byte) {
	f, ok1 := x.table.find(x, bstr(from))
	t, ok2 := x.table.find(x, bstr(to))
	c, ok3 := x.types.lookup(bstr(typ))
	if !ok1 || !ok2 || !ok3 {
		return
	}
	if x.out.remove(x, f, c, t) {
		x.in.remove(x, t, c, f)
		x.rels--
	}
}

// maybeCompact folds the overlays into the rows once they hold more than
// an eighth of the nodes.
func (x *adjIndex) maybeCompact() {
	limit := max(4096, len(x.ids)/8)
	if len(x.out.over) > limit || len(x.in.over) > limit || len(x.ids)-x.out.rows() > limit {
		x.out.compact(len(x.ids))
		x.in.compact(len(x.ids))
	}
}

// err reports a limit the index ran into; it is then unusable.
func (x *adjIndex) err() error {
	if x.classes.full || x.types.full {
		return fmt.Errorf("more than 65535 classes or relationship types: %w", errIndexLimit)
	}
	return nil
}

// bytes estimates the memory the index holds.
func (x *adjIndex) bytes() int64 {
	n := x.strs.bytes()
	n += int64(cap(x.ids)+cap(x.names)) * 4
	n += int64(cap(x.class)+cap(x.sub)) * 2
	n += int64(cap(x.owner)+cap(x.crit)) * 4
	n += x.values.size
	n += int64(cap(x.table.slots)) * 4
	return n + x.out.bytes() + x.in.bytes()
}

// adjacency is one direction's lists: rows from the last compaction and an
// overlay of the lists changed since (and of nodes added since).
type adjacency struct {
	start []uint32 // node → offset in other/typ; len = rows+1
	other []uint32
	typ   []uint16
	over  map[uint32]*adjList
	// overLen counts the entries held in the overlay.
	overLen int
}

type adjList struct {
	other []uint32
	typ   []uint16
}

func (a *adjacency) rows() int { return max(0, len(a.start)-1) }

// list returns node n's list (shared: do not modify).
func (a *adjacency) list(n uint32) ([]uint32, []uint16) {
	if l, ok := a.over[n]; ok {
		return l.other, l.typ
	}
	if int(n) < a.rows() {
		s, e := a.start[n], a.start[n+1]
		return a.other[s:e:e], a.typ[s:e:e]
	}
	return nil, nil
}

// own returns n's overlay list, copying the row into it first.
func (a *adjacency) own(n uint32) *adjList {
	if l, ok := a.over[n]; ok {
		return l
	}
	o, t := a.list(n)
	l := &adjList{other: slices.Clone(o), typ: slices.Clone(t)}
	if a.over == nil {
		a.over = map[uint32]*adjList{}
	}
	a.over[n] = l
	a.overLen += len(o)
	return l
}

// insert adds (t, o) to n's list; false if it was there.
func (a *adjacency) insert(x *adjIndex, n uint32, t uint16, o uint32) bool {
	i, found := a.find(x, n, t, o)
	if found {
		return false
	}
	l := a.own(n)
	l.other = slices.Insert(l.other, i, o)
	l.typ = slices.Insert(l.typ, i, t)
	a.overLen++
	return true
}

// remove drops (t, o) from n's list; false if it was not there.
func (a *adjacency) remove(x *adjIndex, n uint32, t uint16, o uint32) bool {
	i, found := a.find(x, n, t, o)
	if !found {
		return false
	}
	l := a.own(n)
	l.other = slices.Delete(l.other, i, i+1)
	l.typ = slices.Delete(l.typ, i, i+1)
	a.overLen--
	return true
}

// find binary-searches n's list for (t, o).
func (a *adjacency) find(x *adjIndex, n uint32, t uint16, o uint32) (int, bool) {
	others, typs := a.list(n)
	lo, hi := 0, len(others)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if x.cmpEdge(typs[m], others[m], t, o) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(others) && others[lo] == o && typs[lo] == t
}

// compact rebuilds the rows for nodes nodes from the rows and the overlay.
func (a *adjacency) compact(nodes int) {
	total := 0
	for n := range nodes {
		o, _ := a.list(uint32(n))
		total += len(o)
	}
	start := make([]uint32, nodes+1)
	other := make([]uint32, 0, total)
	typ := make([]uint16, 0, total)
	for n := range nodes {
		start[n] = uint32(len(other))
		o, t := a.list(uint32(n))
		other = append(other, o...)
		typ = append(typ, t...)
	}
	start[nodes] = uint32(len(other))
	a.start, a.other, a.typ, a.over, a.overLen = start, other, typ, nil, 0
}

func (a *adjacency) bytes() int64 {
	n := int64(cap(a.start)+cap(a.other))*4 + int64(cap(a.typ))*2
	// An overlay entry: map slot, list header and backing arrays.
	return n + int64(len(a.over))*80 + int64(a.overLen)*6
}

// interner numbers a small set of strings (classes, relationship types).
type interner struct {
	codes map[string]uint16
	names []string
	full  bool
}

func (in *interner) lookup(s string) (uint16, bool) {
	c, ok := in.codes[s]
	return c, ok
}

// codeBytes is code for a transient byte slice.
func (in *interner) codeBytes(b []byte) uint16 {
	if c, ok := in.codes[bstr(b)]; ok {
		return c
	}
	return in.code(string(b))
}

func (in *interner) code(s string) uint16 {
	if c, ok := in.codes[s]; ok {
		return c
	}
	if in.codes == nil {
		in.codes = map[string]uint16{}
	}
	if len(in.names) > 0xfffe {
		// More distinct classes or types than any CMDB has: the index
		// gives up (Err) and traversals walk the store.
		in.full = true
		return 0
	}
	c := uint16(len(in.names))
	in.codes[s] = c
	in.names = append(in.names, s)
	return c
}

// valueSet numbers attribute values; code 0 is "".
type valueSet struct {
	codes map[string]uint32
	names []string
	size  int64 // bytes: strings, headers and map slots
}

func (vs *valueSet) codeBytes(b []byte) uint32 {
	if len(b) == 0 {
		return 0
	}
	if c, ok := vs.codes[bstr(b)]; ok {
		return c
	}
	if vs.codes == nil {
		vs.codes = map[string]uint32{}
		vs.names = []string{""}
	}
	s := string(b)
	c := uint32(len(vs.names))
	vs.codes[s] = c
	vs.names = append(vs.names, s)
	vs.size += int64(len(s)) + 48
	return c
}

func (vs *valueSet) get(c uint32) string {
	if c == 0 {
		return ""
	}
	return vs.names[c]
}

// strArena stores strings back to back in 1 MiB chunks that are never
// rewritten, so the strings handed out alias them safely. A reference is
// the chunk number (12 bits) and the offset (20 bits) of a length-prefixed
// string.
type strArena struct {
	chunks [][]byte
	used   int64
}

const (
	arenaChunkBits = 20
	arenaChunk     = 1 << arenaChunkBits
	arenaMaxChunks = 1 << (32 - arenaChunkBits)
)

var errArenaFull = fmt.Errorf("4 GiB of ids and names: %w", errIndexLimit)

func (a *strArena) add(s []byte) (uint32, error) {
	need := binary.MaxVarintLen32 + len(s)
	if len(a.chunks) == 0 || cap(a.chunks[len(a.chunks)-1])-len(a.chunks[len(a.chunks)-1]) < need {
		if len(a.chunks) == arenaMaxChunks {
			return 0, errArenaFull
		}
		a.chunks = append(a.chunks, make([]byte, 0, max(arenaChunk, need)))
	}
	ci := len(a.chunks) - 1
	c := a.chunks[ci]
	off := len(c)
	c = binary.AppendUvarint(c, uint64(len(s)))
	c = append(c, s...)
	a.chunks[ci] = c
	a.used += int64(len(c) - off)
	return uint32(ci)<<arenaChunkBits | uint32(off), nil
}

func (a *strArena) get(ref uint32) string {
	c := a.chunks[ref>>arenaChunkBits]
	off := int(ref & (arenaChunk - 1))
	l, k := uint64(c[off]), 1
	if l >= 0x80 {
		l, k = binary.Uvarint(c[off:])
	}
	if l == 0 {
		return ""
	}
	return unsafe.String(&c[off+k], int(l))
}

func (a *strArena) bytes() int64 {
	var n int64
	for _, c := range a.chunks {
		n += int64(cap(c))
	}
	return n
}

// idTable maps ids to nodes: open addressing with linear probing, at most
// 3/4 full. A slot holds node+1 (0 is empty) in its low 26 bits and 6 bits
// of the id's hash above them, so that a probe reads an id from the arena
// (a cache miss) only once in 64 times when it is not the one.
type idTable struct {
	slots []uint32
	n     int
	seed  maphash.Seed
}

const (
	slotNodeBits = 26
	slotNodeMask = 1<<slotNodeBits - 1
	// maxNodes is the most nodes the table can number.
	maxNodes = slotNodeMask - 1
)

var errTooManyNodes = fmt.Errorf("more than %d CIs: %w", maxNodes, errIndexLimit)

func (t *idTable) init(size int) {
	sz := 1024
	for sz*3/4 < size {
		sz <<= 1
	}
	t.slots = make([]uint32, sz)
	t.n = 0
	t.seed = maphash.MakeSeed()
}

func slotTag(h uint64) uint32 { return uint32(h>>58) << slotNodeBits }

func (t *idTable) find(x *adjIndex, id string) (uint32, bool) {
	h := maphash.String(t.seed, id)
	tag, mask := slotTag(h), uint64(len(t.slots)-1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			return 0, false
		}
		if s&^slotNodeMask == tag {
			if n := s&slotNodeMask - 1; x.id(n) == id {
				return n, true
			}
		}
	}
}

func (t *idTable) insert(x *adjIndex, n uint32) {
	if (t.n+1)*4 > len(t.slots)*3 {
		old := t.slots
		t.slots = make([]uint32, 2*len(old))
		t.n = 0
		for _, s := range old {
			if s != 0 {
				t.put(x, s&slotNodeMask-1)
			}
		}
	}
	t.put(x, n)
}

func (t *idTable) put(x *adjIndex, n uint32) {
	h := maphash.String(t.seed, x.id(n))
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for t.slots[i] != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = slotTag(h) | (n + 1)
	t.n++
}

// bstr views b as a string for a lookup that does not keep it.
func bstr(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// rawHead is a CI head as slices of the encoded record.
type rawHead struct{ id, class, sub, name, owner, crit []byte }

// Attributes the index keeps with each CI's head (CIHead).
const (
	attrOwner       = "owner"
	attrCriticality = "criticality"
)

// parseHead reads the head of an encoded CI record without decoding the
// rest: the deterministic encoding puts the map keys 1 to 5 (id, class,
// subclass, name, attributes) first. Anything unexpected returns false,
// and the caller decodes the whole record instead.
func parseHead(v []byte) (rawHead, bool) {
	var h rawHead
	if len(v) < 2 || v[0] != formatCBOR {
		return h, false
	}
	p := v[1:]
	major, n, p, ok := cborHead(p)
	if !ok || major != 5 {
		return h, false
	}
	last := uint64(0)
	for range n {
		var k uint64
		major, k, p, ok = cborHead(p)
		if !ok || major != 0 || k <= last {
			return h, false
		}
		if k > 5 {
			break
		}
		last = k
		if k == 5 {
			if p, ok = parseAttrs(p, &h); !ok {
				return h, false
			}
			continue
		}
		var s []byte
		if s, p, ok = cborText(p); !ok {
			return h, false
		}
		switch k {
		case 1:
			h.id = s
		case 2:
			h.class = s
		case 3:
			h.sub = s
		case 4:
			h.name = s
		}
	}
	return h, h.id != nil && h.class != nil
}

// parseAttrs reads the attribute map (name → {1: value, 2: source, 3:
// updated}) for the string values of owner and criticality.
func parseAttrs(p []byte, h *rawHead) ([]byte, bool) {
	major, n, p, ok := cborHead(p)
	if !ok || major != 5 {
		return nil, false
	}
	for range n {
		var name []byte
		if name, p, ok = cborText(p); !ok {
			return nil, false
		}
		var dst *[]byte
		switch string(name) {
		case attrOwner:
			dst = &h.owner
		case attrCriticality:
			dst = &h.crit
		default:
			if p, ok = cborSkip(p, 0); !ok {
				return nil, false
			}
			continue
		}
		var fields uint64
		if major, fields, p, ok = cborHead(p); !ok || major != 5 {
			return nil, false
		}
		for range fields {
			var k uint64
			if major, k, p, ok = cborHead(p); !ok || major != 0 {
				return nil, false
			}
			if k == 1 && len(p) > 0 && p[0]>>5 == 3 {
				if *dst, p, ok = cborText(p); !ok {
					return nil, false
				}
				continue
			}
			if p, ok = cborSkip(p, 0); !ok {
				return nil, false
			}
		}
	}
	return p, true
}

// cborText reads a definite-length text string.
func cborText(p []byte) (s, rest []byte, ok bool) {
	major, l, p, ok := cborHead(p)
	if !ok || major != 3 || uint64(len(p)) < l {
		return nil, nil, false
	}
	return p[:l:l], p[l:], true
}

// cborSkip skips one data item of definite length.
func cborSkip(p []byte, depth int) ([]byte, bool) {
	if depth > 16 {
		return nil, false
	}
	major, arg, p, ok := cborHead(p)
	if !ok {
		return nil, false
	}
	switch major {
	case 2, 3:
		if uint64(len(p)) < arg {
			return nil, false
		}
		return p[arg:], true
	case 4, 5:
		items := arg
		if major == 5 {
			items *= 2
		}
		for range items {
			if p, ok = cborSkip(p, depth+1); !ok {
				return nil, false
			}
		}
		return p, true
	case 6:
		return cborSkip(p, depth+1)
	}
	return p, true // integers, simple values, floats
}

// cborHead reads a CBOR item head: its major type and argument.
func cborHead(p []byte) (major byte, arg uint64, rest []byte, ok bool) {
	if len(p) == 0 {
		return 0, 0, nil, false
	}
	major, info := p[0]>>5, p[0]&0x1f
	p = p[1:]
	switch {
	case info < 24:
		return major, uint64(info), p, true
	case info == 24 && len(p) >= 1:
		return major, uint64(p[0]), p[1:], true
	case info == 25 && len(p) >= 2:
		return major, uint64(binary.BigEndian.Uint16(p)), p[2:], true
	case info == 26 && len(p) >= 4:
		return major, uint64(binary.BigEndian.Uint32(p)), p[4:], true
	case info == 27 && len(p) >= 8:
		return major, binary.BigEndian.Uint64(p), p[8:], true
	}
	return 0, 0, nil, false
}

// rawEdge is one relationship read by the build.
type rawEdge struct {
	from, to uint32
	typ      uint16
}

// addRows lays out the relationships read by the build (in key order) as
// rows, replacing any there were.
func (x *adjIndex) addRows(edges []rawEdge) {
	nodes := len(x.ids)
	x.rels = len(edges)
	x.out = rowsOf(x, nodes, edges, func(e rawEdge) (uint32, uint32) { return e.from, e.to })
	x.in = rowsOf(x, nodes, edges, func(e rawEdge) (uint32, uint32) { return e.to, e.from })
}

// rowsOf lays edges out by owner (a stable counting sort), then sorts the
// lists that the scan order did not already sort.
func rowsOf(x *adjIndex, nodes int, edges []rawEdge, ends func(rawEdge) (owner, other uint32)) adjacency {
	start := make([]uint32, nodes+1)
	for _, e := range edges {
		o, _ := ends(e)
		start[o+1]++
	}
	for i := 1; i <= nodes; i++ {
		start[i] += start[i-1]
	}
	other := make([]uint32, len(edges))
	typ := make([]uint16, len(edges))
	fill := slices.Clone(start[:nodes])
	for _, e := range edges {
		o, t := ends(e)
		other[fill[o]] = t
		typ[fill[o]] = e.typ
		fill[o]++
	}
	type pair struct {
		o uint32
		t uint16
	}
	var scratch []pair
	for n := range nodes {
		s, e := start[n], start[n+1]
		ok := true
		for i := s + 1; i < e && ok; i++ {
			ok = x.cmpEdge(typ[i-1], other[i-1], typ[i], other[i]) < 0
		}
		if ok {
			continue
		}
		scratch = scratch[:0]
		for i := s; i < e; i++ {
			scratch = append(scratch, pair{other[i], typ[i]})
		}
		slices.SortFunc(scratch, func(a, b pair) int { return x.cmpEdge(a.t, a.o, b.t, b.o) })
		for i, p := range scratch {
			other[int(s)+i], typ[int(s)+i] = p.o, p.t
		}
	}
	return adjacency{start: start, other: other, typ: typ}
}

// heads fills out with the heads of ids.
func (x *adjIndex) heads(ids []string, out []CIHead) error {
	for i, id := range ids {
		n, ok := x.node(id)
		if !ok || x.class[n] <= classOdd {
			return errIndexMiss
		}
		out[i] = CIHead{ID: x.id(n), Class: x.classes.names[x.class[n]], Name: x.name(n),
			Owner: x.values.get(x.owner[n]), Criticality: x.values.get(x.crit[n])}
		if c := x.sub[n]; c != 0 {
			out[i].Subclass = x.classes.names[c]
		}
	}
	return nil
}

// bitsetPool recycles the visited sets of traversals.
var bitsetPool = sync.Pool{New: func() any { return new([]uint64) }}

// impact runs the traversal of Graph.Impact (options already checked and
// defaulted) on the index. It returns errIndexMiss when it meets a CI the
// index cannot show, for the store walk to answer instead.
func (x *adjIndex) impact(ctx context.Context, start []string, o ImpactOptions, types, keepClass map[string]bool) (*ImpactResult, error) {
	outMask := make([]bool, len(x.types.names))
	inMask := make([]bool, len(x.types.names))
	anyOut, anyIn := false, false
	for c, name := range x.types.names {
		if !types[name] {
			continue
		}
		r := relies(name)
		outMask[c] = (r && o.Direction != Downstream) || (!r && o.Direction != Upstream)
		inMask[c] = (r && o.Direction != Upstream) || (!r && o.Direction != Downstream)
		anyOut, anyIn = anyOut || outMask[c], anyIn || inMask[c]
	}
	var keep []bool
	if len(keepClass) > 0 {
		keep = make([]bool, len(x.classes.names))
		for c, name := range x.classes.names {
			keep[c] = c > classOdd && keepClass[name]
		}
	}
	bp := bitsetPool.Get().(*[]uint64)
	if words := (len(x.ids) + 63) / 64; len(*bp) < words {
		*bp = make([]uint64, words+words/8)
	}
	seen := *bp
	type rec struct {
		node   uint32
		parent int32
		depth  uint8
		via    uint16
	}
	recs := make([]rec, 0, 64)
	defer func() {
		for _, r := range recs {
			seen[r.node>>6] &^= 1 << (r.node & 63)
		}
		bitsetPool.Put(bp)
	}()
	visit := func(n uint32) bool {
		w, b := n>>6, uint64(1)<<(n&63)
		if seen[w]&b != 0 {
			return false
		}
		seen[w] |= b
		return true
	}
	var frontier, next, kept []int32
	for _, id := range start {
		n, ok := x.node(id)
		if !ok || x.class[n] <= classOdd {
			return nil, errIndexMiss
		}
		visit(n)
		recs = append(recs, rec{node: n, parent: -1})
		frontier = append(frontier, int32(len(recs)-1))
	}
	truncated := false
walk:
	for depth := 1; depth <= o.Depth && len(frontier) > 0; depth++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		next = next[:0]
		for _, fi := range frontier {
			n := recs[fi].node
			for side := range 2 {
				mask, adj := outMask, &x.out
				if side == 1 {
					mask, adj = inMask, &x.in
				}
				if (side == 0 && !anyOut) || (side == 1 && !anyIn) {
					continue
				}
				others, typs := adj.list(n)
				for i, nb := range others {
					if !mask[typs[i]] || !visit(nb) {
						continue
					}
					// Marked before the check, as the walk does, so that
					// the deferred clear finds it.
					recs = append(recs, rec{node: nb, parent: fi, depth: uint8(depth), via: typs[i]})
					if x.class[nb] <= classOdd {
						return nil, errIndexMiss
					}
					ri := int32(len(recs) - 1)
					if keep == nil || keep[x.class[nb]] {
						if len(kept) >= o.Limit {
							truncated = true
							break walk
						}
						kept = append(kept, ri)
					}
					next = append(next, ri)
				}
			}
		}
		frontier, next = next, frontier
	}
	res := &ImpactResult{Start: start, Count: map[string]int{}, Truncated: truncated}
	if len(kept) > 0 {
		res.Nodes = make([]ImpactNode, len(kept))
	}
	total := 0
	for _, ri := range kept {
		total += int(recs[ri].depth) + 1
	}
	paths := make([]string, total)
	for i, ri := range kept {
		r := recs[ri]
		path := paths[: int(r.depth)+1 : int(r.depth)+1]
		paths = paths[len(path):]
		for j, p := len(path)-1, ri; j >= 0; j, p = j-1, recs[p].parent {
			path[j] = x.id(recs[p].node)
		}
		class := x.classes.names[x.class[r.node]]
		sub := ""
		if c := x.sub[r.node]; c != 0 {
			sub = x.classes.names[c]
		}
		res.Nodes[i] = ImpactNode{ID: path[len(path)-1], Name: x.name(r.node), Class: class, Subclass: sub,
			Depth: int(r.depth), Path: path, Via: x.types.names[r.via]}
		res.Count[class]++
	}
	return res, nil
}

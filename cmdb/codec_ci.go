package cmdb

import (
	"errors"
	"hash/maphash"
	"math"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// CIs and relationships are decoded on every load, every write (the
// previous state) and twice per CI event in the change feed. The
// reflection-driven decoder spends most of that time looking up fields and
// boxing values; decodeCI and decodeRel read the shape Encode writes for
// them directly, and give up (the caller then uses the general decoder) on
// anything they do not read exactly as it does: attribute values other
// than strings, integers, floats, booleans, null and lists of those; tags;
// indefinite lengths; keys out of order or repeated; unknown fields; times
// that are not RFC 3339 text. The tests hold them to decMode.Unmarshal.
//
// Map keys and the words CIs share (classes, states, sources, relationship
// types) are interned, which halves the allocations of a typical CI.

var errCIShape = errors.New("not the CI or relationship shape")

// maxItems is decMode's bound on array elements and map pairs: what
// exceeds it the general decoder rejects, so the fast path must not read.
const maxItems = 1 << 20

// ciReader reads the parts CIs and relationships are made of.
type ciReader struct {
	CBORReader
}

// peek returns the next byte, or 0 (not a byte the readers accept) at the
// end.
func (r *ciReader) peek() byte {
	if r.I < len(r.B) {
		return r.B[r.I]
	}
	return 0
}

// null consumes a CBOR null when one comes next.
func (r *ciReader) null() bool {
	if r.peek() == 0xf6 {
		r.I++
		return true
	}
	return false
}

// count reads the head of an array or map (major) whose items are each at
// least minLen bytes long, so that a corrupt count cannot make the caller
// allocate more than the input justifies.
func (r *ciReader) count(major byte, minLen int) (int, error) {
	m, n, err := r.Head()
	if err != nil || m != major || n > maxItems || n > uint64((len(r.B)-r.I)/minLen) {
		return 0, errCIShape
	}
	return int(n), nil
}

// structKey reads the next integer key of a struct written with keyasint
// fields, which must follow last and be at most limit.
func (r *ciReader) structKey(last, limit uint64) (uint64, error) {
	m, k, err := r.Head()
	if err != nil || m != 0 || k <= last || k > limit {
		return 0, errCIShape
	}
	return k, nil
}

// text reads a text string.
func (r *ciReader) text() (string, error) {
	s, err := r.Text()
	return string(s), err
}

// word reads a text string from a small vocabulary (a class, a source),
// interned.
func (r *ciReader) word() (string, error) {
	s, err := r.Text()
	if err != nil {
		return "", err
	}
	return interned(s), nil
}

// mapKey reads a text key of a map, which must sort after prev (length
// first, then bytewise, the order Encode writes), so that no key repeats.
func (r *ciReader) mapKey(prev []byte, first bool) ([]byte, error) {
	k, err := r.Text()
	if err != nil {
		return nil, err
	}
	if !first && (len(k) < len(prev) || len(k) == len(prev) && string(k) <= string(prev)) {
		return nil, errCIShape
	}
	return k, nil
}

// integer reads an integer that fits an int64.
func (r *ciReader) integer() (int64, error) {
	m, v, err := r.Head()
	switch {
	case err != nil || m > 1 || v > math.MaxInt64:
		return 0, errCIShape
	case m == 1:
		return -1 ^ int64(v), nil
	}
	return int64(v), nil
}

// time reads a time: null for the zero time, else RFC 3339 text, which it
// parses as the general decoder does (time.Parse with time.RFC3339), in
// short for UTC times as Encode writes them.
func (r *ciReader) time() (time.Time, error) {
	if r.null() {
		return time.Time{}, nil
	}
	s, err := r.TextUnchecked()
	if err != nil {
		return time.Time{}, err
	}
	if t, ok := parseUTC(s); ok {
		return t, nil
	}
	if !utf8.Valid(s) {
		return time.Time{}, errCIShape
	}
	return time.Parse(time.RFC3339, string(s))
}

// value reads an attribute value as the general decoder reads a CBOR item
// into an empty interface, for the kinds it reads: integers (int64),
// floats other than NaN (float64), text, booleans, null, and arrays of
// those ([]any).
func (r *ciReader) value() (any, error) {
	switch r.peek() >> 5 {
	case 3:
		return r.text()
	case 4:
		n, err := r.count(4, 1)
		if err != nil {
			return nil, err
		}
		out := make([]any, n)
		for i := range out {
			if r.peek()>>5 == 4 {
				return nil, errCIShape // nested arrays: left to the library
			}
			if out[i], err = r.value(); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	ib := r.peek()
	m, v, err := r.Head()
	if err != nil {
		return nil, err
	}
	switch m {
	case 0, 1:
		if v > math.MaxInt64 {
			return nil, errCIShape // an error, or a big.Int
		}
		if m == 1 {
			return -1 ^ int64(v), nil
		}
		return int64(v), nil
	case 7:
		var f float64
		switch ib {
		case 0xf4:
			return false, nil
		case 0xf5:
			return true, nil
		case 0xf6, 0xf7: // null, undefined
			return nil, nil
		case 0xf9:
			f = float16To64(uint16(v))
		case 0xfa:
			f = float64(math.Float32frombits(uint32(v)))
		case 0xfb:
			f = math.Float64frombits(v)
		default:
			return nil, errCIShape // simple values
		}
		if f != f {
			return nil, errCIShape // NaN: which one is the library's business
		}
		return f, nil
	}
	return nil, errCIShape
}

// float16To64 returns the value of an IEEE 754 half-precision float
// (NaNs aside: the caller rejects them).
func float16To64(h uint16) float64 {
	exp, frac := int(h>>10&0x1f), float64(h&0x3ff)
	var f float64
	switch exp {
	case 0: // zero or subnormal
		f = math.Ldexp(frac, -24)
	case 0x1f:
		f = math.Inf(1)
		if frac != 0 {
			f = math.NaN()
		}
	default:
		f = math.Ldexp(1024+frac, exp-25)
	}
	if h&0x8000 != 0 {
		f = math.Copysign(f, -1)
	}
	return f
}

// parseUTC parses a UTC time in the form time.RFC3339Nano writes it
// (2006-01-02T15:04:05.999999999Z, the fraction optional and without
// trailing zeros, though it accepts them), giving what time.Parse gives.
// It declines anything else, valid or not.
func parseUTC(s []byte) (time.Time, bool) {
	n := len(s)
	if n < 20 || n > 30 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[n-1] != 'Z' {
		return time.Time{}, false
	}
	num := func(b []byte) int {
		v := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day := num(s[0:4]), num(s[5:7]), num(s[8:10])
	hour, minute, sec := num(s[11:13]), num(s[14:16]), num(s[17:19])
	nsec := 0
	if n > 20 {
		frac := s[20 : n-1]
		if s[19] != '.' || len(frac) == 0 {
			return time.Time{}, false
		}
		if nsec = num(frac); nsec < 0 {
			return time.Time{}, false
		}
		for range 9 - len(frac) {
			nsec *= 10
		}
	}
	if year < 0 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true
}

// daysIn returns the number of days in month of year.
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// decodeCI decodes the CBOR payload of a CI into ci, which should be
// zero: on an error ci holds part of the payload, and Rev is left alone.
func decodeCI(p []byte, ci *CI) error { return decodeCIFields(p, ci, true) }

// decodeCIFields is decodeCI, leaving out the attributes and sightings
// unless all.
func decodeCIFields(p []byte, ci *CI, all bool) error {
	r := &ciReader{CBORReader: CBORReader{B: p}}
	fields, err := r.count(5, 2)
	if err != nil {
		return err
	}
	last := uint64(0)
	for range fields {
		if last, err = r.structKey(last, 11); err != nil {
			return err
		}
		switch last {
		case 1:
			ci.ID, err = r.text()
		case 2:
			ci.Class, err = r.word()
		case 3:
			ci.Subclass, err = r.word()
		case 4:
			ci.Name, err = r.text()
		case 5:
			if !all {
				err = r.Skip()
				break
			}
			ci.Attrs, err = r.attrs()
		case 6:
			ci.Identifiers, err = r.identifiers()
		case 7:
			ci.State, err = r.word()
		case 8:
			if !all {
				err = r.Skip()
				break
			}
			ci.Seen, err = r.seen()
		case 9:
			ci.Created, err = r.time()
		case 10:
			ci.Updated, err = r.time()
		case 11:
			ci.Flags, err = r.flags()
		}
		if err != nil {
			return err
		}
	}
	return r.End()
}

// attrs reads the attributes of a CI.
func (r *ciReader) attrs() (map[string]Attr, error) {
	n, err := r.count(5, 2)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Attr, n)
	var k []byte
	for i := range n {
		if k, err = r.mapKey(k, i == 0); err != nil {
			return nil, err
		}
		var a Attr
		fields, err := r.count(5, 2)
		if err != nil {
			return nil, err
		}
		last := uint64(0)
		for range fields {
			if last, err = r.structKey(last, 3); err != nil {
				return nil, err
			}
			switch last {
			case 1:
				a.Value, err = r.value()
			case 2:
				a.Source, err = r.word()
			case 3:
				a.Updated, err = r.time()
			}
			if err != nil {
				return nil, err
			}
		}
		out[interned(k)] = a
	}
	return out, nil
}

// identifiers reads the identifiers of a CI: lists of strings, or null.
func (r *ciReader) identifiers() (map[string][]string, error) {
	n, err := r.count(5, 2)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]string, n)
	var k []byte
	for i := range n {
		if k, err = r.mapKey(k, i == 0); err != nil {
			return nil, err
		}
		var vals []string
		if !r.null() {
			m, err := r.count(4, 1)
			if err != nil {
				return nil, err
			}
			vals = make([]string, m)
			for j := range vals {
				if vals[j], err = r.text(); err != nil {
					return nil, err
				}
			}
		}
		out[interned(k)] = vals
	}
	return out, nil
}

// seen reads when each source saw a CI.
func (r *ciReader) seen() (map[string]Seen, error) {
	n, err := r.count(5, 2)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Seen, n)
	var k []byte
	for i := range n {
		if k, err = r.mapKey(k, i == 0); err != nil {
			return nil, err
		}
		var s Seen
		fields, err := r.count(5, 2)
		if err != nil {
			return nil, err
		}
		last := uint64(0)
		for range fields {
			if last, err = r.structKey(last, 2); err != nil {
				return nil, err
			}
			if last == 1 {
				s.First, err = r.time()
			} else {
				s.Last, err = r.time()
			}
			if err != nil {
				return nil, err
			}
		}
		out[interned(k)] = s
	}
	return out, nil
}

// flags reads the flags of a CI.
func (r *ciReader) flags() (map[string]bool, error) {
	n, err := r.count(5, 2)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, n)
	var k []byte
	for i := range n {
		if k, err = r.mapKey(k, i == 0); err != nil {
			return nil, err
		}
		switch r.peek() {
		case 0xf4:
			out[interned(k)] = false
		case 0xf5:
			out[interned(k)] = true
		default:
			return nil, errCIShape
		}
		r.I++
	}
	return out, nil
}

// decodeRel decodes the CBOR payload of a relationship into rel, which
// should be zero: on an error rel holds part of the payload.
func decodeRel(p []byte, rel *Relationship) error {
	r := &ciReader{CBORReader: CBORReader{B: p}}
	fields, err := r.count(5, 2)
	if err != nil {
		return err
	}
	last := uint64(0)
	for range fields {
		if last, err = r.structKey(last, 8); err != nil {
			return err
		}
		switch last {
		case 1:
			rel.From, err = r.text()
		case 2:
			rel.To, err = r.text()
		case 3:
			rel.Type, err = r.word()
		case 4:
			rel.Source, err = r.word()
		case 5:
			rel.Attrs, err = r.strings()
		case 6:
			rel.FirstSeen, err = r.time()
		case 7:
			rel.LastSeen, err = r.time()
		case 8:
			rel.Observations, err = r.integer()
		}
		if err != nil {
			return err
		}
	}
	return r.End()
}

// strings reads a map of strings.
func (r *ciReader) strings() (map[string]string, error) {
	n, err := r.count(5, 2)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, n)
	var k []byte
	for i := range n {
		if k, err = r.mapKey(k, i == 0); err != nil {
			return nil, err
		}
		v, err := r.text()
		if err != nil {
			return nil, err
		}
		out[interned(k)] = v
	}
	return out, nil
}

// zeroCI reports whether ci is the zero CI but for Rev (which the codec
// leaves alone): the general decoder merges a payload into what a value
// holds, so the fast path, which replaces it, only serves zero values.
func zeroCI(ci *CI) bool {
	return ci.ID == "" && ci.Class == "" && ci.Subclass == "" && ci.Name == "" && ci.Attrs == nil &&
		ci.Identifiers == nil && ci.State == "" && ci.Seen == nil && ci.Created == (time.Time{}) &&
		ci.Updated == (time.Time{}) && ci.Flags == nil
}

// zeroRel reports whether rel is the zero relationship (see zeroCI).
func zeroRel(rel *Relationship) bool {
	return rel.From == "" && rel.To == "" && rel.Type == "" && rel.Source == "" && rel.Attrs == nil &&
		rel.FirstSeen == (time.Time{}) && rel.LastSeen == (time.Time{}) && rel.Observations == 0
}

// Map keys of CIs (attribute names, identifier kinds, sources, flags) come
// from a small vocabulary, decoded again for every CI: interned makes one
// string of each and hands it out again, where a plain conversion would
// allocate each time. The table is bounded: keys that collide take turns.

var (
	internSeed  = maphash.MakeSeed()
	internTable [1 << 12]atomic.Pointer[string]
)

// interned returns b as a string, shared with earlier calls for the same
// bytes when the table still holds them.
func interned(b []byte) string {
	if len(b) > 64 {
		return string(b)
	}
	slot := &internTable[maphash.Bytes(internSeed, b)%uint64(len(internTable))]
	if p := slot.Load(); p != nil && *p == string(b) {
		return *p
	}
	s := string(b)
	slot.Store(&s)
	return s
}

package cmdb

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"
)

// Every write of a CI or relationship encodes it, and the reflection
// encoder spends most of that time on field lookups, map key sorting
// through reflect.Value, and formatting times through interfaces.
// appendCI and appendRel write the same bytes directly; the tests hold
// them to encMode.Marshal byte for byte. They decline (the caller then
// uses the library) a value they do not write exactly as it does: an
// attribute value of a kind other than nil, string, bool, the integer
// kinds, float32, float64, []string and []any of those scalars, or a time
// the library refuses (a year outside 0–9999, a zone offset of a day or
// more).
//
// Like the library, they write strings as they are, without checking
// their UTF-8.

// appendCI appends the CBOR of ci to dst, exactly as encMode.Marshal(ci)
// writes it: a map of the fields by key, Subclass, Attrs, Identifiers,
// State, Seen and Flags left out when empty, maps in the order of their
// encoded keys (shorter first, then bytewise). It reports false, and dst
// holds a partial encoding, when ci holds what it does not write.
func appendCI(dst []byte, ci *CI) ([]byte, bool) {
	n := byte(5)
	for _, s := range [...]string{ci.Subclass, ci.State} {
		if s != "" {
			n++
		}
	}
	for _, l := range [...]int{len(ci.Attrs), len(ci.Identifiers), len(ci.Seen), len(ci.Flags)} {
		if l > 0 {
			n++
		}
	}
	dst = append(dst, 0xa0|n) // map(n), n <= 11
	dst = appendCBORText(append(dst, 0x01), ci.ID)
	dst = appendCBORText(append(dst, 0x02), ci.Class)
	if ci.Subclass != "" {
		dst = appendCBORText(append(dst, 0x03), ci.Subclass)
	}
	dst = appendCBORText(append(dst, 0x04), ci.Name)
	var scratch [64]string
	ok := true
	if len(ci.Attrs) > 0 {
		dst = appendCBORHead(append(dst, 0x05), 5, uint64(len(ci.Attrs)))
		for _, k := range sortedKeys(ci.Attrs, scratch[:0]) {
			a := ci.Attrs[k]
			dst = append(appendCBORText(dst, k), 0xa3, 0x01) // map(3), key 1
			if dst, ok = appendValue(dst, a.Value, false); !ok {
				return dst, false
			}
			dst = appendCBORText(append(dst, 0x02), a.Source)
			if dst, ok = appendTime(append(dst, 0x03), a.Updated); !ok {
				return dst, false
			}
		}
	}
	if len(ci.Identifiers) > 0 {
		dst = appendCBORHead(append(dst, 0x06), 5, uint64(len(ci.Identifiers)))
		for _, k := range sortedKeys(ci.Identifiers, scratch[:0]) {
			dst = appendStrings(appendCBORText(dst, k), ci.Identifiers[k])
		}
	}
	if ci.State != "" {
		dst = appendCBORText(append(dst, 0x07), ci.State)
	}
	if len(ci.Seen) > 0 {
		dst = appendCBORHead(append(dst, 0x08), 5, uint64(len(ci.Seen)))
		for _, k := range sortedKeys(ci.Seen, scratch[:0]) {
			s := ci.Seen[k]
			dst = append(appendCBORText(dst, k), 0xa2, 0x01) // map(2), key 1
			if dst, ok = appendTime(dst, s.First); !ok {
				return dst, false
			}
			if dst, ok = appendTime(append(dst, 0x02), s.Last); !ok {
				return dst, false
			}
		}
	}
	if dst, ok = appendTime(append(dst, 0x09), ci.Created); !ok {
		return dst, false
	}
	if dst, ok = appendTime(append(dst, 0x0a), ci.Updated); !ok {
		return dst, false
	}
	if len(ci.Flags) > 0 {
		dst = appendCBORHead(append(dst, 0x0b), 5, uint64(len(ci.Flags)))
		for _, k := range sortedKeys(ci.Flags, scratch[:0]) {
			dst = appendBool(appendCBORText(dst, k), ci.Flags[k])
		}
	}
	return dst, true
}

// appendRel appends the CBOR of rel to dst, exactly as
// encMode.Marshal(rel) writes it (see appendCI), or reports false.
func appendRel(dst []byte, rel *Relationship) ([]byte, bool) {
	n := byte(6)
	if len(rel.Attrs) > 0 {
		n++
	}
	if rel.Observations != 0 {
		n++
	}
	dst = append(dst, 0xa0|n) // map(n), n <= 8
	dst = appendCBORText(append(dst, 0x01), rel.From)
	dst = appendCBORText(append(dst, 0x02), rel.To)
	dst = appendCBORText(append(dst, 0x03), rel.Type)
	dst = appendCBORText(append(dst, 0x04), rel.Source)
	if len(rel.Attrs) > 0 {
		var scratch [64]string
		dst = appendCBORHead(append(dst, 0x05), 5, uint64(len(rel.Attrs)))
		for _, k := range sortedKeys(rel.Attrs, scratch[:0]) {
			dst = appendCBORText(appendCBORText(dst, k), rel.Attrs[k])
		}
	}
	ok := true
	if dst, ok = appendTime(append(dst, 0x06), rel.FirstSeen); !ok {
		return dst, false
	}
	if dst, ok = appendTime(append(dst, 0x07), rel.LastSeen); !ok {
		return dst, false
	}
	if rel.Observations != 0 {
		dst = appendCBORInt(append(dst, 0x08), rel.Observations)
	}
	return dst, true
}

// sortedKeys returns the keys of m in the order the library writes them:
// by their encoding, which for text is shorter first, then bytewise.
func sortedKeys[V any](m map[string]V, keys []string) []string {
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if c := cmp.Compare(len(a), len(b)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return keys
}

// appendValue appends an attribute value (an element of a list when
// inList) as the library writes it from an interface, or reports false
// for a kind it leaves to the library, []any in a list among them.
func appendValue(dst []byte, v any, inList bool) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		return append(dst, 0xf6), true
	case string:
		return appendCBORText(dst, x), true
	case bool:
		return appendBool(dst, x), true
	case int64:
		return appendCBORInt(dst, x), true
	case int:
		return appendCBORInt(dst, int64(x)), true
	case int32:
		return appendCBORInt(dst, int64(x)), true
	case int16:
		return appendCBORInt(dst, int64(x)), true
	case int8:
		return appendCBORInt(dst, int64(x)), true
	case uint64:
		return appendCBORHead(dst, 0, x), true
	case uint:
		return appendCBORHead(dst, 0, uint64(x)), true
	case uint32:
		return appendCBORHead(dst, 0, uint64(x)), true
	case uint16:
		return appendCBORHead(dst, 0, uint64(x)), true
	case uint8:
		return appendCBORHead(dst, 0, uint64(x)), true
	case float64:
		return appendFloat(dst, x), true
	case float32:
		return appendFloat(dst, float64(x)), true
	case []string:
		return appendStrings(dst, x), true
	case []any:
		if inList {
			return dst, false
		}
		if x == nil {
			return append(dst, 0xf6), true
		}
		dst = appendCBORHead(dst, 4, uint64(len(x)))
		for _, e := range x {
			var ok bool
			if dst, ok = appendValue(dst, e, true); !ok {
				return dst, false
			}
		}
		return dst, true
	}
	return dst, false
}

// appendStrings appends a list of strings, null when nil.
func appendStrings(dst []byte, l []string) []byte {
	if l == nil {
		return append(dst, 0xf6)
	}
	dst = appendCBORHead(dst, 4, uint64(len(l)))
	for _, s := range l {
		dst = appendCBORText(dst, s)
	}
	return dst
}

// appendBool appends a CBOR true or false.
func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, 0xf5)
	}
	return append(dst, 0xf4)
}

// appendCBORInt appends an integer.
func appendCBORInt(dst []byte, v int64) []byte {
	if v < 0 {
		// -1-x in two's complement is ^x, which also covers MinInt64.
		return appendCBORHead(dst, 1, uint64(^v))
	}
	return appendCBORHead(dst, 0, uint64(v))
}

// appendFloat appends f in the shortest form that keeps its value, as the
// library does with ShortestFloat16: NaN as the half-precision quiet NaN,
// infinities in half precision.
func appendFloat(dst []byte, f float64) []byte {
	switch {
	case f != f:
		return append(dst, 0xf9, 0x7e, 0x00)
	case math.IsInf(f, 1):
		return append(dst, 0xf9, 0x7c, 0x00)
	case math.IsInf(f, -1):
		return append(dst, 0xf9, 0xfc, 0x00)
	}
	f32 := float32(f)
	if float64(f32) != f {
		return appendBig64(append(dst, 0xfb), math.Float64bits(f))
	}
	if h, ok := float16Bits(f32); ok {
		return append(dst, 0xf9, byte(h>>8), byte(h))
	}
	u := math.Float32bits(f32)
	return append(dst, 0xfa, byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
}

// appendBig64 appends v big-endian.
func appendBig64(dst []byte, v uint64) []byte {
	return append(dst, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// float16Bits returns the half-precision bits of a finite f when it has
// one of exactly the same value.
func float16Bits(f float32) (uint16, bool) {
	u := math.Float32bits(f)
	sign := uint16(u>>16) & 0x8000
	exp := int(u>>23&0xff) - 127
	sig := u&0x7fffff | 1<<23
	switch {
	case u&0x7fffffff == 0:
		return sign, true
	case exp < -24 || exp > 15:
		return 0, false
	case exp >= -14: // normal: 10 of the 23 fraction bits remain
		if u&0x1fff != 0 {
			return 0, false
		}
		return sign | uint16(exp+15)<<10 | uint16(u>>13&0x3ff), true
	}
	// Subnormal: f is sig·2^(exp-23), a multiple k of 2^-24 when the bits
	// below 2^-24 are zero.
	shift := uint(-1 - exp) // 14 to 23
	if sig&(1<<shift-1) != 0 {
		return 0, false
	}
	return sign | uint16(sig>>shift), true
}

// appendTime appends t as the library writes it with TimeRFC3339Nano:
// null for the zero time, else RFC 3339 text in t's own zone. It reports
// false for a time the library refuses.
func appendTime(dst []byte, t time.Time) ([]byte, bool) {
	if t.IsZero() {
		return append(dst, 0xf6), true
	}
	var buf [48]byte
	s := t.AppendFormat(buf[:0], time.RFC3339Nano)
	// The library's limits: a four-digit year, and an offset under 24 hours
	// (Go writes three or more hour digits from 100 hours).
	if s[4] != '-' {
		return dst, false
	}
	if z := s[len(s)-6:]; s[len(s)-1] != 'Z' && (z[0] != '+' && z[0] != '-' || z[1] > '2' || z[1] == '2' && z[2] >= '4') {
		return dst, false
	}
	return append(appendCBORHead(dst, 3, uint64(len(s))), s...), true
}

package cmdb

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// path is which path a check expects a value to take.
type path int

const (
	either  path = iota
	direct       // the fast path
	library      // the fallback
)

// pathOf returns direct for true, else library.
func pathOf(fast bool) path {
	if fast {
		return direct
	}
	return library
}

// checkCICodec holds the CI fast paths to the library on ci: appendCI
// writes what encMode.Marshal writes (or declines, as enc says),
// decodeCI reads that as decMode.Unmarshal does (or declines, as dec
// says), and Encode and Decode agree with both.
func checkCICodec(t *testing.T, ci CI, enc, dec path) {
	t.Helper()
	want, wantErr := encMode.Marshal(&ci)
	got, ok := appendCI([]byte{0xde, 0xad}, &ci)
	switch {
	case ok && wantErr != nil:
		t.Fatalf("%#v: direct encoder wrote what the library refuses (%v)", ci, wantErr)
	case ok && !bytes.Equal(got[2:], want):
		t.Fatalf("%#v:\n got %x\nwant %x", ci, got[2:], want)
	case !ok && enc == direct:
		t.Fatalf("%#v: direct encoder declined", ci)
	case ok && enc == library:
		t.Fatalf("%#v: direct encoder accepted what it should leave to the library", ci)
	}
	for _, v := range []any{ci, &ci} {
		b, err := Encode(v)
		if (err != nil) != (wantErr != nil) || err == nil && !bytes.Equal(b, encodePayload(want)) {
			t.Fatalf("Encode(%T) = %x, %v; library %x, %v", v, b, err, want, wantErr)
		}
	}
	if wantErr != nil {
		return
	}
	checkDecodeCI(t, want, dec)
	// Through Decode, into a CI with a revision, which stays.
	var slow CI
	slowErr := decMode.Unmarshal(want, &slow)
	back := CI{Rev: 7}
	slow.Rev = 7
	if err := Decode(encodePayload(want), &back); (err != nil) != (slowErr != nil) || err == nil && !reflect.DeepEqual(noNaN(back), noNaN(slow)) {
		t.Fatalf("Decode: %#v, %v\nlibrary: %#v, %v", back, err, slow, slowErr)
	}
}

// noNaN returns ci with NaN attribute values (which the fast path leaves
// to the library, and which are not DeepEqual to themselves) replaced.
func noNaN(ci CI) CI {
	if ci.Attrs != nil {
		ci.Attrs = maps.Clone(ci.Attrs)
		for k, a := range ci.Attrs {
			a.Value = noNaNValue(a.Value)
			ci.Attrs[k] = a
		}
	}
	return ci
}

func noNaNValue(v any) any {
	switch x := v.(type) {
	case float64:
		if x != x {
			return "NaN"
		}
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = noNaNValue(e)
		}
		return out
	case map[any]any:
		out := make(map[any]any, len(x))
		for k, e := range x {
			out[k] = noNaNValue(e)
		}
		return out
	}
	return v
}

// checkDecodeCI fails t unless decodeCI reads p as the library does, or
// declines it, as want says.
func checkDecodeCI(t *testing.T, p []byte, want path) {
	t.Helper()
	var got, lib CI
	err := decodeCI(p, &got)
	libErr := decMode.Unmarshal(p, &lib)
	switch {
	case err == nil && libErr != nil:
		t.Fatalf("%x: fast path accepted what the library rejects: %v", p, libErr)
	case err == nil && !reflect.DeepEqual(got, lib):
		t.Fatalf("%x:\n got %#v\nwant %#v", p, got, lib)
	case err != nil && want == direct:
		t.Fatalf("%x: fast path declined: %v (library: %v)", p, err, libErr)
	case err == nil && want == library:
		t.Fatalf("%x: fast path accepted what it should leave to the library", p)
	}
}

// checkRelCodec is checkCICodec for relationships.
func checkRelCodec(t *testing.T, rel Relationship, enc, dec path) {
	t.Helper()
	want, wantErr := encMode.Marshal(&rel)
	got, ok := appendRel(nil, &rel)
	switch {
	case ok && wantErr != nil:
		t.Fatalf("%#v: direct encoder wrote what the library refuses (%v)", rel, wantErr)
	case ok && !bytes.Equal(got, want):
		t.Fatalf("%#v:\n got %x\nwant %x", rel, got, want)
	case !ok && enc == direct:
		t.Fatalf("%#v: direct encoder declined", rel)
	case ok && enc == library:
		t.Fatalf("%#v: direct encoder accepted what it should leave to the library", rel)
	}
	for _, v := range []any{rel, &rel} {
		b, err := Encode(v)
		if (err != nil) != (wantErr != nil) || err == nil && !bytes.Equal(b, encodePayload(want)) {
			t.Fatalf("Encode(%T) = %x, %v; library %x, %v", v, b, err, want, wantErr)
		}
	}
	if wantErr != nil {
		return
	}
	checkDecodeRel(t, want, dec)
	var slow, back Relationship
	slowErr := decMode.Unmarshal(want, &slow)
	if err := Decode(encodePayload(want), &back); (err != nil) != (slowErr != nil) || err == nil && !reflect.DeepEqual(back, slow) {
		t.Fatalf("Decode: %#v, %v\nlibrary: %#v, %v", back, err, slow, slowErr)
	}
}

// checkDecodeRel is checkDecodeCI for relationships.
func checkDecodeRel(t *testing.T, p []byte, want path) {
	t.Helper()
	var got, lib Relationship
	err := decodeRel(p, &got)
	libErr := decMode.Unmarshal(p, &lib)
	switch {
	case err == nil && libErr != nil:
		t.Fatalf("%x: fast path accepted what the library rejects: %v", p, libErr)
	case err == nil && !reflect.DeepEqual(got, lib):
		t.Fatalf("%x:\n got %#v\nwant %#v", p, got, lib)
	case err != nil && want == direct:
		t.Fatalf("%x: fast path declined: %v (library: %v)", p, err, libErr)
	case err == nil && want == library:
		t.Fatalf("%x: fast path accepted what it should leave to the library", p)
	}
}

var (
	t0    = time.Date(2024, 3, 9, 14, 5, 6, 123456789, time.UTC)
	cest  = time.FixedZone("CEST", 2*3600)
	named = struct{ Kind string }{"x"}
)

type hostname string

func TestCICodecCases(t *testing.T) {
	attr := func(v any) map[string]Attr { return map[string]Attr{"a": {Value: v, Source: SourceAgent, Updated: t0}} }
	tests := []struct {
		name             string
		ci               CI
		fastEnc, fastDec bool
	}{
		{"zero", CI{}, true, true},
		{"required fields", CI{ID: "01HQ", Class: ClassComputer, Name: "web-1", Created: t0, Updated: t0}, true, true},
		{"all fields", CI{ID: "01HQ", Class: ClassComputer, Subclass: "server", Name: "web-1", State: "use",
			Attrs:       map[string]Attr{"os": {Value: "linux", Source: SourceAgent, Updated: t0}, "cores": {Value: int64(8)}},
			Identifiers: map[string][]string{"serial": {"ABC"}, "mac": {"aa:bb", "cc:dd"}},
			Seen:        map[string]Seen{SourceAgent: {First: t0, Last: t0.Add(time.Hour)}},
			Created:     t0, Updated: t0, Flags: map[string]bool{"stale": true, "removed": false}, Rev: 3}, true, true},
		{"empty maps", CI{Attrs: map[string]Attr{}, Identifiers: map[string][]string{}, Seen: map[string]Seen{},
			Flags: map[string]bool{}}, true, true},
		{"nil and empty identifier lists", CI{Identifiers: map[string][]string{"a": nil, "b": {}, "": {""}}}, true, true},
		{"zero attr", CI{Attrs: map[string]Attr{"": {}}}, true, true},
		{"zero seen", CI{Seen: map[string]Seen{"x": {}}}, true, true},
		{"key order", CI{Flags: map[string]bool{"b": true, "aa": true, "a": true, "": true, "ab": false, "é": true,
			strings.Repeat("z", 23): true, strings.Repeat("y", 24): true, strings.Repeat("x", 256): true}}, true, true},
		{"many keys", CI{Flags: func() map[string]bool {
			m := map[string]bool{}
			for i := range 300 {
				m[fmt.Sprint(i*7919%1000)] = i%2 == 0
			}
			return m
		}()}, true, true},
		{"unicode", CI{ID: "ünï", Name: "日本語", Attrs: attr("🙂")}, true, true},
		{"long strings", CI{ID: strings.Repeat("i", 23), Class: strings.Repeat("c", 24), Name: strings.Repeat("n", 70000)}, true, true},
		{"not UTF-8", CI{Name: "\xff"}, true, false},
		{"not UTF-8 key", CI{Flags: map[string]bool{"\xc3": true}}, true, false},
		{"int64 values", CI{Attrs: map[string]Attr{"0": {Value: int64(0)}, "1": {Value: int64(23)}, "2": {Value: int64(24)},
			"3": {Value: int64(-1)}, "4": {Value: int64(-25)}, "5": {Value: int64(math.MaxInt64)}, "6": {Value: int64(math.MinInt64)},
			"7": {Value: int64(1 << 32)}, "8": {Value: int64(-1 << 40)}}}, true, true},
		{"other int kinds", CI{Attrs: map[string]Attr{"int": {Value: -5}, "int8": {Value: int8(-128)}, "int16": {Value: int16(300)},
			"int32": {Value: int32(-70000)}, "uint": {Value: uint(7)}, "uint8": {Value: uint8(255)}, "uint16": {Value: uint16(65535)},
			"uint32": {Value: uint32(1 << 31)}, "uint64": {Value: uint64(math.MaxInt64)}}}, true, true},
		// The library writes it, but reads it back as an error.
		{"uint64 over int64", CI{Attrs: attr(uint64(math.MaxUint64))}, true, false},
		{"floats", CI{Attrs: map[string]Attr{"half": {Value: 1.5}, "single": {Value: 0.1}, "double": {Value: 0.1 + 0.2},
			"neg zero": {Value: math.Copysign(0, -1)}, "inf": {Value: math.Inf(1)}, "-inf": {Value: math.Inf(-1)},
			"f32": {Value: float32(3.25)}, "subnormal": {Value: math.Ldexp(1, -24)}, "tiny": {Value: math.SmallestNonzeroFloat64},
			"max": {Value: math.MaxFloat64}, "65504": {Value: 65504.0}, "65520": {Value: 65520.0}}}, true, true},
		{"NaN", CI{Attrs: attr(math.NaN())}, true, false},
		{"bool and nil", CI{Attrs: map[string]Attr{"t": {Value: true}, "f": {Value: false}, "n": {Value: nil}}}, true, true},
		{"lists", CI{Attrs: map[string]Attr{"s": {Value: []string{"a", "b"}}, "e": {Value: []string{}}, "n": {Value: []string(nil)},
			"a": {Value: []any{"x", int64(1), 2.5, true, nil}}, "ae": {Value: []any{}}, "an": {Value: []any(nil)}}}, true, true},
		{"list with a list", CI{Attrs: attr([]any{[]string{"a"}})}, true, false},
		{"nested list", CI{Attrs: attr([]any{[]any{"a"}})}, false, false},
		{"bytes", CI{Attrs: attr([]byte("ab"))}, false, false},
		{"map value", CI{Attrs: attr(map[string]any{"a": "b"})}, false, false},
		{"struct value", CI{Attrs: attr(named)}, false, false},
		{"time value", CI{Attrs: attr(t0)}, false, true}, // text to the library
		{"named string", CI{Attrs: attr(hostname("h"))}, false, true},
		{"pointer value", CI{Attrs: attr(new(int64))}, false, true},
		{"time zones", CI{Created: t0.In(cest), Updated: t0.In(time.FixedZone("", -(9*3600 + 30*60)))}, true, true},
		{"local time", CI{Created: t0.Local()}, true, true},
		{"monotonic time", CI{Created: time.Now()}, true, true},
		{"zero instant elsewhere", CI{Created: time.Time{}.In(cest)}, true, true},
		{"whole seconds", CI{Created: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}, true, true},
		{"offset with seconds", CI{Created: t0.In(time.FixedZone("", 3601))}, true, true},
		{"year 0", CI{Created: time.Date(0, 1, 1, 0, 0, 0, 1, time.UTC)}, true, true},
		{"year 9999", CI{Created: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)}, true, true},
		{"year 10000", CI{Created: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, false, false},
		{"year -1", CI{Updated: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}, false, false},
		{"offset of a day", CI{Seen: map[string]Seen{"a": {Last: t0.In(time.FixedZone("", 24*3600))}}}, false, false},
		{"offset under a day", CI{Seen: map[string]Seen{"a": {First: t0.In(time.FixedZone("", -(24*3600 - 1)))}}}, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkCICodec(t, tc.ci, pathOf(tc.fastEnc), pathOf(tc.fastDec)) })
	}
}

func TestRelCodecCases(t *testing.T) {
	tests := []struct {
		name             string
		rel              Relationship
		fastEnc, fastDec bool
	}{
		{"zero", Relationship{}, true, true},
		{"typical", Relationship{From: "a", To: "b", Type: RelRunsOn, Source: SourceAgent, FirstSeen: t0, LastSeen: t0.Add(time.Minute),
			Observations: 42}, true, true},
		{"attrs", Relationship{Attrs: map[string]string{"port": "443", "proto": "tcp", "": "", "é": "\u00e9"}}, true, true},
		{"empty attrs", Relationship{Attrs: map[string]string{}}, true, true},
		{"observations", Relationship{Observations: -1}, true, true},
		{"min observations", Relationship{Observations: math.MinInt64}, true, true},
		{"max observations", Relationship{Observations: math.MaxInt64}, true, true},
		{"not UTF-8", Relationship{Attrs: map[string]string{"a": "\xff"}}, true, false},
		{"zones", Relationship{FirstSeen: t0.In(cest), LastSeen: t0.Local()}, true, true},
		{"year 10000", Relationship{LastSeen: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkRelCodec(t, tc.rel, pathOf(tc.fastEnc), pathOf(tc.fastDec)) })
	}
}

// TestDecodeCIShapes feeds the fast decoders CBOR the encoder does not
// write, which they must read as the library does or leave to it.
func TestDecodeCIShapes(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		fast bool
	}{
		{"empty map", "a0", true},
		{"empty attrs present", "a105a0", true},
		{"empty list value", "a105a16161a10180", true},
		{"undefined value", "a105a16161a101f7", true},
		{"attr without fields", "a105a16161a0", true},
		{"attr source only", "a105a16161a1026178", true},
		{"non-shortest key", "a118016161", true},
		{"non-shortest int", "a105a16161a1011b0000000000000005", true},
		{"float16 subnormal", "a105a16161a101f90001", true},
		{"float16 negative zero", "a105a16161a101f98000", true},
		{"float16 infinity", "a105a16161a101f97c00", true},
		{"float16 NaN", "a105a16161a101f97e00", false},
		{"float32 NaN", "a105a16161a101fa7fc00000", false},
		{"float64 NaN", "a105a16161a101fb7ff8000000000000", false},
		{"simple value", "a105a16161a101e0", false},
		{"uint64 max", "a105a16161a1011bffffffffffffffff", false},
		{"big negative", "a105a16161a1013bffffffffffffffff", false},
		{"min int64", "a105a16161a1013b7fffffffffffffff", true},
		{"byte string", "a105a16161a1014161", false},
		{"map value", "a105a16161a101a0", false},
		{"tagged value", "a105a16161a101c11a00000001", false},
		{"nested list", "a105a16161a1018180", false},
		{"keys out of order", "a2026161016162", false},
		{"repeated key", "a2016161016162", false},
		{"unknown key", "a10c6161", false},
		{"key zero", "a1006161", false},
		{"text key", "a161316161", false},
		{"negative key", "a1206161", false},
		{"null name", "a104f6", false},
		{"null attrs", "a105f6", false},
		{"null time", "a109f6", true},
		{"undefined time", "a109f7", false},
		{"tagged time", "a109c074323032342d30312d30325430333a30343a30355a", false},
		{"epoch time", "a1091a65000000", false},
		{"map keys out of order", "a10ba26162f56161f5", false},
		{"repeated map key", "a10ba26161f56161f4", false},
		{"map key order by length", "a10ba26162f5626161f4", true},
		{"null identifier list", "a106a16161f6", true},
		{"empty identifier list", "a106a1616180", true},
		{"number identifier", "a106a161618101", false},
		{"number flag", "a10ba1616101", false},
		{"indefinite map", "bf016161ff", false},
		{"indefinite text", "a1017f6161ff", false},
		{"indefinite list", "a105a16161a1019f01ff", false},
		{"trailing bytes", "a0a0", false},
		{"truncated", "a10161", false},
		{"huge count", "a105bb0000000100000000", false},
		{"not a map", "80", false},
		{"seen without last", "a108a16161a101f6", true},
		{"seen key 3", "a108a16161a103f6", false},
		{"self-described", "d9d9f7a0", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := hex.DecodeString(tc.hex)
			if err != nil {
				t.Fatal(err)
			}
			checkDecodeCI(t, p, pathOf(tc.fast))
		})
	}
}

// ciGen makes random CIs and relationships, and says which the fast paths
// must handle.
type ciGen struct {
	rng              *rand.Rand
	clean            bool // make only what the fast paths handle
	fastEnc, fastDec bool
}

// paths returns what the checks should expect of the last value made: the
// fast paths when it holds only what they handle, else either (a value
// the generator spoiled may have been replaced in its map).
func (g *ciGen) paths() (enc, dec path) {
	enc, dec = either, either
	if g.fastEnc {
		enc = direct
	}
	if g.fastEnc && g.fastDec {
		dec = direct
	}
	return enc, dec
}

func (g *ciGen) str() string {
	switch g.rng.IntN(12) {
	case 0, 1:
		return ""
	case 2:
		return []string{"ü", "日本", "🙂x", "a\x00b", "é"}[g.rng.IntN(5)]
	case 3:
		if !g.clean && g.rng.IntN(4) == 0 {
			g.fastDec = false // the library writes it, and refuses to read it
			return string([]byte{byte(g.rng.Uint32()) | 0x80})
		}
	case 4:
		return strings.Repeat("ab", g.rng.IntN(150))
	}
	return fmt.Sprintf("k%d", g.rng.IntN(50))
}

func (g *ciGen) time() time.Time {
	sec := 1_500_000_000 + g.rng.Int64N(400_000_000)
	nsec := g.rng.Int64N(1e9)
	switch g.rng.IntN(10) {
	case 0, 1:
		return time.Time{}
	case 2:
		nsec = 0
	case 3:
		nsec -= nsec % 1000
	case 4:
		sec = g.rng.Int64N(253402300800+62135596800) - 62135596800 // years 0 to 9999
	case 5:
		if !g.clean && g.rng.IntN(8) == 0 {
			g.fastEnc, g.fastDec = false, false // the library refuses the year
			return time.Unix(253402300800+g.rng.Int64N(1e9), nsec).UTC()
		}
	}
	t := time.Unix(sec, nsec)
	switch g.rng.IntN(6) {
	case 0:
		return t.In(cest)
	case 1:
		off := g.rng.IntN(24*3600) - 12*3600
		if g.rng.IntN(3) > 0 {
			off -= off % 60
		}
		return t.In(time.FixedZone("", off))
	case 2:
		return t.Local()
	case 3:
		return t // with time.Local, from time.Unix
	}
	return t.UTC()
}

func (g *ciGen) value(depth int) any {
	k := g.rng.IntN(24)
	if g.clean && (k >= 16 && k <= 20 || depth > 0 && k == 15) {
		k = 23
	}
	switch k {
	case 0:
		return nil
	case 1, 2, 3:
		return g.str()
	case 4:
		return g.rng.IntN(2) == 0
	case 5, 6:
		return g.rng.Int64() >> g.rng.IntN(64)
	case 7:
		return -g.rng.Int64() >> g.rng.IntN(64)
	case 8:
		return int(g.rng.Int32N(1000)) - 500
	case 9:
		v := g.rng.Uint64() >> g.rng.IntN(64)
		if g.clean {
			v >>= 1
		}
		if v > math.MaxInt64 {
			g.fastDec = false
		}
		return v
	case 10:
		return int32(g.rng.Uint32())
	case 11:
		return float64(g.rng.IntN(2000)-1000) / 8 // often a half
	case 12:
		if f := math.Float64frombits(g.rng.Uint64()); f == f || !g.clean {
			if f != f {
				g.fastDec = false
			}
			return f
		}
		return 0.5
	case 13:
		return float32(g.rng.NormFloat64())
	case 14:
		f := []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(), 65504, 65519.99, 1e-7,
			math.Ldexp(1, -24), math.Ldexp(3, -25), math.MaxFloat32, math.SmallestNonzeroFloat32}[g.rng.IntN(12)]
		if f != f && g.clean {
			f = 1
		}
		if f != f {
			g.fastDec = false
		}
		return f
	case 15:
		if depth > 0 {
			g.fastDec = false // a list in a list
		}
		if g.rng.IntN(3) == 0 {
			return []string(nil)
		}
		l := make([]string, g.rng.IntN(4))
		for i := range l {
			l[i] = g.str()
		}
		return l
	case 16:
		if depth > 0 {
			g.fastEnc, g.fastDec = false, false
			return []any{g.value(depth)}
		}
		if g.rng.IntN(4) == 0 {
			return []any(nil)
		}
		l := make([]any, g.rng.IntN(4))
		for i := range l {
			l[i] = g.value(depth + 1)
		}
		return l
	case 17:
		g.fastEnc, g.fastDec = false, false
		return []byte(g.str())
	case 18:
		g.fastEnc, g.fastDec = false, false
		return map[string]any{g.str(): g.value(depth + 1)}
	case 19:
		g.fastEnc = false
		return hostname(g.str())
	case 20:
		g.fastEnc = false
		return uint64(g.rng.IntN(100)) * uint64(time.Second) // a time.Duration
	}
	return fmt.Sprintf("v%d", g.rng.IntN(1000))
}

func (g *ciGen) ci() CI {
	g.fastEnc, g.fastDec, g.clean = true, true, g.rng.IntN(2) == 0
	ci := CI{ID: NewID(), Class: g.str(), Subclass: g.str(), Name: g.str(), State: g.str(),
		Created: g.time(), Updated: g.time(), Rev: g.rng.Int64()}
	if n := g.rng.IntN(20); n > 0 || g.rng.IntN(2) == 0 {
		ci.Attrs = make(map[string]Attr)
		for range n {
			ci.Attrs[g.str()] = Attr{Value: g.value(0), Source: []string{SourceAgent, SourceImport, g.str()}[g.rng.IntN(3)], Updated: g.time()}
		}
	}
	if n := g.rng.IntN(5); n > 0 || g.rng.IntN(2) == 0 {
		ci.Identifiers = make(map[string][]string)
		for range n {
			var vals []string
			if g.rng.IntN(5) > 0 {
				vals = make([]string, g.rng.IntN(3))
			}
			for i := range vals {
				vals[i] = g.str()
			}
			ci.Identifiers[g.str()] = vals
		}
	}
	if n := g.rng.IntN(3); n > 0 || g.rng.IntN(2) == 0 {
		ci.Seen = make(map[string]Seen)
		for range n {
			ci.Seen[g.str()] = Seen{First: g.time(), Last: g.time()}
		}
	}
	if n := g.rng.IntN(4); n > 0 || g.rng.IntN(2) == 0 {
		ci.Flags = make(map[string]bool)
		for range n {
			ci.Flags[g.str()] = g.rng.IntN(2) == 0
		}
	}
	return ci
}

func (g *ciGen) rel() Relationship {
	g.fastEnc, g.fastDec, g.clean = true, true, g.rng.IntN(2) == 0
	rel := Relationship{From: NewID(), To: g.str(), Type: g.str(), Source: g.str(), FirstSeen: g.time(), LastSeen: g.time()}
	if n := g.rng.IntN(4); n > 0 || g.rng.IntN(2) == 0 {
		rel.Attrs = make(map[string]string)
		for range n {
			rel.Attrs[g.str()] = g.str()
		}
	}
	switch g.rng.IntN(3) {
	case 0:
		rel.Observations = g.rng.Int64() >> g.rng.IntN(64)
	case 1:
		rel.Observations = -g.rng.Int64()
	}
	return rel
}

func TestCICodecRandom(t *testing.T) {
	g := &ciGen{rng: rand.New(rand.NewPCG(5, 6))}
	n := 3000
	if testing.Short() {
		n = 300
	}
	fast := 0
	for range n {
		ci := g.ci()
		enc, dec := g.paths()
		checkCICodec(t, ci, enc, dec)
		if g.fastEnc && g.fastDec {
			fast++
		}
		rel := g.rel()
		enc, dec = g.paths()
		checkRelCodec(t, rel, enc, dec)
	}
	t.Logf("%d of %d CIs all fast path", fast, n)
	if fast < n/3 {
		t.Errorf("only %d of %d CIs were all fast path: the generator needs rebalancing", fast, n)
	}
}

// TestDecodeCIIntoNonZero: the library merges a payload into the value it
// decodes into; Decode does too, whatever the fast path.
func TestDecodeCIIntoNonZero(t *testing.T) {
	enc, err := Encode(CI{ID: "a", Attrs: map[string]Attr{"x": {Value: "1"}}, Created: t0})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := payloadCopy(enc)
	start := func() CI {
		return CI{Subclass: "kept", Attrs: map[string]Attr{"y": {Value: "2"}}, Flags: map[string]bool{"f": true}, Rev: 9}
	}
	got, want := start(), start()
	if err := Decode(enc, &got); err != nil {
		t.Fatal(err)
	}
	if err := decMode.Unmarshal(p, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v\nwant %#v", got, want)
	}
	rel := Relationship{Observations: 3}
	enc, _ = Encode(Relationship{From: "a"})
	if err := Decode(enc, &rel); err != nil || rel.Observations != 3 || rel.From != "a" {
		t.Fatalf("relationship: %+v, %v", rel, err)
	}
}

// TestDecodeCILocalZone: a time written with an offset reads back in
// time.Local when Local has that offset then, as time.Parse does.
func TestDecodeCILocalZone(t *testing.T) {
	saved := time.Local
	t.Cleanup(func() { time.Local = saved })
	time.Local = time.FixedZone("CET", 3600)
	for _, tm := range []time.Time{t0.In(time.Local), t0.In(time.FixedZone("X", 3600)), t0.In(cest), t0.In(time.FixedZone("", 0))} {
		checkCICodec(t, CI{Created: tm, Seen: map[string]Seen{"a": {First: tm}}}, direct, direct)
		checkRelCodec(t, Relationship{LastSeen: tm}, direct, direct)
	}
}

// TestFloatEncoding checks appendFloat and the float decoder against the
// library on every half-precision value, every single-precision value
// that could be one (the lower 13 bits of the fraction clear), and random
// doubles.
func TestFloatEncoding(t *testing.T) {
	check := func(f float64) {
		t.Helper()
		want, err := encMode.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendFloat(nil, f); !bytes.Equal(got, want) {
			t.Fatalf("%g (%#x): %x, want %x", f, math.Float64bits(f), got, want)
		}
	}
	for h := range 1 << 16 {
		p := []byte{0xf9, byte(h >> 8), byte(h)}
		var want any
		if err := decMode.Unmarshal(p, &want); err != nil {
			t.Fatal(err)
		}
		r := &ciReader{CBORReader: CBORReader{B: p}}
		got, err := r.value()
		if w := want.(float64); w != w {
			if err == nil {
				t.Fatalf("%x: NaN accepted", p)
			}
			continue
		}
		if err != nil || math.Float64bits(got.(float64)) != math.Float64bits(want.(float64)) {
			t.Fatalf("%x: %v, %v; want %v", p, got, err, want)
		}
		check(got.(float64))
	}
	for u := uint32(0); u < 1<<19; u++ {
		check(float64(math.Float32frombits(u << 13)))
		check(float64(math.Float32frombits(u<<13 | 1<<12)))
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for range 20000 {
		check(math.Float64frombits(rng.Uint64()))
		check(float64(math.Float32frombits(rng.Uint32())))
	}
}

// TestParseUTC checks parseUTC against time.Parse on the times Encode
// writes and on mangled ones.
func TestParseUTC(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	accepted := 0
	for i := range 50000 {
		tm := time.Unix(rng.Int64N(253402300800+62135596800)-62135596800, rng.Int64N(1e9)).UTC()
		switch i % 4 {
		case 0:
			tm = tm.Truncate(time.Second)
		case 1:
			tm = tm.Truncate(time.Millisecond)
		}
		s := []byte(tm.Format(time.RFC3339Nano))
		if i%2 == 1 { // mangle a byte
			s[rng.IntN(len(s))] = "0123456789-:TZ.+ x\xff"[rng.IntN(19)]
		}
		if i%7 == 0 {
			s = append(s[:len(s)-1], "000Z"[rng.IntN(4):]...)
		}
		got, ok := parseUTC(s)
		want, err := time.Parse(time.RFC3339, string(s))
		if ok {
			accepted++
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: %#v; time.Parse: %#v, %v", s, got, want, err)
			}
		} else if i%2 == 0 && i%7 != 0 {
			t.Fatalf("%s: declined", s)
		}
	}
	if accepted < 25000 {
		t.Errorf("accepted %d", accepted)
	}
}

func TestInterned(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for i := range 20000 { // more than the table holds, so slots are shared
		b := fmt.Appendf(nil, "k%d", rng.IntN(8000))
		if i%100 == 0 {
			b = bytes.Repeat(b, 20) // too long to intern
		}
		if s := interned(b); s != string(b) {
			t.Fatalf("interned(%q) = %q", b, s)
		}
	}
	a, b := interned([]byte("agent")), interned([]byte("agent"))
	if unsafe.StringData(a) != unsafe.StringData(b) {
		t.Error("agent was not shared")
	}
}

// fuzzSource makes values from fuzz input; past its end it reads zeros.
type fuzzSource struct{ p []byte }

func (s *fuzzSource) byte() byte {
	if len(s.p) == 0 {
		return 0
	}
	b := s.p[0]
	s.p = s.p[1:]
	return b
}

func (s *fuzzSource) u64() uint64 {
	var d [8]byte
	s.p = s.p[copy(d[:], s.p):]
	return binary.BigEndian.Uint64(d[:])
}

// str reads a length byte (0xff: 300) and that many bytes.
func (s *fuzzSource) str() string {
	n := int(s.byte())
	if n == 0xff {
		n = 300
	}
	n = min(n, len(s.p))
	out := string(s.p[:n])
	s.p = s.p[n:]
	return out
}

func (s *fuzzSource) time() time.Time {
	k := s.byte()
	if k%5 == 0 {
		return time.Time{}
	}
	sec, nsec := int64(s.u64()), int64(s.u64()%1e9)
	if k&0x80 == 0 {
		sec = 1e9 + sec%(300*365*86400)
	}
	t := time.Unix(sec, nsec)
	switch k % 5 {
	case 1:
		return t.UTC()
	case 2:
		return t.In(time.FixedZone("", int(int32(s.u64())%100000)))
	case 3:
		return t.Local()
	}
	return t.In(cest)
}

func (s *fuzzSource) value(depth int) any {
	switch k := s.byte(); k % 16 {
	case 0:
		return nil
	case 1:
		return k&0x10 != 0
	case 2:
		return int64(s.u64())
	case 3:
		return s.u64()
	case 4:
		return int(int32(s.u64()))
	case 5:
		return math.Float64frombits(s.u64())
	case 6:
		return float32(math.Float64frombits(s.u64()))
	case 7:
		return math.Float32frombits(uint32(s.u64()))
	case 8:
		l := make([]string, s.byte()%4)
		for i := range l {
			l[i] = s.str()
		}
		return l
	case 9:
		if depth > 2 {
			return nil
		}
		l := make([]any, s.byte()%4)
		for i := range l {
			l[i] = s.value(depth + 1)
		}
		return l
	case 10:
		return []byte(s.str())
	case 11:
		if depth > 2 {
			return nil
		}
		return map[string]any{s.str(): s.value(depth + 1)}
	case 12:
		return hostname(s.str())
	case 13:
		return []any(nil)
	}
	return s.str()
}

func (s *fuzzSource) ci() CI {
	ci := CI{ID: s.str(), Class: s.str(), Subclass: s.str(), Name: s.str(), State: s.str(), Created: s.time(), Updated: s.time()}
	if n := s.byte(); n > 0 {
		ci.Attrs = map[string]Attr{}
		for range n % 8 {
			ci.Attrs[s.str()] = Attr{Value: s.value(0), Source: s.str(), Updated: s.time()}
		}
	}
	if n := s.byte(); n > 0 {
		ci.Identifiers = map[string][]string{}
		for range n % 4 {
			var l []string
			if m := s.byte(); m > 0 {
				l = make([]string, m%3)
			}
			for i := range l {
				l[i] = s.str()
			}
			ci.Identifiers[s.str()] = l
		}
	}
	if n := s.byte(); n > 0 {
		ci.Seen = map[string]Seen{}
		for range n % 3 {
			ci.Seen[s.str()] = Seen{First: s.time(), Last: s.time()}
		}
	}
	if n := s.byte(); n > 0 {
		ci.Flags = map[string]bool{}
		for range n % 4 {
			ci.Flags[s.str()] = s.byte()&1 == 0
		}
	}
	return ci
}

func (s *fuzzSource) rel() Relationship {
	rel := Relationship{From: s.str(), To: s.str(), Type: s.str(), Source: s.str(), FirstSeen: s.time(), LastSeen: s.time(),
		Observations: int64(s.u64())}
	if n := s.byte(); n > 0 {
		rel.Attrs = map[string]string{}
		for range n % 4 {
			rel.Attrs[s.str()] = s.str()
		}
	}
	return rel
}

func FuzzEncodeCI(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x0401HQ\x08computer\x06server\x05web-1\x03use\x01\x00\x00\x00\x00\x65\x43\x21\x00\x00\x00\x00\x00\x00\x01\x02\x03" +
		"\x03\x02\x02os\x0f\x05linux\x05agent\x00\x05cores\x02\x00\x00\x00\x00\x00\x00\x00\x08\x06import\x02"))
	f.Add(bytes.Repeat([]byte{0x05, 0x01, 0xff, 0x09}, 40))
	f.Fuzz(func(t *testing.T, p []byte) {
		s := &fuzzSource{p: p}
		checkCICodec(t, s.ci(), either, either)
		s = &fuzzSource{p: p}
		checkRelCodec(t, s.rel(), either, either)
	})
}

func FuzzDecodeCI(f *testing.F) {
	g := &ciGen{rng: rand.New(rand.NewPCG(11, 12))}
	for range 8 {
		ci, rel := g.ci(), g.rel()
		if p, err := encMode.Marshal(&ci); err == nil {
			f.Add(p)
		}
		if p, err := encMode.Marshal(&rel); err == nil {
			f.Add(p)
		}
	}
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, p []byte) {
		checkDecodeCI(t, p, either)
		checkDecodeRel(t, p, either)
	})
}

// BenchmarkCICodec encodes and decodes a computer CI and a relationship as
// the collector writes them, through the library and directly.
func BenchmarkCICodec(b *testing.B) {
	ci, rel := benchCI(), Relationship{From: NewID(), To: NewID(), Type: RelRunsOn, Source: SourceAgent,
		Attrs: map[string]string{"port": "443", "proto": "tcp"}, FirstSeen: t0, LastSeen: t0.Add(72 * time.Hour), Observations: 1412}
	ciCBOR, err := encMode.Marshal(&ci)
	if err != nil {
		b.Fatal(err)
	}
	relCBOR, _ := encMode.Marshal(&rel)
	b.Logf("CI: %d bytes of CBOR, relationship %d", len(ciCBOR), len(relCBOR))
	b.Run("ci/encode/library", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := encMode.Marshal(&ci); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ci/encode/direct", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf, _ = appendCI(buf[:0], &ci)
		}
	})
	b.Run("ci/decode/library", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var out CI
			if err := decMode.Unmarshal(ciCBOR, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ci/decode/direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var out CI
			if err := decodeCI(ciCBOR, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rel/encode/library", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := encMode.Marshal(&rel); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rel/encode/direct", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf, _ = appendRel(buf[:0], &rel)
		}
	})
	b.Run("rel/decode/library", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var out Relationship
			if err := decMode.Unmarshal(relCBOR, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rel/decode/direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var out Relationship
			if err := decodeRel(relCBOR, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchCI returns a computer CI as the agent reconciler writes one.
func benchCI() CI {
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	attrs := map[string]Attr{
		"hostname":       {Value: "web-17.prod.example.net", Source: SourceAgent, Updated: at(0)},
		"os":             {Value: "linux", Source: SourceAgent, Updated: at(0)},
		"os_version":     {Value: "Debian GNU/Linux 12 (bookworm)", Source: SourceAgent, Updated: at(0)},
		"kernel":         {Value: "6.1.0-18-amd64", Source: SourceAgent, Updated: at(time.Hour)},
		"cpu_model":      {Value: "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", Source: SourceAgent, Updated: at(0)},
		"cpu_cores":      {Value: int64(32), Source: SourceAgent, Updated: at(0)},
		"memory_bytes":   {Value: int64(274877906944), Source: SourceAgent, Updated: at(0)},
		"disk_bytes":     {Value: int64(3840755982336), Source: SourceAgent, Updated: at(0)},
		"ip_addresses":   {Value: []any{"10.20.30.17", "fe80::a00:27ff:fe4e:66a1"}, Source: SourceAgent, Updated: at(2 * time.Hour)},
		"virtual":        {Value: false, Source: SourceAgent, Updated: at(0)},
		"uptime_seconds": {Value: int64(1_209_600), Source: SourceAgent, Updated: at(3 * time.Hour)},
		"load_average":   {Value: 0.42, Source: SourceAgent, Updated: at(3 * time.Hour)},
		"manufacturer":   {Value: "Dell Inc.", Source: SourceAgent, Updated: at(0)},
		"model":          {Value: "PowerEdge R650", Source: SourceAgent, Updated: at(0)},
		"cost_centre":    {Value: "CC-4411", Source: SourceImport, Updated: at(-48 * time.Hour)},
		"owner":          {Value: "platform-team", Source: SourceManual, Updated: at(-96 * time.Hour)},
	}
	return CI{ID: NewID(), Class: ClassComputer, Subclass: "server", Name: "web-17", Attrs: attrs,
		Identifiers: map[string][]string{"serial": {"8XK2LM3"}, "uuid": {"4c4c4544-0058-4b10-8032-b8c04f4c4d33"},
			"machine_id": {"b1946ac92492d2347c6235b4d2611184"}, "mac": {"b0:7b:25:c1:9e:40", "b0:7b:25:c1:9e:41"},
			"agent": {"01HQ3Z9V6K2M4N8P0R5S7T9W1Y"}},
		State: "use",
		Seen: map[string]Seen{SourceAgent: {First: at(-90 * 24 * time.Hour), Last: at(3 * time.Hour)},
			SourceImport: {First: at(-60 * 24 * time.Hour), Last: at(-48 * time.Hour)}},
		Created: at(-90 * 24 * time.Hour), Updated: at(3 * time.Hour), Flags: map[string]bool{"stale": false}}
}

package cmdb

import (
	"strings"
	"testing"
	"time"
)

func TestParseHead(t *testing.T) {
	long := strings.Repeat("ü", 200)
	cis := []*CI{
		{ID: "01A", Class: ClassComputer, Name: "web-01"},
		{ID: "01B", Class: ClassComputer, Subclass: "laptop", Name: ""},
		{ID: "01C", Class: ClassService, Name: long, Attrs: map[string]Attr{"owner": {Value: "x"}}, State: "use",
			Identifiers: map[string][]string{"serial": {"s"}}, Flags: map[string]bool{"stale": true}},
		{ID: "01D", Class: ClassService, Name: "attrs", Attrs: map[string]Attr{
			"a": {Value: int64(-3), Source: SourceAgent, Updated: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)},
			"b": {Value: []string{"x", "y"}}, "c": {Value: 1.5}, "d": {Value: true}, "e": {Value: nil},
			"criticality": {Value: "critical", Source: SourceManual, Updated: time.Now()},
			"f":           {Value: int64(1) << 40}, "g": {Value: map[string]any{"k": []any{int64(1), "v"}}},
			"owner": {Value: "team-é", Source: SourceImport}, "z": {Value: "last"}}},
		{ID: "01E", Class: ClassService, Name: "not strings", Attrs: map[string]Attr{"owner": {Value: int64(7)}, "criticality": {Value: []string{"high"}}}},
		{ID: strings.Repeat("I", 300), Class: strings.Repeat("c", 30), Subclass: strings.Repeat("s", 70000), Name: "n"},
	}
	for _, ci := range cis {
		v, err := Encode(ci)
		if err != nil {
			t.Fatal(err)
		}
		h, ok := parseHead(v)
		if v[0] != formatCBOR {
			if ok {
				t.Errorf("%.10s: compressed record parsed", ci.ID)
			}
			continue // setHead decodes it in full
		}
		if !ok {
			t.Errorf("%.10s: not parsed", ci.ID)
			continue
		}
		if string(h.id) != ci.ID || string(h.class) != ci.Class || string(h.sub) != ci.Subclass || string(h.name) != ci.Name ||
			string(h.owner) != ci.AttrString("owner") || string(h.crit) != ci.AttrString("criticality") {
			t.Errorf("%.10s: got %.20q %q %.20q %.20q %q %q", ci.ID, h.id, h.class, h.sub, h.name, h.owner, h.crit)
		}
	}
	for _, bad := range [][]byte{nil, {formatCBOR}, {0x02, 0xa1}, {formatCBOR, 0xa1, 0x01, 0x01}, {formatCBOR, 0xa2, 0x02, 0x60, 0x01, 0x60}} {
		if _, ok := parseHead(bad); ok {
			t.Errorf("%x parsed", bad)
		}
	}
}

func TestArena(t *testing.T) {
	var a strArena
	var refs []uint32
	var want []string
	for i := range 5000 {
		s := strings.Repeat(string(rune('a'+i%26)), i%700)
		if i == 2500 {
			s = strings.Repeat("x", 3*arenaChunk/2) // bigger than a chunk
		}
		ref, err := a.add([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		refs, want = append(refs, ref), append(want, s)
	}
	for i, ref := range refs {
		if got := a.get(ref); got != want[i] {
			t.Fatalf("string %d: got %d bytes, want %d", i, len(got), len(want[i]))
		}
	}
}

// TestAdjacencyOrder checks that lists stay in key order through inserts,
// removes and compaction, with types whose names sort differently from
// their keys ("a-b/..." before "a/...").
func TestAdjacencyOrder(t *testing.T) {
	x := newAdjIndex()
	ids := []string{"N3", "N1", "N2", "N0", "M9"}
	types := []string{"a", "a-b", "ab", "b"}
	type rel struct{ from, typ, to string }
	present := map[rel]bool{}
	check := func() {
		t.Helper()
		for _, from := range ids {
			var keys []string
			n, ok := x.node(from)
			if !ok {
				continue
			}
			o, ty := x.out.list(n)
			for i := range o {
				keys = append(keys, x.types.names[ty[i]]+"/"+x.id(o[i]))
			}
			var want []string
			for r := range present {
				if r.from == from {
					want = append(want, r.typ+"/"+r.to)
				}
			}
			if len(keys) != len(want) || !sortedStrings(keys) {
				t.Fatalf("out of %s: %q (want %d, in key order)", from, keys, len(want))
			}
		}
	}
	for i := range 400 {
		r := rel{ids[i%5], types[(i/5)%4], ids[(i*7)%5]}
		if i%3 == 2 {
			x.dropRel([]byte(r.from), []byte(r.typ), []byte(r.to))
			delete(present, r)
		} else {
			if err := x.addRel([]byte(r.from), []byte(r.typ), []byte(r.to)); err != nil {
				t.Fatal(err)
			}
			present[r] = true
		}
		if i%50 == 0 {
			x.out.compact(len(x.ids))
			x.in.compact(len(x.ids))
		}
		check()
	}
	if x.rels != len(present) {
		t.Errorf("%d relationships counted, %d present", x.rels, len(present))
	}
}

func sortedStrings(s []string) bool {
	for i := 1; i < len(s); i++ {
		if s[i-1] >= s[i] {
			return false
		}
	}
	return true
}

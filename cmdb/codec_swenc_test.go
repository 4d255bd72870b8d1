package cmdb

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// checkSoftwareCBOR fails t unless appendSoftwareCBOR writes what the
// library writes for rec, by value and by pointer, and Encode frames it as
// before.
func checkSoftwareCBOR(t *testing.T, rec SoftwareRecord) {
	t.Helper()
	want, err := encMode.Marshal(rec)
	if err != nil {
		t.Fatalf("library: %v", err)
	}
	if byPtr, _ := encMode.Marshal(&rec); !bytes.Equal(byPtr, want) {
		t.Fatalf("library writes a pointer differently: %x, %x", byPtr, want)
	}
	prefix := []byte{0xde, 0xad}
	got := appendSoftwareCBOR(bytes.Clone(prefix), &rec)
	if !bytes.HasPrefix(got, prefix) || !bytes.Equal(got[len(prefix):], want) {
		t.Fatalf("%+v:\n got %x\nwant %x", rec, got[len(prefix):], want)
	}
	for _, v := range []any{rec, &rec} {
		enc, err := Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		if w := encodePayload(want); !bytes.Equal(enc, w) {
			t.Fatalf("Encode(%T): %x, want %x", v, enc, w)
		}
	}
}

func TestAppendSoftwareCBOR(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name string
		rec  SoftwareRecord
	}{
		{"nil items", SoftwareRecord{}},
		{"empty items", SoftwareRecord{Items: []Installed{}}},
		{"zero item", SoftwareRecord{Items: []Installed{{}}}},
		{"all fields", SoftwareRecord{Items: []Installed{{Title: "curl", Name: "curl", Version: "8.5.0-2", Arch: "amd64",
			Publisher: "Debian", Source: "dpkg", Installed: 1_712_345_678}}}},
		{"only omitempty fields", SoftwareRecord{Items: []Installed{{Arch: "a"}, {Publisher: "p"}, {Source: "s"}, {Installed: 1}}}},
		{"negative install dates", SoftwareRecord{Items: []Installed{{Installed: -1}, {Installed: -24}, {Installed: -25},
			{Installed: -256}, {Installed: -257}, {Installed: -65537}, {Installed: -1 << 32}, {Installed: math.MinInt64}}}},
		{"install date heads", SoftwareRecord{Items: []Installed{{Installed: 23}, {Installed: 24}, {Installed: 255},
			{Installed: 256}, {Installed: 65535}, {Installed: 65536}, {Installed: 1<<32 - 1}, {Installed: 1 << 32},
			{Installed: math.MaxInt64}}}},
		{"string heads", SoftwareRecord{Items: []Installed{{Title: long(23), Name: long(24), Version: long(255),
			Arch: long(256), Publisher: long(65535), Source: long(65536)}}}},
		{"not UTF-8", SoftwareRecord{Items: []Installed{{Title: "\xff", Name: "a\x00b", Version: "\xc3", Arch: "é"}}}},
		{"24 items", SoftwareRecord{Items: make([]Installed, 24)}},
		{"256 items", SoftwareRecord{Items: make([]Installed, 256)}},
		{"65536 items", SoftwareRecord{Items: make([]Installed, 65536)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkSoftwareCBOR(t, tc.rec) })
	}
}

func TestAppendSoftwareCBORRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	str := func() string {
		switch rng.IntN(10) {
		case 0, 1, 2:
			return ""
		case 3:
			return string([]byte{byte(rng.Uint32()), byte(rng.Uint32())}) // often not UTF-8
		case 4:
			return strings.Repeat("ab", rng.IntN(200))
		case 5:
			if rng.IntN(20) == 0 {
				return strings.Repeat("z", 65530+rng.IntN(12))
			}
		}
		return fmt.Sprintf("pkg%d", rng.IntN(1000))
	}
	date := func() int64 {
		switch rng.IntN(6) {
		case 0:
			return 0
		case 1:
			return -rng.Int64()
		case 2:
			return int64(rng.IntN(600)) - 300
		case 3:
			return rng.Int64() >> rng.IntN(64)
		}
		return 1_700_000_000 + rng.Int64N(1e8)
	}
	for range 500 {
		var rec SoftwareRecord
		if n := rng.IntN(40); n > 0 || rng.IntN(2) == 0 {
			rec.Items = make([]Installed, n)
		}
		for k := range rec.Items {
			rec.Items[k] = Installed{Title: str(), Name: str(), Version: str(), Arch: str(),
				Publisher: str(), Source: str(), Installed: date()}
		}
		checkSoftwareCBOR(t, rec)
	}
}

// Encode must not hand out its pooled buffer: a later Encode would
// overwrite an earlier result.
func TestEncodeSoftwareDoesNotAlias(t *testing.T) {
	small := SoftwareRecord{Items: []Installed{{Title: "a", Name: "a", Version: "1"}}}
	first, _ := Encode(small)
	keep := bytes.Clone(first)
	for range 10 {
		Encode(SoftwareRecord{Items: []Installed{{Title: "b", Name: "b", Version: "2"}}})
	}
	if !bytes.Equal(first, keep) {
		t.Fatalf("an earlier result changed: %x, was %x", first, keep)
	}
}

// softwareFromBytes builds a record from fuzz input: per item six strings,
// each a length byte (0xff: a two-byte length follows) and that many
// bytes, then up to eight bytes of install date.
func softwareFromBytes(p []byte, nilItems bool) SoftwareRecord {
	var rec SoftwareRecord
	if !nilItems {
		rec.Items = []Installed{}
	}
	next := func() string {
		if len(p) == 0 {
			return ""
		}
		n := int(p[0])
		p = p[1:]
		if n == 0xff && len(p) >= 2 {
			n = int(binary.BigEndian.Uint16(p))
			p = p[2:]
		}
		n = min(n, len(p))
		s := string(p[:n])
		p = p[n:]
		return s
	}
	for len(p) > 0 {
		var it Installed
		for _, f := range []*string{&it.Title, &it.Name, &it.Version, &it.Arch, &it.Publisher, &it.Source} {
			*f = next()
		}
		var d [8]byte
		p = p[copy(d[:], p):]
		it.Installed = int64(binary.BigEndian.Uint64(d[:]))
		rec.Items = append(rec.Items, it)
	}
	return rec
}

func FuzzEncodeSoftware(f *testing.F) {
	f.Add([]byte{}, true)
	f.Add([]byte{}, false)
	f.Add([]byte("\x04curl\x04curl\x031.0\x05amd64\x06Debian\x04dpkg\x00\x00\x00\x00\x65\x43\x21\x00"), false)
	f.Add([]byte("\x01\xff\x00\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff"), false)
	f.Fuzz(func(t *testing.T, p []byte, nilItems bool) {
		rec := softwareFromBytes(p, nilItems)
		want, err := encMode.Marshal(&rec)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendSoftwareCBOR(nil, &rec); !bytes.Equal(got, want) {
			t.Fatalf("%+v:\n got %x\nwant %x", rec, got, want)
		}
	})
}

// BenchmarkEncodeSoftware encodes an inventory of 800 packages: the CBOR
// alone, then all of Encode (which adds compression), each through the
// library and directly.
func BenchmarkEncodeSoftware(b *testing.B) {
	rec := benchSoftwareRecord(800)
	b.Run("cbor/library", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := encMode.Marshal(&rec); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cbor/direct", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = appendSoftwareCBOR(buf[:0], &rec)
		}
	})
	b.Run("Encode/library", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p, err := encMode.Marshal(&rec)
			if err != nil {
				b.Fatal(err)
			}
			encodePayload(p)
		}
	})
	b.Run("Encode/direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Encode(&rec); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchSoftwareRecord(n int) SoftwareRecord {
	rng := rand.New(rand.NewPCG(3, 4))
	rec := SoftwareRecord{Items: make([]Installed, n)}
	for i := range rec.Items {
		name := fmt.Sprintf("lib%s%d", []string{"foobar", "ssl", "gtk", "python3-", "x11-"}[i%5], i)
		arch := "amd64"
		if i%4 == 0 {
			arch = "all"
		}
		rec.Items[i] = Installed{Title: name, Name: name, Version: fmt.Sprintf("%d.%d.%d-%d", i%3+1, i%10, i%17, i%4+1),
			Arch: arch, Publisher: "Debian", Source: "dpkg", Installed: 1_700_000_000 + rng.Int64N(30_000_000)}
	}
	return rec
}

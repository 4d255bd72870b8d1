package cmdb

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func TestCodecCompressesLargeValues(t *testing.T) {
	rec := SoftwareRecord{}
	for i := range 800 {
		rec.Items = append(rec.Items, Installed{Title: fmt.Sprintf("libpackage%d", i), Name: fmt.Sprintf("libpackage%d", i),
			Version: fmt.Sprintf("1.%d.%d-1", i%7, i%13), Arch: "amd64", Publisher: "Debian", Source: "dpkg", Installed: 1_700_000_000})
	}
	v, err := Encode(rec)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := encMode.Marshal(rec)
	if v[0] != formatCBORZstd || len(v) > len(plain)/2 {
		t.Fatalf("800 packages: format %#x, %d bytes from %d of CBOR; want zstd and at most half", v[0], len(v), len(plain))
	}
	t.Logf("800 packages: %d bytes of CBOR, %d compressed", len(plain), len(v))
	var back SoftwareRecord
	if err := Decode(v, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Items) != 800 || back.Items[799] != rec.Items[799] {
		t.Fatalf("round trip lost items: %d", len(back.Items))
	}
	// Deterministic: the same record encodes to the same bytes, which
	// PutSoftware relies on to skip unchanged records.
	if v2, _ := Encode(rec); !bytes.Equal(v, v2) {
		t.Error("two encodings of one record differ")
	}
	// Small values stay plain.
	small, _ := Encode(Installed{Name: "x"})
	if small[0] != formatCBOR {
		t.Errorf("small value: format %#x", small[0])
	}
	// Corruption is an error, never a panic or a wrong value.
	for _, bad := range [][]byte{nil, {0x09, 1, 2}, append([]byte{formatCBORZstd}, v[1:len(v)/2]...), {formatCBORZstd, 0xff, 0xff}} {
		if err := Decode(bad, &back); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Decode(%x...): %v, want ErrCorrupt", bad[:min(len(bad), 4)], err)
		}
	}
}

// TestDecodeSoftwareMatchesCBOR checks the software record fast path
// against the general decoder on varied records, and that it declines what
// it does not know.
func TestDecodeSoftwareMatchesCBOR(t *testing.T) {
	recs := []SoftwareRecord{
		{},
		{Items: []Installed{}},
		{Items: []Installed{{Title: "a", Name: "a"}}},
		{Items: []Installed{
			{Title: "curl", Name: "curl", Version: "7.88.1-10+deb12u5", Arch: "amd64", Publisher: "Debian", Source: "dpkg", Installed: 1_700_000_000},
			{Title: "microsoft edge", Name: "Microsoft Edge", Version: "120.0", Arch: "x64", Publisher: "Microsoft", Source: "msi", Installed: -5},
			{Title: "x", Name: "x", Version: "", Arch: "amd64", Source: "dpkg"},
			{Title: "ünïcode", Name: "Ünïcode", Version: "1", Installed: 1 << 40},
		}},
	}
	for i := range 300 {
		recs[3].Items = append(recs[3].Items, Installed{Title: fmt.Sprintf("p%d", i), Name: fmt.Sprintf("p%d", i), Version: fmt.Sprintf("%d", i), Arch: "amd64", Source: "dpkg"})
	}
	for i, rec := range recs {
		v, err := Encode(rec)
		if err != nil {
			t.Fatal(err)
		}
		p, err := payloadCopy(v)
		if err != nil {
			t.Fatal(err)
		}
		var fast, slow SoftwareRecord
		if err := decodeSoftware(p, &fast); err != nil {
			t.Fatalf("record %d: fast path declined: %v", i, err)
		}
		if err := decMode.Unmarshal(p, &slow); err != nil {
			t.Fatal(err)
		}
		if len(fast.Items) != len(slow.Items) {
			t.Fatalf("record %d: %d items, want %d", i, len(fast.Items), len(slow.Items))
		}
		for k := range fast.Items {
			if fast.Items[k] != slow.Items[k] {
				t.Fatalf("record %d item %d: %+v, want %+v", i, k, fast.Items[k], slow.Items[k])
			}
		}
	}
	// Other shapes are left to the general decoder.
	other, _ := encMode.Marshal(map[int]any{1: []any{map[int]any{1: "a", 9: "b"}}})
	if err := decodeSoftware(other, &SoftwareRecord{}); err == nil {
		t.Error("fast path accepted an unknown field")
	}
	other, _ = encMode.Marshal(map[int]any{1: []any{map[int]any{1: 5}}})
	if err := decodeSoftware(other, &SoftwareRecord{}); err == nil {
		t.Error("fast path accepted a number for a title")
	}
}

func FuzzDecodeSoftware(f *testing.F) {
	v, _ := Encode(SoftwareRecord{Items: []Installed{{Title: "a", Name: "a", Version: "1", Arch: "amd64", Installed: 3}}})
	p, _ := payloadCopy(v)
	f.Add(p)
	f.Fuzz(func(t *testing.T, p []byte) {
		var fast, slow SoftwareRecord
		if decodeSoftware(p, &fast) != nil {
			return
		}
		// What the fast path accepts, the general decoder reads the same.
		if err := decMode.Unmarshal(p, &slow); err != nil {
			t.Fatalf("fast path accepted what CBOR rejects: %v", err)
		}
		if len(fast.Items) != len(slow.Items) {
			t.Fatalf("%d items, want %d", len(fast.Items), len(slow.Items))
		}
		for k := range fast.Items {
			if fast.Items[k] != slow.Items[k] {
				t.Fatalf("item %d: %+v, want %+v", k, fast.Items[k], slow.Items[k])
			}
		}
	})
}

// payloadCopy returns a copy of the CBOR of an encoded value.
func payloadCopy(v []byte) (p []byte, err error) {
	err = WithPayload(v, func(b []byte) error { p = append([]byte(nil), b...); return nil })
	return p, err
}

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

package gather

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	parcv1 "parc/proto/parc/v1"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fakeStatfs gives every mount point the same size and usage.
func fakeStatfs(string) (uint64, uint64, error) { return 100 << 30, 25 << 30, nil }

// TestGoldenLinux gathers the fixture tree testdata/linux with a fake
// Source and Runner and compares the report with testdata/linux.golden.json.
func TestGoldenLinux(t *testing.T) {
	root := copyTree(t, "testdata/linux")
	dmi := filepath.Join(root, "sys/firmware/dmi/tables")
	if err := os.MkdirAll(dmi, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dmi, "DMI"), smbiosTable(), 0o444); err != nil {
		t.Fatal(err)
	}
	env := &Env{Root: root, Source: fakeSource{}, Runner: fixtureRunner(t), Statfs: fakeStatfs}
	res := Run(context.Background(), env, Default())
	got := marshalResult(t, res)
	golden := filepath.Join("testdata", "linux.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("inventory differs from %s (rerun with -update after checking):\n%s", golden, got)
	}
}

// marshalResult renders a result as stable, indented JSON (protojson
// randomizes its whitespace on purpose).
func marshalResult(t *testing.T, res Result) []byte {
	t.Helper()
	b, err := protojson.Marshal(&parcv1.Report{Inventory: res.Inventory, Errors: res.Errors})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	var c bytes.Buffer
	if err := json.Compact(&c, b); err != nil {
		t.Fatal(err)
	}
	if err := json.Indent(&out, c.Bytes(), "", "  "); err != nil {
		t.Fatal(err)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// fixtureRunner answers the commands gatherers run from files in
// testdata/commands.
func fixtureRunner(t *testing.T) fakeRunner {
	t.Helper()
	return fakeRunner{
		"rpm":       "testdata/commands/rpm-qa.txt",
		"systemctl": "testdata/commands/systemctl-list-units.json",
	}
}

// smbiosTable builds a small SMBIOS structure table: a BIOS structure, two
// populated DIMMs (one with the extended size field), an empty slot and the
// end-of-table marker.
func smbiosTable() []byte {
	var b []byte
	add := func(typ byte, formatted []byte, strs ...string) {
		b = append(b, typ, byte(4+len(formatted)), 0, 0)
		b = append(b, formatted...)
		for _, s := range strs {
			b = append(b, s...)
			b = append(b, 0)
		}
		if len(strs) == 0 {
			b = append(b, 0)
		}
		b = append(b, 0)
	}
	add(0, make([]byte, 20), "Vendor", "1.0")
	dimm := func(size uint16, ext uint32, typ byte, speed uint16) []byte {
		f := make([]byte, 0x22-4)
		put16 := func(off int, v uint16) { f[off-4], f[off-3] = byte(v), byte(v>>8) }
		put16(0x0C, size)
		f[0x10-4], f[0x11-4] = 1, 2 // locator, bank locator strings
		f[0x12-4] = typ
		put16(0x15, speed)
		f[0x17-4], f[0x18-4], f[0x1A-4] = 3, 4, 5
		f[0x1C-4], f[0x1D-4], f[0x1E-4], f[0x1F-4] = byte(ext), byte(ext>>8), byte(ext>>16), byte(ext>>24)
		return f
	}
	add(17, dimm(16384, 0, 0x1A, 3200), "DIMM_A1", "BANK 0", "Samsung", "12345678", "M393A2K43DB3-CWE")
	add(17, dimm(0x7FFF, 65536, 0x22, 4800), "DIMM_B1", "BANK 1", "Micron", "Not Specified", "MTC40F2046S1RC48BA1")
	add(17, dimm(0, 0, 0x02, 0), "DIMM_C1", "BANK 2", "NO DIMM", "NO DIMM", "NO DIMM")
	add(127, nil)
	return b
}

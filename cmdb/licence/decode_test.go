package licence

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"parc/cmdb"
)

// TestScanInstallsMatchesDecode checks the allocation-free walk against
// the ordinary decoder on records with every field shape.
func TestScanInstallsMatchesDecode(t *testing.T) {
	c := NewCompliance([]Entitlement{{ID: "a", Title: "office"}, {ID: "b", Title: "écrit 日本"}, {ID: "c", Title: strings.Repeat("x", 300)}})
	tests := []struct {
		name  string
		items []cmdb.Installed
	}{
		{"empty", nil},
		{"minimal fields", []cmdb.Installed{{Title: "office", Name: "office", Version: "1"}}},
		{"all fields", []cmdb.Installed{{Title: "office", Name: "Office", Version: "16.0", Arch: "x64", Publisher: "Microsoft", Source: "msi", Installed: 1700000000}}},
		{"negative int", []cmdb.Installed{{Title: "office", Name: "o", Version: "1", Installed: -5}}},
		{"unicode and long", []cmdb.Installed{{Title: "écrit 日本", Name: "n", Version: "2"}, {Title: strings.Repeat("x", 300), Name: "l", Version: "3"}}},
		{"many unlicensed", func() []cmdb.Installed {
			var out []cmdb.Installed
			for i := range 300 {
				out = append(out, cmdb.Installed{Title: fmt.Sprint("t", i), Name: fmt.Sprint("p", i), Version: "1.0", Arch: "amd64", Source: "dpkg", Installed: int64(i) << 20})
			}
			return append(out, cmdb.Installed{Title: "office", Name: "z", Version: "9"})
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := cmdb.Encode(cmdb.SoftwareRecord{Items: tt.items})
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.scanInstalls(v)
			if err != nil {
				t.Fatalf("scan: %v", err)
			}
			var want []Install
			for _, it := range tt.items {
				if c.Licensed(it.Title) {
					want = append(want, Install{Title: it.Title, Version: it.Version, Publisher: it.Publisher})
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("scan = %+v, want %+v", got, want)
			}
		})
	}
	if _, err := c.scanInstalls([]byte{0x01, 0xa1, 0x02, 0x80}); err == nil {
		t.Error("unknown key accepted by the fast path")
	}
	if items, err := c.licensedInstalls([]byte{0x01, 0xa1, 0x01, 0x80}); err != nil || len(items) != 0 {
		t.Errorf("empty record: %v %v", items, err)
	}
	// Without entitlements nothing is licensed: the record is not read,
	// so not even a corrupt one fails.
	none := NewCompliance(nil)
	if items, err := none.licensedInstalls([]byte{0xff, 0x00}); err != nil || items != nil {
		t.Errorf("no entitlements: %v %v", items, err)
	}
	if _, err := c.licensedInstalls([]byte{0xff, 0x00}); err == nil {
		t.Error("corrupt record accepted with entitlements")
	}
}

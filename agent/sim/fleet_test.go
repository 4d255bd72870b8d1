package sim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	parcv1 "parc/proto/parc/v1"
)

func TestParseDeltaMix(t *testing.T) {
	for _, c := range []struct {
		in   string
		want DeltaMix
		err  string
	}{
		{in: "", want: DefaultDeltaMix},
		{in: DefaultDeltaMix.String(), want: DefaultDeltaMix},
		{in: "sockets=1", want: DeltaMix{Sockets: 1}},
		{in: " filesystems=3, software=1 ", want: DeltaMix{Filesystems: 3, Software: 1}},
		{in: "sockets=0", err: "every weight is 0"},
		{in: "disks=1", err: "unknown kind"},
		{in: "sockets=-1", err: "weight ≥ 0"},
		{in: "sockets", err: "kind=weight"},
		{in: "sockets=x", err: "kind=weight"},
		{in: "sockets=1,sockets=2", err: "given twice"},
	} {
		got, err := ParseDeltaMix(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseDeltaMix(%q) = %v, %v; want an error with %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseDeltaMix(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

// kindOf names the kind of a delta by what it carries.
func kindOf(r *parcv1.Report) string {
	inv := r.GetInventory()
	switch {
	case r.GetSoftwareChanges() != nil || inv.GetSoftware() != nil:
		return "software"
	case inv.GetFilesystems() != nil:
		return "filesystems"
	case inv.GetSockets() != nil:
		return "sockets"
	case inv.GetServices() != nil:
		return "services"
	}
	return "?"
}

func TestDeltaMix(t *testing.T) {
	for _, c := range []struct {
		mix  DeltaMix
		want map[string]bool
	}{
		{DeltaMix{Sockets: 1}, map[string]bool{"sockets": true}},
		{DeltaMix{Software: 2, Services: 1}, map[string]bool{"software": true, "services": true}},
		{DeltaMix{}, map[string]bool{"filesystems": true, "sockets": true, "services": true, "software": true}},
	} {
		f := NewFleet(30, 40, "mix")
		f.Mix = c.mix
		seen := map[string]bool{}
		for range 10 {
			for _, h := range f.Hosts {
				seen[kindOf(h.Delta())] = true
			}
		}
		if len(seen) != len(c.want) {
			t.Errorf("mix %v: deltas of kinds %v, want %v", c.mix, seen, c.want)
		}
		for k := range seen {
			if !c.want[k] {
				t.Errorf("mix %v: a delta of kind %s", c.mix, k)
			}
		}
	}
}

// TestProcessWrites reads the bytes a process had written to storage: a
// file this test writes and syncs shows, and an unknown process is -1.
func TestProcessWrites(t *testing.T) {
	if _, err := os.Stat("/proc/self/io"); err != nil {
		t.Skip("no /proc/PID/io here")
	}
	pid := os.Getpid()
	w0 := ProcessWrites(pid)
	if w0 < 0 {
		t.Fatalf("ProcessWrites(self) = %d", w0)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const n = 1 << 20
	if _, err := f.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if w1 := ProcessWrites(pid); w1-w0 < n {
		t.Errorf("after writing %d bytes: write_bytes went from %d to %d", n, w0, w1)
	}
	if w := ProcessWrites(0); w != -1 {
		t.Errorf("ProcessWrites(0) = %d, want -1", w)
	}
}

package gather

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	parcv1 "parc/proto/parc/v1"
)

// TestEmptyRootReportsWhatItCan: no /proc, no /sys, no package manager and
// a Source that fails for the CPU. Run must not crash, must keep what it
// has, must name the failures, and must not count absent package managers
// as failures.
func TestEmptyRootReportsWhatItCan(t *testing.T) {
	env := &Env{Root: t.TempDir(), Source: fakeSource{fail: true}, Runner: fakeRunner{}}
	res := Run(context.Background(), env, Default())
	if res.Inventory.GetSystem().GetHostname() != "web01" || res.Inventory.GetMemory().GetTotalBytes() == 0 {
		t.Errorf("lost what the Source could read: %v", res.Inventory)
	}
	if res.Inventory.Cpu != nil || res.Inventory.Software != nil {
		t.Errorf("invented data: cpu %v software %v", res.Inventory.Cpu, res.Inventory.Software)
	}
	failed := map[string]bool{}
	for _, e := range res.Errors {
		failed[e.Gatherer] = true
	}
	for _, want := range []string{"cpu", "filesystems"} {
		if !failed[want] {
			t.Errorf("no error recorded for %s: %v", want, res.Errors)
		}
	}
	for g := range failed {
		if strings.HasPrefix(g, "software.") || g == "services" || g == "firmware" || g == "devices" || g == "dimms" || g == "sockets" {
			t.Errorf("absent %s reported as a failure", g)
		}
	}
}

// TestPanickingGathererIsRecorded: a gatherer bug costs its section, not
// the agent.
func TestPanickingGathererIsRecorded(t *testing.T) {
	gs := map[string]Gatherer{
		"boom": Func(func(context.Context, *Env) (*parcv1.Inventory, error) {
			var m map[string]int
			m["x"]++
			return nil, nil
		}),
		"ok": Func(func(context.Context, *Env) (*parcv1.Inventory, error) {
			return &parcv1.Inventory{System: &parcv1.System{Hostname: "h"}}, nil
		}),
		"joined": Func(func(context.Context, *Env) (*parcv1.Inventory, error) {
			return nil, errors.Join(errors.New("one"), ErrNotPresent, errors.New("two"))
		}),
	}
	res := Run(context.Background(), &Env{}, gs)
	if res.Inventory.GetSystem().GetHostname() != "h" {
		t.Error("lost the healthy gatherer's data")
	}
	if len(res.Errors) != 3 || res.Errors[0].Gatherer != "boom" || !strings.HasPrefix(res.Errors[0].Message, "panic:") ||
		res.Errors[1].Message != "one" || res.Errors[2].Message != "two" {
		t.Errorf("errors = %v", res.Errors)
	}
}

func TestParsersOnOddInput(t *testing.T) {
	for name, f := range map[string]func() (int, error){
		"dpkg truncated": func() (int, error) {
			l, err := parseDpkgStatus([]byte("Package: a\nStatus: install ok installed\nVersion: 1\n\nPackage: b\nStat"))
			return len(l), err
		},
		"dpkg binary junk": func() (int, error) { l, err := parseDpkgStatus([]byte("\x00\xff\n\n:\n")); return len(l), err },
		"apk empty":        func() (int, error) { l, err := parseAPKInstalled(""); return len(l), err },
		"rpm empty":        func() (int, error) { l, err := parseRPMQuery("\n"); return len(l), err },
		"systemctl plain": func() (int, error) {
			l, err := parseSystemctlPlain("● foo.service loaded failed failed Foo daemon\nbar.service loaded active running Bar\nshort\n")
			return len(l), err
		},
		"mountinfo empty": func() (int, error) { l, err := parseMountinfo(""); return len(l), err },
		"proc net header only": func() (int, error) {
			l, err := parseProcNet(false, []byte("  sl  local_address rem_address st\n"), nil)
			return len(l), err
		},
		"smbios truncated": func() (int, error) {
			l, err := parseSMBIOSMemory([]byte{17, 200, 0, 0, 1, 2})
			return len(l), err
		},
	} {
		n, err := f()
		t.Logf("%s: %d items, err %v", name, n, err)
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: error %v is not ErrMalformed", name, err)
		}
	}
	if l, _ := parseSystemctlPlain("● foo.service loaded failed failed Foo daemon\n"); l[0].State != "failed" || l[0].Name != "foo.service" {
		t.Errorf("plain systemctl parsed as %v", l)
	}
	if l, _ := parseDpkgStatus([]byte("Package: a\nStatus: install ok installed\nVersion: 1\n\nPackage: b\nStat")); len(l) != 1 {
		t.Errorf("truncated dpkg status: %d packages, want 1", len(l))
	}
}

// TestUnreadableEntriesAreRecorded: files that exist but cannot be read
// (here: directories where files belong, which fails for root too) are
// failures, recorded by gatherer, and the rest of the report survives.
func TestUnreadableEntriesAreRecorded(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/status", "proc/net/tcp", "proc/self/mountinfo", "lib/apk/db/installed", "sys/firmware/dmi/tables/DMI"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	res := Run(context.Background(), &Env{Root: root, Source: fakeSource{}, Runner: fakeRunner{}}, Default())
	failed := map[string]bool{}
	for _, e := range res.Errors {
		failed[e.Gatherer] = true
	}
	for _, g := range []string{"software.dpkg", "sockets", "filesystems", "software.apk", "dimms"} {
		if !failed[g] {
			t.Errorf("%s: unreadable input not recorded (errors: %v)", g, res.Errors)
		}
	}
	if res.Inventory.GetCpu().GetThreads() == 0 {
		t.Error("the rest of the report was lost")
	}
}

package health

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	parcv1 "parc/proto/parc/v1"
)

// smartRunner answers `smartctl -H -j /dev/X` from testdata files.
type smartRunner map[string]string

func (smartRunner) LookPath(string) (string, error) { return "/usr/sbin/smartctl", nil }
func (r smartRunner) Output(_ context.Context, name string, args ...string) ([]byte, error) {
	dev := args[len(args)-1]
	f, ok := r[dev]
	if !ok {
		return nil, errors.New("no such device")
	}
	b, err := os.ReadFile("testdata/" + f)
	if err != nil {
		return nil, err
	}
	return b, fmt.Errorf("exit status 8") // smartctl's bit mask: output still counts
}

func inventory(used uint64, failedUnit bool) *parcv1.Inventory {
	inv := &parcv1.Inventory{
		Filesystems: &parcv1.Filesystems{Items: []*parcv1.Filesystem{
			{MountPoint: "/", SizeBytes: 1000, UsedBytes: used},
			{MountPoint: "/home", SizeBytes: 1000, UsedBytes: 10},
			{MountPoint: "/empty"},
		}},
		Services: &parcv1.Services{Items: []*parcv1.Service{{Name: "nginx.service", State: "active", SubState: "running"}}},
		Disks:    &parcv1.Disks{Items: []*parcv1.Disk{{Name: "sda"}, {Name: "nvme0n1"}, {Name: "vda"}, {Name: "sdz"}}},
	}
	if failedUnit {
		inv.Services.Items = append(inv.Services.Items, &parcv1.Service{Name: "backup.service", State: "failed", SubState: "failed"})
	}
	return inv
}

func summary(evs []*parcv1.HealthEvent) string {
	var s []string
	for _, e := range evs {
		s = append(s, fmt.Sprintf("%s %s ok=%v", e.Kind, e.Subject, e.Ok))
	}
	return strings.Join(s, "; ")
}

func TestTransitionsOnly(t *testing.T) {
	m := &Monitor{FSThresholdPercent: 90, Runner: smartRunner{
		"/dev/sda": "smartctl-failed.json", "/dev/nvme0n1": "smartctl-passed.json", "/dev/vda": "smartctl-unsupported.json"}}
	ctx, now := context.Background(), time.Unix(1700000000, 0)
	steps := []struct {
		name   string
		inv    *parcv1.Inventory
		events string
	}{
		{"first look", inventory(950, true),
			"FILESYSTEM_FULL / ok=false; SERVICE_FAILED backup.service ok=false; DISK_FAILURE sda ok=false"},
		{"nothing new", inventory(960, true), ""},
		{"recovered", inventory(500, false), "FILESYSTEM_FULL / ok=true; SERVICE_FAILED backup.service ok=true"},
		{"at the threshold", inventory(900, false), "FILESYSTEM_FULL / ok=false"},
	}
	for _, st := range steps {
		if got := summary(m.Check(ctx, st.inv, now)); got != st.events {
			t.Errorf("%s: events %q, want %q", st.name, got, st.events)
		}
	}
	m.Reset()
	if got := summary(m.Check(ctx, inventory(900, false), now)); !strings.Contains(got, "FILESYSTEM_FULL / ok=false") {
		t.Errorf("after Reset: %q, want the open problems again", got)
	}
}

func TestParseSmartctl(t *testing.T) {
	for _, tc := range []struct {
		file       string
		failed, ok bool
	}{
		{"smartctl-failed.json", true, true},
		{"smartctl-passed.json", false, true},
		{"smartctl-unsupported.json", false, false},
	} {
		b, err := os.ReadFile("testdata/" + tc.file)
		if err != nil {
			t.Fatal(err)
		}
		if failed, ok := ParseSmartctl(b); failed != tc.failed || ok != tc.ok {
			t.Errorf("%s: failed=%v ok=%v, want %v %v", tc.file, failed, ok, tc.failed, tc.ok)
		}
	}
	if _, ok := ParseSmartctl([]byte("Permission denied")); ok {
		t.Error("garbage parsed as a verdict")
	}
}

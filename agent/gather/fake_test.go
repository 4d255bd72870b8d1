package gather

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	parcv1 "parc/proto/parc/v1"
)

// fakeSource returns fixed facts.
type fakeSource struct{ fail bool }

func (f fakeSource) Host(context.Context) (*parcv1.System, error) {
	return &parcv1.System{Hostname: "web01", OsName: "Debian GNU/Linux", OsVersion: "12", OsFamily: "debian",
		Kernel: "6.1.0-18-amd64", Arch: "x86_64", MachineId: "0123456789abcdef0123456789abcdef",
		BootTime: 1700000000, VirtualizationRole: "host", VirtualizationType: "kvm", Users: []string{"bob", "alice", "bob"}}, nil
}
func (f fakeSource) CPU(context.Context) (*parcv1.CPU, error) {
	if f.fail {
		return nil, errors.New("cpuinfo unreadable")
	}
	return &parcv1.CPU{Model: "Intel(R) Xeon(R) Gold 6338", Vendor: "GenuineIntel", Sockets: 2, Cores: 64, Threads: 128, Mhz: 2000}, nil
}
func (f fakeSource) Memory(context.Context) (*parcv1.Memory, error) {
	return &parcv1.Memory{TotalBytes: 270000000000}, nil
}
func (f fakeSource) Disks(context.Context) ([]*parcv1.Disk, error) {
	return []*parcv1.Disk{{Name: "sdb", Model: "ST4000NM", Serial: "Z1Z2", SizeBytes: 4e12, Type: "hdd", Rotational: true},
		{Name: "nvme0n1", Model: "Samsung SSD 980", Serial: "S5", SizeBytes: 1e12, Type: "ssd",
			Partitions: []*parcv1.Partition{{Name: "nvme0n1p2", SizeBytes: 9e11}, {Name: "nvme0n1p1", SizeBytes: 5e8, FsType: "vfat", MountPoint: "/boot/efi"}}}}, nil
}
func (f fakeSource) Filesystems(context.Context) ([]*parcv1.Filesystem, error) { return nil, nil }
func (f fakeSource) NICs(context.Context) ([]*parcv1.NIC, error) {
	return []*parcv1.NIC{{Name: "eth0", Mac: "52:54:00:12:34:56", SpeedMbps: 10000, Addresses: []string{"10.1.2.3/24", "fe80::1/64"}, Driver: "ixgbe"},
		{Name: "docker0", Mac: "02:42:ac:11:00:01", Virtual: true}}, nil
}

// fakeRunner answers commands by name from a map of command name to the
// fixture file holding its output; a command not in the map is not
// installed.
type fakeRunner map[string]string

func (f fakeRunner) LookPath(name string) (string, error) {
	if _, ok := f[name]; ok {
		return "/usr/bin/" + name, nil
	}
	return "", fmt.Errorf("%s: %w", name, fs.ErrNotExist)
}

func (f fakeRunner) Output(_ context.Context, name string, args ...string) ([]byte, error) {
	file, ok := f[name]
	if !ok {
		return nil, fmt.Errorf("fake runner: %s %s: %w", name, strings.Join(args, " "), fs.ErrNotExist)
	}
	return os.ReadFile(file)
}

// fixedTime is the modification time given to every file of a copied
// fixture tree, so install dates in golden files do not depend on checkout.
var fixedTime = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// copyTree copies a fixture tree to a temporary directory, keeping symlinks
// and setting every mtime to fixedTime.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	var dirs []string
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, target)
		case d.IsDir():
			dirs = append(dirs, target)
			return os.MkdirAll(target, 0o755)
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := os.WriteFile(target, b, 0o644); err != nil {
				return err
			}
			return os.Chtimes(target, fixedTime, fixedTime)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if err := os.Chtimes(d, fixedTime, fixedTime); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

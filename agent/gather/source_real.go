package gather

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/shirou/gopsutil/v4/common"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/shirou/gopsutil/v4/net"

	parcv1 "parc/proto/parc/v1"
)

// realSource reads the machine through ghw and gopsutil, both pointed at
// root (ghw's chroot option, gopsutil's HOST_* environment context). Where
// a library is slow or spawns tools, the per-OS helpers read /sys directly
// (see source_linux.go).
type realSource struct {
	root string
}

// NewSource returns the Source of the machine whose filesystem is mounted at
// root ("/" for this machine).
func NewSource(root string) Source {
	if root == "" {
		root = "/"
	}
	return &realSource{root: root}
}

func (s *realSource) ctx(ctx context.Context) context.Context {
	if s.root == "/" {
		return ctx
	}
	return context.WithValue(ctx, common.EnvKey, common.EnvMap{
		common.HostProcEnvKey: filepath.Join(s.root, "proc"),
		common.HostSysEnvKey:  filepath.Join(s.root, "sys"),
		common.HostEtcEnvKey:  filepath.Join(s.root, "etc"),
		common.HostVarEnvKey:  filepath.Join(s.root, "var"),
		common.HostRunEnvKey:  filepath.Join(s.root, "run"),
		common.HostDevEnvKey:  filepath.Join(s.root, "dev"),
		common.HostRootEnvKey: s.root,
	})
}

func (s *realSource) path(p string) string { return filepath.Join(s.root, p) }

func (s *realSource) Host(ctx context.Context) (*parcv1.System, error) {
	ctx = s.ctx(ctx)
	sys := &parcv1.System{Arch: runtime.GOARCH}
	var errs []error
	var err error
	if sys.Hostname, err = s.hostname(); err != nil {
		errs = append(errs, fmt.Errorf("hostname: %w", err))
	}
	if sys.OsName, sys.OsVersion, sys.OsFamily, err = s.platform(ctx); err != nil {
		errs = append(errs, fmt.Errorf("platform: %w", err))
	}
	if sys.Kernel, err = host.KernelVersionWithContext(ctx); err != nil {
		errs = append(errs, fmt.Errorf("kernel: %w", err))
	}
	if a, err := host.KernelArch(); err == nil && a != "" {
		sys.Arch = a
	}
	sys.MachineId = s.machineID(ctx)
	if bt, err := host.BootTimeWithContext(ctx); err != nil {
		errs = append(errs, fmt.Errorf("boot time: %w", err))
	} else {
		sys.BootTime = int64(bt)
	}
	if typ, role, err := host.VirtualizationWithContext(ctx); err == nil {
		sys.VirtualizationType, sys.VirtualizationRole = typ, role
	}
	sys.Users = s.users(ctx)
	return sys, errors.Join(errs...)
}

func (s *realSource) Memory(ctx context.Context) (*parcv1.Memory, error) {
	vm, err := mem.VirtualMemoryWithContext(s.ctx(ctx))
	if err != nil {
		return nil, fmt.Errorf("gopsutil memory: %w", err)
	}
	return &parcv1.Memory{TotalBytes: vm.Total}, nil
}

func (s *realSource) Filesystems(ctx context.Context) ([]*parcv1.Filesystem, error) {
	ctx = s.ctx(ctx)
	parts, err := disk.PartitionsWithContext(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("gopsutil partitions: %w", err)
	}
	var out []*parcv1.Filesystem
	var errs []error
	for _, p := range parts {
		fs := &parcv1.Filesystem{Device: p.Device, MountPoint: p.Mountpoint, Type: p.Fstype}
		if u, err := disk.UsageWithContext(ctx, p.Mountpoint); err == nil {
			fs.SizeBytes, fs.UsedBytes = u.Total, u.Used
		} else {
			errs = append(errs, fmt.Errorf("usage of %s: %w", p.Mountpoint, err))
		}
		out = append(out, fs)
	}
	return out, errors.Join(errs...)
}

func (s *realSource) NICs(ctx context.Context) ([]*parcv1.NIC, error) {
	ifs, err := net.InterfacesWithContext(s.ctx(ctx))
	if err != nil {
		return nil, fmt.Errorf("gopsutil interfaces: %w", err)
	}
	var nics []*parcv1.NIC
	for _, i := range ifs {
		n := &parcv1.NIC{Name: i.Name, Mac: strings.ToLower(i.HardwareAddr)}
		for _, a := range i.Addrs {
			n.Addresses = append(n.Addresses, a.Addr)
		}
		s.nicDetails(n)
		nics = append(nics, n)
	}
	return nics, nil
}

//go:build !linux

package gather

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/jaypipes/ghw"
	"github.com/jaypipes/ghw/pkg/block"
	"github.com/shirou/gopsutil/v4/cpu"

	"github.com/shirou/gopsutil/v4/host"

	parcv1 "parc/proto/parc/v1"
)

func (s *realSource) hostname() (string, error) { return os.Hostname() }

func (s *realSource) platform(ctx context.Context) (name, version, family string, err error) {
	return host.PlatformInformationWithContext(ctx)
}

// machineID is the Windows MachineGuid or the macOS IOPlatformUUID.
func (s *realSource) machineID(ctx context.Context) string {
	id, _ := host.HostIDWithContext(ctx)
	return id
}

// nicDetails has nothing more to add outside Linux: gopsutil's interface
// list has no speed or bus information there.
func (s *realSource) nicDetails(*parcv1.NIC) {}

func (s *realSource) users(ctx context.Context) []string {
	var out []string
	us, _ := host.UsersWithContext(ctx)
	for _, u := range us {
		if u.User != "" {
			out = append(out, u.User)
		}
	}
	return out
}

// Disks asks ghw outside Linux (WMI on Windows, diskutil on macOS).
func (s *realSource) Disks(ctx context.Context) ([]*parcv1.Disk, error) {
	info, err := ghw.Block(ghw.WithChroot(s.root), ghw.WithDisableWarnings(), ghw.WithDisableTools())
	if err != nil {
		return nil, fmt.Errorf("ghw block: %w", err)
	}
	var disks []*parcv1.Disk
	for _, d := range info.Disks {
		if skipDisk(d) {
			continue
		}
		pd := &parcv1.Disk{
			Name:       d.Name,
			Model:      junk(d.Model),
			Serial:     junk(d.SerialNumber),
			Vendor:     junk(d.Vendor),
			SizeBytes:  d.SizeBytes,
			Type:       strings.ToLower(d.DriveType.String()),
			Rotational: d.DriveType == block.DriveTypeHDD,
		}
		for _, p := range d.Partitions {
			pd.Partitions = append(pd.Partitions, &parcv1.Partition{
				Name: p.Name, SizeBytes: p.SizeBytes, FsType: junk(p.Type), MountPoint: p.MountPoint,
			})
		}
		disks = append(disks, pd)
	}
	return disks, nil
}

// skipDisk drops block devices that are not disks: loop, ram and zram
// devices.
func skipDisk(d *block.Disk) bool {
	if d.StorageController == block.StorageControllerLoop {
		return true
	}
	for _, p := range []string{"loop", "ram", "zram"} {
		if strings.HasPrefix(d.Name, p) {
			return true
		}
	}
	return false
}

// CPU asks ghw for the topology and gopsutil for the frequency.
func (s *realSource) CPU(ctx context.Context) (*parcv1.CPU, error) {
	info, err := ghw.CPU(ghw.WithChroot(s.root), ghw.WithDisableWarnings())
	if err != nil {
		return nil, fmt.Errorf("ghw cpu: %w", err)
	}
	c := &parcv1.CPU{
		Sockets: uint32(len(info.Processors)),
		Cores:   info.TotalCores,
		Threads: info.TotalHardwareThreads,
	}
	if len(info.Processors) > 0 {
		c.Vendor = info.Processors[0].Vendor
		c.Model = info.Processors[0].Model
	}
	// ghw does not report the frequency; gopsutil does (cpuinfo_max_freq,
	// else "cpu MHz"). Whole MHz only, so that the section hash is stable.
	if ci, err := cpu.InfoWithContext(s.ctx(ctx)); err == nil && len(ci) > 0 {
		c.Mhz = float64(int64(ci[0].Mhz))
		if c.Model == "" {
			c.Model = ci[0].ModelName
		}
	}
	return c, nil
}

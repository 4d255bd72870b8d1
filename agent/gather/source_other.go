//go:build !linux

package gather

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/jaypipes/ghw"
	"github.com/jaypipes/ghw/pkg/block"

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

//go:build !linux

package gather

import (
	"context"
	"os"

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

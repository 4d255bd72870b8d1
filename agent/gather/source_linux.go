package gather

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/shirou/gopsutil/v4/host"

	parcv1 "parc/proto/parc/v1"
)

func (s *realSource) hostname() (string, error) {
	if h := readString(s.path("/proc/sys/kernel/hostname")); h != "" {
		return h, nil
	}
	if h := readString(s.path("/etc/hostname")); h != "" {
		return h, nil
	}
	if s.root == "/" {
		return os.Hostname()
	}
	return "", ErrNotPresent
}

// platform reads os-release instead of gopsutil's PlatformInformation, which
// may spawn lsb_release (a Python script, ~100 ms) on Debian.
func (s *realSource) platform(context.Context) (name, version, family string, err error) {
	b, err := os.ReadFile(s.path("/etc/os-release"))
	if err != nil {
		b, err = os.ReadFile(s.path("/usr/lib/os-release"))
		if err != nil {
			return "", "", "", err
		}
	}
	return parseOSRelease(string(b))
}

func (s *realSource) machineID(context.Context) string {
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		if id := readString(s.path(p)); id != "" {
			return id
		}
	}
	return ""
}

// nicDetails reads speed, driver and whether the interface is virtual from
// /sys/class/net (ghw's net module would spawn ethtool for each NIC).
func (s *realSource) nicDetails(n *parcv1.NIC) {
	dir := s.path(filepath.Join("/sys/class/net", n.Name))
	if sp, err := strconv.ParseInt(readString(filepath.Join(dir, "speed")), 10, 64); err == nil && sp > 0 {
		n.SpeedMbps = sp
	}
	if _, err := os.Stat(filepath.Join(dir, "device")); err != nil {
		n.Virtual = true
	}
	if l, err := os.Readlink(filepath.Join(dir, "device", "driver")); err == nil {
		n.Driver = filepath.Base(l)
	}
}

// parseOSRelease returns NAME, VERSION_ID and the family (first word of
// ID_LIKE, else ID) of an os-release file.
func parseOSRelease(s string) (name, version, family string, err error) {
	kv := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		} else {
			v = strings.Trim(v, `"'`)
		}
		kv[k] = v
	}
	name = kv["NAME"]
	version = kv["VERSION_ID"]
	if version == "" {
		version = kv["VERSION"]
	}
	if f := strings.Fields(kv["ID_LIKE"]); len(f) > 0 {
		family = f[0]
	} else {
		family = kv["ID"]
	}
	return name, version, family, nil
}

// users returns the logged-in users from utmp (gopsutil) or, where utmp is
// gone (Debian 13), from systemd-logind's session files: gopsutil's own
// fallback spawns loginctl once per session.
func (s *realSource) users(ctx context.Context) []string {
	var out []string
	if _, err := os.Stat(s.path("/run/utmp")); err == nil {
		us, _ := host.UsersWithContext(ctx)
		for _, u := range us {
			if u.User != "" {
				out = append(out, u.User)
			}
		}
		return out
	}
	files, _ := filepath.Glob(s.path("/run/systemd/sessions/*"))
	for _, f := range files {
		if strings.HasSuffix(f, ".ref") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var user, class string
		for _, l := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(l, "=")
			switch k {
			case "USER":
				user = v
			case "CLASS":
				class = v
			}
		}
		if user != "" && strings.HasPrefix(class, "user") {
			out = append(out, user)
		}
	}
	return out
}

package gather

import (
	"context"
	"fmt"
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

// Disks reads /sys/block directly: ghw's block module took 30-100 ms here
// (it walks udev and partition data for loop devices too), this takes
// about a millisecond. Loop, ram, zram and device-mapper devices are not
// disks and are skipped. Serials come from sysfs or, for SATA/SCSI disks,
// from udev's database.
func (s *realSource) Disks(ctx context.Context) ([]*parcv1.Disk, error) {
	dir := s.path("/sys/block")
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read /sys/block: %w", err)
	}
	mounts := s.mountsByDevice()
	var disks []*parcv1.Disk
	for _, de := range des {
		name := de.Name()
		if skipBlockDevice(name) {
			continue
		}
		p := filepath.Join(dir, name)
		d := &parcv1.Disk{
			Name:      name,
			SizeBytes: sectors(filepath.Join(p, "size")),
			Model:     junk(readString(filepath.Join(p, "device", "model"))),
			Vendor:    junk(readString(filepath.Join(p, "device", "vendor"))),
			Serial:    junk(readString(filepath.Join(p, "device", "serial"))),
		}
		if d.Serial == "" {
			d.Serial = junk(readString(filepath.Join(p, "serial")))
		}
		udev := s.udevProps(readString(filepath.Join(p, "dev")))
		if d.Serial == "" {
			d.Serial = junk(udev["ID_SERIAL_SHORT"])
		}
		if d.Model == "" {
			d.Model = junk(strings.ReplaceAll(udev["ID_MODEL"], "_", " "))
		}
		d.Rotational = readString(filepath.Join(p, "queue", "rotational")) == "1"
		switch {
		case strings.HasPrefix(name, "sr"):
			d.Type = "odd"
		case strings.HasPrefix(name, "fd"):
			d.Type = "fdd"
		case d.Rotational:
			d.Type = "hdd"
		default:
			d.Type = "ssd"
		}
		parts, _ := os.ReadDir(p)
		for _, pe := range parts {
			pp := filepath.Join(p, pe.Name())
			if !exists(filepath.Join(pp, "partition")) {
				continue
			}
			m := mounts["/dev/"+pe.Name()]
			part := &parcv1.Partition{Name: pe.Name(), SizeBytes: sectors(filepath.Join(pp, "size")), FsType: m.fstype, MountPoint: m.dir}
			if part.FsType == "" {
				part.FsType = s.udevProps(readString(filepath.Join(pp, "dev")))["ID_FS_TYPE"]
			}
			d.Partitions = append(d.Partitions, part)
		}
		disks = append(disks, d)
	}
	return disks, nil
}

func skipBlockDevice(name string) bool {
	for _, p := range []string{"loop", "ram", "zram", "dm-", "nbd"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// sectors reads a sysfs size file, which counts 512-byte sectors whatever
// the device's block size.
func sectors(p string) uint64 {
	n, _ := strconv.ParseUint(readString(p), 10, 64)
	return n * 512
}

type mount struct{ dir, fstype string }

// mountsByDevice maps block device paths to their first mount.
func (s *realSource) mountsByDevice() map[string]mount {
	out := map[string]mount{}
	b, err := os.ReadFile(s.path("/proc/self/mounts"))
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || !strings.HasPrefix(f[0], "/dev/") {
			continue
		}
		if _, ok := out[f[0]]; !ok {
			out[f[0]] = mount{unescapeMount(f[1]), f[2]}
		}
	}
	return out
}

// udevProps reads the E: properties of udev's database entry for a block
// device "MAJ:MIN" (empty when udev does not run).
func (s *realSource) udevProps(devno string) map[string]string {
	out := map[string]string{}
	if devno == "" {
		return out
	}
	b, err := os.ReadFile(s.path("/run/udev/data/b" + devno))
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		if kv, ok := strings.CutPrefix(line, "E:"); ok {
			k, v, _ := strings.Cut(kv, "=")
			out[k] = v
		}
	}
	return out
}

// CPU parses /proc/cpuinfo: model and vendor of the first processor,
// sockets as distinct "physical id"s, cores as distinct (physical id, core
// id) pairs, threads as "processor" entries, and the frequency from
// cpuinfo_max_freq when cpufreq exists, else "cpu MHz" (whole MHz, so the
// section hash does not follow the clock). ghw's cpu module reads the same
// files plus the whole sysfs topology, and linking it doubles the binary's
// resident text for this one call.
func (s *realSource) CPU(ctx context.Context) (*parcv1.CPU, error) {
	b, err := os.ReadFile(s.path("/proc/cpuinfo"))
	if err != nil {
		return nil, fmt.Errorf("read cpuinfo: %w", err)
	}
	c := parseCPUInfo(string(b))
	if khz, err := strconv.ParseFloat(readString(s.path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")), 64); err == nil && khz > 0 {
		c.Mhz = float64(int64(khz / 1000))
	}
	if c.Threads == 0 {
		return nil, fmt.Errorf("cpuinfo lists no processor: %w", ErrMalformed)
	}
	return c, nil
}

func parseCPUInfo(s string) *parcv1.CPU {
	c := &parcv1.CPU{}
	sockets := map[string]bool{}
	cores := map[string]bool{}
	var phys string
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "processor":
			c.Threads++
			phys = ""
		case "vendor_id", "CPU implementer":
			if c.Vendor == "" {
				c.Vendor = v
			}
		case "model name", "Processor", "cpu model":
			if c.Model == "" {
				c.Model = v
			}
		case "cpu MHz":
			if c.Mhz == 0 {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					c.Mhz = float64(int64(f))
				}
			}
		case "physical id":
			phys = v
			sockets[v] = true
		case "core id":
			cores[phys+"/"+v] = true
		}
	}
	c.Sockets, c.Cores = uint32(len(sockets)), uint32(len(cores))
	// ARM and some VMs have no topology lines: one socket, one core per
	// thread.
	if c.Sockets == 0 && c.Threads > 0 {
		c.Sockets = 1
	}
	if c.Cores == 0 {
		c.Cores = c.Threads
	}
	return c
}

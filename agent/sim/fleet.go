// Package sim simulates a fleet of agents for load tests: realistic, varied
// machines (about 800 packages each from a shared catalog, a few percent
// differing per host; listening services and connections between hosts)
// that report to a collector over the real gRPC protocol, first in full and
// then in deltas. It speaks only the wire protocol: it does not import the
// collector or the CMDB.
package sim

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"parc/agent/delta"
	"parc/agent/gather"
	parcv1 "parc/proto/parc/v1"
)

// Catalog is the shared pool of packages hosts draw from.
type Catalog struct {
	// Items holds every package at its current version; Old the same
	// packages one version behind.
	Items, Old []*parcv1.Software
	// Base is how many leading items every host has (the OS); the rest
	// are drawn per role and per host.
	Base int
}

var syllables = []string{"ab", "ar", "ba", "ce", "da", "el", "fo", "ga", "hu", "io", "ka", "le", "mo", "nu", "or",
	"pa", "qi", "ro", "sa", "tu", "ul", "va", "wo", "xe", "yo", "zu"}

var publishers = []string{"Debian", "Canonical", "Red Hat", "Microsoft Corporation", "Google LLC", "Mozilla", "Oracle Corporation",
	"Adobe Inc.", "VMware, Inc.", "The PostgreSQL Global Development Group", "Apache Software Foundation", "JetBrains s.r.o."}

// NewCatalog makes a catalog of n packages (deterministic for a seed).
func NewCatalog(n int, seed uint64) *Catalog {
	rnd := rand.New(rand.NewPCG(seed, 0x5eed))
	c := &Catalog{Base: n * 6 / 10}
	seen := map[string]bool{}
	for len(c.Items) < n {
		name := "lib"
		for k := 0; k < 2+rnd.IntN(3); k++ {
			name += syllables[rnd.IntN(len(syllables))]
		}
		if rnd.IntN(4) == 0 {
			name += fmt.Sprintf("%d", rnd.IntN(9)+1)
		}
		if rnd.IntN(3) == 0 {
			name = name[3:] + "-utils"
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		major, minor, patch := rnd.IntN(5), rnd.IntN(20), 1+rnd.IntN(30)
		pub := publishers[rnd.IntN(len(publishers))]
		arch := "amd64"
		if rnd.IntN(10) == 0 {
			arch = "all"
		}
		c.Items = append(c.Items, &parcv1.Software{Name: name, Version: fmt.Sprintf("%d.%d.%d-1", major, minor, patch),
			Arch: arch, Publisher: pub, Source: "dpkg", InstallDate: 1_700_000_000 + rnd.Int64N(50_000_000)})
		c.Old = append(c.Old, &parcv1.Software{Name: name, Version: fmt.Sprintf("%d.%d.%d-1", major, minor, patch-1),
			Arch: arch, Publisher: pub, Source: "dpkg", InstallDate: 1_690_000_000 + rnd.Int64N(10_000_000)})
	}
	return c
}

// Roles of simulated machines: what they run and whom they talk to.
var roles = []struct {
	name   string
	listen []*parcv1.Socket
	// talksTo names roles whose first port the host connects to.
	talksTo []string
}{
	{"web", []*parcv1.Socket{{Protocol: "tcp", LocalIp: "0.0.0.0", LocalPort: 443, Process: "nginx"}, {Protocol: "tcp", LocalIp: "0.0.0.0", LocalPort: 22, Process: "sshd"}}, []string{"app"}},
	{"app", []*parcv1.Socket{{Protocol: "tcp", LocalIp: "0.0.0.0", LocalPort: 8080, Process: "java"}, {Protocol: "tcp", LocalIp: "0.0.0.0", LocalPort: 22, Process: "sshd"}}, []string{"db", "cache"}},
	{"db", []*parcv1.Socket{{Protocol: "tcp", LocalIp: "0.0.0.0", LocalPort: 5432, Process: "postgres"}, {Protocol: "tcp", LocalIp: "0.0.0.0", LocalPort: 22, Process: "sshd"}}, nil},
	{"cache", []*parcv1.Socket{{Protocol: "tcp", LocalIp: "0.0.0.0", LocalPort: 6379, Process: "redis-server"}, {Protocol: "tcp", LocalIp: "127.0.0.1", LocalPort: 6380, Process: "redis-sentinel"}}, nil},
	{"desktop", []*parcv1.Socket{{Protocol: "tcp", LocalIp: "127.0.0.1", LocalPort: 631, Process: "cupsd"}}, []string{"web"}},
}

// Host is one simulated machine and its agent's state.
type Host struct {
	Index   int
	AgentID string
	BootID  string
	Seq     uint64
	role    int
	rnd     *rand.Rand
	sys     *parcv1.System
	fw      *parcv1.Firmware
	ip      string
	sw      []*parcv1.Software
	swIdx   []int // catalog index of each sw item
	fleet   *Fleet
	fsUsed  uint64
	conns   []*parcv1.Socket
	// swHash is the hash of the software section last sent.
	swHash string
	// SoftwareChanges follows the collector's last Ack: send package
	// changes rather than a changed software section, as parc-agent does.
	SoftwareChanges bool
}

// Fleet is every simulated host.
type Fleet struct {
	Catalog *Catalog
	Hosts   []*Host
	// byRole lists host indexes per role, for connections.
	byRole map[string][]int
	// Packages is the target count of packages per host.
	Packages int
	// Mix weighs the kinds of delta Host.Delta makes (DefaultDeltaMix
	// when zero).
	Mix DeltaMix
}

// DeltaMix weighs the kinds of delta: what changed on a host since its
// last report.
type DeltaMix struct {
	Filesystems int // disk usage moved
	Sockets     int // connections from new local ports
	Services    int // the services section again
	Software    int // a few packages up- or downgraded
}

// DefaultDeltaMix is the mix of make bench-ingest: mostly disk usage.
var DefaultDeltaMix = DeltaMix{Filesystems: 60, Sockets: 20, Services: 10, Software: 10}

func (m DeltaMix) total() int { return m.Filesystems + m.Sockets + m.Services + m.Software }

func (m DeltaMix) String() string {
	return fmt.Sprintf("filesystems=%d,sockets=%d,services=%d,software=%d", m.Filesystems, m.Sockets, m.Services, m.Software)
}

// ParseDeltaMix reads a mix written as String writes it, such as
// "filesystems=1,software=1" (kinds not named weigh 0); "" is
// DefaultDeltaMix.
func ParseDeltaMix(s string) (DeltaMix, error) {
	if strings.TrimSpace(s) == "" {
		return DefaultDeltaMix, nil
	}
	var m DeltaMix
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		kind, weight, ok := strings.Cut(strings.TrimSpace(part), "=")
		w, err := strconv.Atoi(weight)
		if !ok || err != nil || w < 0 {
			return DeltaMix{}, fmt.Errorf("delta mix %q: %q is not kind=weight with a weight ≥ 0", s, part)
		}
		if seen[kind] {
			return DeltaMix{}, fmt.Errorf("delta mix %q: %s given twice", s, kind)
		}
		seen[kind] = true
		switch kind {
		case "filesystems":
			m.Filesystems = w
		case "sockets":
			m.Sockets = w
		case "services":
			m.Services = w
		case "software":
			m.Software = w
		default:
			return DeltaMix{}, fmt.Errorf("delta mix %q: unknown kind %q (filesystems, sockets, services, software)", s, kind)
		}
	}
	if m.total() == 0 {
		return DeltaMix{}, fmt.Errorf("delta mix %q: every weight is 0", s)
	}
	return m, nil
}

// NewFleet makes n hosts with about packages packages each. runID makes
// agent ids unique per run.
func NewFleet(n, packages int, runID string) *Fleet {
	cat := NewCatalog(packages*3, 42)
	f := &Fleet{Catalog: cat, byRole: map[string][]int{}, Packages: packages}
	for i := range n {
		h := &Host{Index: i, AgentID: fmt.Sprintf("sim-%s-%05d", runID, i), BootID: "boot-" + runID, fleet: f,
			rnd: rand.New(rand.NewPCG(uint64(i), 7))}
		h.role = pickRole(i)
		f.byRole[roles[h.role].name] = append(f.byRole[roles[h.role].name], i)
		h.build(runID)
		f.Hosts = append(f.Hosts, h)
	}
	for _, h := range f.Hosts {
		h.connect()
	}
	return f
}

func pickRole(i int) int {
	switch i % 20 {
	case 0, 1:
		return 2 // db
	case 2:
		return 3 // cache
	case 3, 4, 5, 6:
		return 1 // app
	case 7, 8, 9:
		return 0 // web
	}
	return 4 // desktop
}

func hexID(parts ...any) string {
	h := fnv.New128a()
	fmt.Fprint(h, parts...)
	return fmt.Sprintf("%x", h.Sum(nil))
}

func (h *Host) build(runID string) {
	i, r := h.Index, h.rnd
	name := fmt.Sprintf("%s-%05d", roles[h.role].name, i)
	h.ip = fmt.Sprintf("10.%d.%d.%d", 16+i/65536, (i/256)%256, i%256)
	h.sys = &parcv1.System{Hostname: name, Fqdn: name + ".sim.example", Domain: "sim.example", OsName: "debian",
		OsVersion: []string{"11", "12", "12", "13"}[r.IntN(4)], OsFamily: "debian", Kernel: "6.1.0-" + fmt.Sprint(10+r.IntN(20)),
		Arch: "x86_64", MachineId: hexID("mid", runID, i), BootTime: time.Now().Add(-time.Duration(r.IntN(90*24)) * time.Hour).Unix(),
		Timezone: "Europe/Paris"}
	vendors := []struct{ vendor, product, chassis string }{{"Dell Inc.", "PowerEdge R650", "Rack Mount Chassis"},
		{"HP", "ProLiant DL360 Gen10", "Rack Mount Chassis"}, {"LENOVO", "ThinkPad T14", "Notebook"}, {"VMware, Inc.", "VMware Virtual Platform", "Other"}}
	v := vendors[r.IntN(len(vendors))]
	if roles[h.role].name == "desktop" {
		v = vendors[2]
	}
	h.fw = &parcv1.Firmware{BiosVendor: v.vendor, BiosVersion: "2.1." + fmt.Sprint(r.IntN(9)), SystemVendor: v.vendor,
		ProductName: v.product, Serial: fmt.Sprintf("SIM%s%06d", runID, i), Uuid: uuidOf(hexID("uuid", runID, i)), ChassisType: v.chassis}
	if v.vendor == "VMware, Inc." {
		h.sys.VirtualizationRole, h.sys.VirtualizationType = "guest", "vmware"
		h.fw.Serial = "VMware-" + hexID("vmser", runID, i)[:16]
	}
	// Packages: the OS base, the role's share, and a few of the host's own;
	// a few percent one version behind.
	cat := h.fleet.Catalog
	want := h.fleet.Packages
	picked := map[int]bool{}
	for k := 0; k < cat.Base && len(picked) < want*92/100; k++ {
		picked[k] = true
	}
	rest := len(cat.Items) - cat.Base
	roleStart := cat.Base + h.role*rest/len(roles)
	for k := 0; len(picked) < want*98/100 && k < rest/len(roles); k++ {
		picked[roleStart+k] = true
	}
	for len(picked) < want {
		picked[cat.Base+r.IntN(rest)] = true
	}
	idx := make([]int, 0, len(picked))
	for k := range picked {
		idx = append(idx, k)
	}
	// In the order a real agent sends them (gather.Normalize).
	slices.SortFunc(idx, func(a, b int) int { return gather.CompareSoftware(cat.Items[a], cat.Items[b]) })
	h.swIdx = idx
	for _, k := range idx {
		if r.IntN(100) < 3 {
			h.sw = append(h.sw, cat.Old[k])
		} else {
			h.sw = append(h.sw, cat.Items[k])
		}
	}
	h.fsUsed = uint64(20+r.IntN(60)) << 30
}

func uuidOf(hex string) string {
	return hex[0:8] + "-" + hex[8:12] + "-" + hex[12:16] + "-" + hex[16:20] + "-" + hex[20:32]
}

// connect picks the servers the host talks to.
func (h *Host) connect() {
	for _, target := range roles[h.role].talksTo {
		peers := h.fleet.byRole[target]
		if len(peers) == 0 {
			continue
		}
		for k := 0; k < 2; k++ {
			p := h.fleet.Hosts[peers[(h.Index*7+k*13)%len(peers)]]
			l := roles[p.role].listen[0]
			h.conns = append(h.conns, &parcv1.Socket{Protocol: "tcp", LocalIp: h.ip, LocalPort: uint32(40000 + h.rnd.IntN(20000)),
				RemoteIp: p.ip, RemotePort: l.LocalPort, Process: roles[h.role].listen[0].Process})
		}
	}
}

func (h *Host) inventory(sections map[string]bool) *parcv1.Inventory {
	all := sections == nil
	inv := &parcv1.Inventory{}
	if all || sections["system"] {
		inv.System = h.sys
	}
	if all || sections["firmware"] {
		inv.Firmware = h.fw
	}
	if all {
		inv.Cpu = &parcv1.CPU{Model: "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", Vendor: "GenuineIntel", Sockets: 1, Cores: 8, Threads: 16, Mhz: 2000}
		inv.Memory = &parcv1.Memory{TotalBytes: 32 << 30, Dimms: []*parcv1.DIMM{{Locator: "DIMM_A1", SizeBytes: 16 << 30}, {Locator: "DIMM_B1", SizeBytes: 16 << 30}}}
		inv.Disks = &parcv1.Disks{Items: []*parcv1.Disk{{Name: "sda", Model: "SAMSUNG MZ7LH480", Serial: "S4" + hexID("disk", h.AgentID)[:10], Vendor: "ATA", SizeBytes: 480 << 30, Type: "ssd"}}}
		mac := fmt.Sprintf("00:16:3e:%02x:%02x:%02x", (h.Index>>16)&0xff, (h.Index>>8)&0xff, h.Index&0xff)
		inv.Nics = &parcv1.NICs{Items: []*parcv1.NIC{{Name: "eth0", Mac: mac, SpeedMbps: 10000, Addresses: []string{h.ip + "/16"}, Driver: "ixgbe"},
			{Name: "docker0", Mac: "02:42:ac:11:00:01", Virtual: true}}}
	}
	if all || sections["filesystems"] {
		inv.Filesystems = &parcv1.Filesystems{Items: []*parcv1.Filesystem{{Device: "/dev/sda1", MountPoint: "/", Type: "ext4", SizeBytes: 400 << 30, UsedBytes: h.fsUsed}}}
	}
	if all || sections["software"] {
		inv.Software = &parcv1.SoftwareList{Items: h.sw}
	}
	if all || sections["services"] {
		inv.Services = &parcv1.Services{Items: []*parcv1.Service{{Name: "ssh.service", State: "active", SubState: "running"},
			{Name: roles[h.role].listen[0].Process + ".service", State: "active", SubState: "running"}}}
	}
	if all || sections["sockets"] {
		inv.Sockets = &parcv1.Sockets{Listening: roles[h.role].listen, Connections: h.conns}
	}
	return inv
}

// Full returns the host's next report, a full inventory.
func (h *Host) Full() *parcv1.Report {
	h.Seq++
	h.swHash = delta.Hash(&parcv1.SoftwareList{Items: h.sw})
	return &parcv1.Report{AgentId: h.AgentID, BootId: h.BootID, Sequence: h.Seq, Kind: parcv1.Report_FULL,
		CollectedAt: time.Now().UnixMilli(), AgentVersion: "sim-1", Inventory: h.inventory(nil),
		SectionHashes: map[string]string{"software": h.swHash}}
}

// Delta returns the host's next delta, of a kind drawn by the fleet's Mix:
// by default usually the filesystems section (disk usage moved), sometimes
// the sockets (new client ports), services, or an upgrade of a few
// packages (as the packages that changed when the collector applies them,
// else the whole section, as parc-agent does).
func (h *Host) Delta() *parcv1.Report {
	h.Seq++
	r := h.rnd
	mix := h.fleet.Mix
	if mix.total() == 0 {
		mix = DefaultDeltaMix
	}
	secs := map[string]bool{}
	switch p := r.IntN(mix.total()); {
	case p < mix.Filesystems:
		h.fsUsed += uint64(r.IntN(1 << 30))
		secs["filesystems"] = true
	case p < mix.Filesystems+mix.Sockets:
		for _, c := range h.conns {
			c.LocalPort = uint32(40000 + r.IntN(20000))
		}
		secs["sockets"] = true
	case p < mix.Filesystems+mix.Sockets+mix.Services:
		secs["services"] = true
	default:
		cat := h.fleet.Catalog
		var changed []int
		for k := 0; k < 1+r.IntN(4); k++ {
			j := r.IntN(len(h.sw))
			if n := h.swIdx[j]; h.sw[j] == cat.Old[n] {
				h.sw[j] = cat.Items[n] // upgrade
			} else {
				h.sw[j] = cat.Old[n] // a pinned downgrade
			}
			changed = append(changed, j)
		}
		base := h.swHash
		h.swHash = delta.Hash(&parcv1.SoftwareList{Items: h.sw})
		rep := &parcv1.Report{AgentId: h.AgentID, BootId: h.BootID, Sequence: h.Seq, Kind: parcv1.Report_DELTA,
			CollectedAt: time.Now().UnixMilli(), AgentVersion: "sim-1", SectionHashes: map[string]string{"software": h.swHash}}
		if !h.SoftwareChanges {
			secs["software"] = true
			rep.Inventory = h.inventory(secs)
			return rep
		}
		// The packages that changed, in the list's order (which is by key).
		slices.Sort(changed)
		c := &parcv1.SoftwareChanges{Base: base}
		for _, j := range slices.Compact(changed) {
			c.Set = append(c.Set, h.sw[j])
		}
		rep.SoftwareChanges, rep.Inventory = c, &parcv1.Inventory{}
		return rep
	}
	return &parcv1.Report{AgentId: h.AgentID, BootId: h.BootID, Sequence: h.Seq, Kind: parcv1.Report_DELTA,
		CollectedAt: time.Now().UnixMilli(), AgentVersion: "sim-1", Inventory: h.inventory(secs)}
}

// Software returns the host's packages as it last reported them.
func (h *Host) Software() []*parcv1.Software { return h.sw }

// Heartbeat returns the host's next heartbeat.
func (h *Host) Heartbeat() *parcv1.Report {
	h.Seq++
	return &parcv1.Report{AgentId: h.AgentID, BootId: h.BootID, Sequence: h.Seq, Kind: parcv1.Report_HEARTBEAT,
		CollectedAt: time.Now().UnixMilli(), AgentVersion: "sim-1"}
}

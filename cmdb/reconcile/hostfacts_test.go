package reconcile

import (
	"bytes"
	"testing"
	"time"

	"parc/cmdb"
)

// TestHostSectionsCoverHostFacts: a delta without hostSections leaves the
// host CI unchanged, so applyHost may skip it; a section that starts to
// set host facts must join hostSections.
func TestHostSectionsCoverHostFacts(t *testing.T) {
	e := New(nil, Config{})
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	inv := Inventory{
		System:      System{Hostname: "web-1", FQDN: "web-1.example", OSName: "debian", Kernel: "6.1", MachineID: "m1", Users: []string{"bob"}},
		Firmware:    Firmware{Vendor: "Dell Inc.", Product: "R650", Serial: "SN1", UUID: "4C4C4544-0000-0000-0000-000000000001"},
		CPU:         CPU{Model: "Xeon", Cores: 8, Thread: 16},
		Memory:      Memory{TotalBytes: 32 << 30, DIMMs: 2},
		Disks:       []Disk{{Name: "sda", Model: "SSD", Serial: "D1", SizeBytes: 1 << 40}},
		Filesystems: []Filesystem{{Device: "/dev/sda1", MountPoint: "/", Type: "ext4", SizeBytes: 1 << 40, UsedBytes: 1 << 30}},
		NICs:        []NIC{{Name: "eth0", MAC: "00:16:3e:00:00:01", Addresses: []string{"10.0.0.1/24"}}, {Name: "docker0", MAC: "02:42:ac:11:00:01", Virtual: true}},
		GPUs:        []Device{{Address: "0000:01:00.0", Vendor: "NVIDIA", Product: "A10"}},
		Software:    []Package{{Name: "bash", Version: "5", Arch: "amd64", Source: "dpkg"}},
		Services:    []Service{{Name: "ssh.service", State: "active"}},
		Listening:   []Socket{{Protocol: "tcp", LocalIP: "0.0.0.0", LocalPort: 22, Process: "sshd"}},
		Connections: []Socket{{Protocol: "tcp", LocalIP: "10.0.0.1", LocalPort: 40000, RemoteIP: "10.0.0.2", RemotePort: 5432}},
	}
	all := []string{SecSystem, SecFirmware, SecCPU, SecMemory, SecDisks, SecFilesystems, SecNICs, SecDevices, SecSoftware, SecServices, SecSockets}
	full := &Report{Kind: Full, Sections: map[string]bool{}, Inventory: inv}
	for _, s := range all {
		full.Sections[s] = true
	}
	host := &cmdb.CI{ID: "h1", Class: cmdb.ClassComputer, State: "use"}
	e.hostFacts(host, full, now)
	if !settled(host) {
		t.Fatalf("a host in use is not settled: %+v", host)
	}
	for _, s := range all {
		// Everything in the inventory, changed, under this one section.
		changed := inv
		changed.System.Hostname, changed.Firmware.Serial, changed.CPU.Cores, changed.Memory.TotalBytes = "web-2", "SN2", 4, 16<<30
		changed.NICs = []NIC{{Name: "eth1", MAC: "00:16:3e:00:00:02", Virtual: true}}
		r := &Report{Kind: Delta, Sections: map[string]bool{s: true}, Inventory: changed}
		next := cloneCI(host)
		e.hostFacts(next, r, now.Add(time.Hour))
		a, err1 := cmdb.Encode(next)
		b, err2 := cmdb.Encode(host)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if moved := !bytes.Equal(a, b); moved != touchesHost(r) {
			t.Errorf("section %s: hostFacts changes the host: %v, touchesHost: %v", s, moved, touchesHost(r))
		}
	}
	for _, state := range []string{"plan", "acquire", "deploy", ""} {
		if settled(&cmdb.CI{State: state}) {
			t.Errorf("state %q is settled: a report moves it to use", state)
		}
	}
	if settled(&cmdb.CI{State: "use", Flags: map[string]bool{"stale": true}}) {
		t.Error("a stale host is settled: a report revives it")
	}
}

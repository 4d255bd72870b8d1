package reconcile

import "time"

// Kind is the kind of a report.
type Kind int

const (
	// Full carries every section.
	Full Kind = iota + 1
	// Delta carries only the sections that changed.
	Delta
	// Heartbeat carries no section: the machine is unchanged.
	Heartbeat
)

// Section names, as reported in Report.Sections.
const (
	SecSystem      = "system"
	SecFirmware    = "firmware"
	SecCPU         = "cpu"
	SecMemory      = "memory"
	SecDisks       = "disks"
	SecFilesystems = "filesystems"
	SecNICs        = "nics"
	SecDevices     = "devices"
	SecSoftware    = "software"
	SecServices    = "services"
	SecSockets     = "sockets"
)

// Report is one agent report in domain terms. The collector converts the
// wire message to it in one place.
type Report struct {
	AgentID      string
	BootID       string
	Seq          uint64
	Kind         Kind
	CollectedAt  time.Time
	AgentVersion string
	// Sections lists the sections present in Inventory.
	Sections  map[string]bool
	Inventory Inventory
	Events    []HealthEvent
	// Errors are the gatherers that failed on the agent.
	Errors map[string]string
	// SoftwareHash is the agent's hash of its software section after this
	// report ("" when it sent none). The collector keeps it to know which
	// list SoftwareChanges apply to.
	SoftwareHash string
	// SoftwareChanges, in a delta, stands for the software section: the
	// packages that changed since the list whose hash is its Base.
	SoftwareChanges *SoftwareChanges
}

// SoftwareChanges are the packages added or changed (Set, whole) and
// removed (Removed: Name, Arch and Source count) since the software list
// whose hash is Base. Packages are keyed by (Name, Arch, Source).
type SoftwareChanges struct {
	Base         string
	Set, Removed []Package
}

// Has reports whether section s is present.
func (r *Report) Has(s string) bool { return r.Sections[s] }

// Inventory is what an agent saw.
type Inventory struct {
	System      System
	Firmware    Firmware
	CPU         CPU
	Memory      Memory
	Disks       []Disk
	Filesystems []Filesystem
	NICs        []NIC
	GPUs        []Device
	Software    []Package
	Services    []Service
	Listening   []Socket
	Connections []Socket
}

// System is the operating system's view of the machine.
type System struct {
	Hostname, FQDN, Domain       string
	OSName, OSVersion, OSFamily  string
	Kernel, Arch, MachineID      string
	BootTime                     time.Time
	Timezone                     string
	VirtualizationRole, VirtType string
	Users                        []string
}

// Firmware is the SMBIOS view of the machine.
type Firmware struct {
	BIOSVendor, BIOSVersion, BIOSDate string
	Vendor, Product, Serial, UUID     string
	AssetTag                          string
	BoardVendor, BoardName            string
	BoardSerial                       string
	ChassisVendor, ChassisType        string
	ChassisSerial, ChassisAssetTag    string
}

// CPU describes the processors.
type CPU struct {
	Model, Vendor          string
	Sockets, Cores, Thread uint32
	MHz                    float64
}

// Memory describes installed memory.
type Memory struct {
	TotalBytes uint64
	DIMMs      int
}

// Disk is a physical or virtual disk.
type Disk struct {
	Name, Model, Serial, Vendor, Type string
	SizeBytes                         uint64
	Rotational                        bool
}

// Filesystem is a mounted filesystem.
type Filesystem struct {
	Device, MountPoint, Type string
	SizeBytes, UsedBytes     uint64
}

// NIC is a network interface.
type NIC struct {
	Name, MAC, Driver string
	SpeedMbps         int64
	Addresses         []string
	Virtual           bool
}

// Device is a PCI/USB/GPU device.
type Device struct {
	Address, Vendor, Product, Class, Driver string
}

// Package is one installed software package.
type Package struct {
	Name, Version, Arch, Publisher, Source string
	InstallDate                            int64
}

// Service is a running or failed service unit.
type Service struct {
	Name, State, SubState string
}

// Socket is a listening socket or an established connection.
type Socket struct {
	Protocol              string
	LocalIP, RemoteIP     string
	LocalPort, RemotePort uint32
	Process               string
}

// HealthEvent kinds.
const (
	EventFilesystemFull = "filesystem_full"
	EventServiceFailed  = "service_failed"
	EventDiskFailure    = "disk_failure"
	EventHostStale      = "host_stale"
)

// HealthEvent is a typed observation from an agent that incident
// automation acts on.
type HealthEvent struct {
	Kind    string
	Subject string
	OK      bool
	Message string
	Value   float64
	At      time.Time
}

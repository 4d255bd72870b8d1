package gather

import (
	"context"

	parcv1 "parc/proto/parc/v1"
)

// Source is our interface in front of ghw and gopsutil: the facts those
// libraries know how to read on every operating system. Gatherers call it
// and add what they read from files themselves. Methods return wire-model
// messages; a method that cannot read anything returns an error (partial
// data may come with it).
type Source interface {
	// Host returns hostname, OS name, version and family, kernel,
	// architecture, machine id, boot time, virtualization role and type, and
	// logged-in users.
	Host(ctx context.Context) (*parcv1.System, error)
	// CPU returns model, vendor, sockets, cores, threads and frequency.
	CPU(ctx context.Context) (*parcv1.CPU, error)
	// Memory returns the total usable memory as the kernel reports it.
	Memory(ctx context.Context) (*parcv1.Memory, error)
	// Disks returns physical block devices with their partitions.
	Disks(ctx context.Context) ([]*parcv1.Disk, error)
	// Filesystems returns mounted filesystems with size and usage.
	Filesystems(ctx context.Context) ([]*parcv1.Filesystem, error)
	// NICs returns network interfaces with MAC, addresses, speed and whether
	// they are virtual.
	NICs(ctx context.Context) ([]*parcv1.NIC, error)
}

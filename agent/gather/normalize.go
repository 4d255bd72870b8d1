package gather

import (
	"cmp"
	"slices"
	"strings"

	parcv1 "parc/proto/parc/v1"
)

// Normalize sorts every list of inv in place so that the deterministic
// marshaling of a section only changes when its content does.
func Normalize(inv *parcv1.Inventory) {
	if s := inv.GetSystem(); s != nil {
		slices.Sort(s.Users)
		s.Users = slices.Compact(s.Users)
	}
	if m := inv.GetMemory(); m != nil {
		slices.SortFunc(m.Dimms, func(a, b *parcv1.DIMM) int { return strings.Compare(a.Locator, b.Locator) })
	}
	if d := inv.GetDisks(); d != nil {
		slices.SortFunc(d.Items, func(a, b *parcv1.Disk) int { return strings.Compare(a.Name, b.Name) })
		for _, disk := range d.Items {
			slices.SortFunc(disk.Partitions, func(a, b *parcv1.Partition) int { return strings.Compare(a.Name, b.Name) })
		}
	}
	if f := inv.GetFilesystems(); f != nil {
		slices.SortFunc(f.Items, func(a, b *parcv1.Filesystem) int {
			return cmp.Or(strings.Compare(a.MountPoint, b.MountPoint), strings.Compare(a.Device, b.Device))
		})
	}
	if n := inv.GetNics(); n != nil {
		slices.SortFunc(n.Items, func(a, b *parcv1.NIC) int { return strings.Compare(a.Name, b.Name) })
		for _, nic := range n.Items {
			slices.Sort(nic.Addresses)
		}
	}
	if d := inv.GetDevices(); d != nil {
		for _, l := range [][]*parcv1.Device{d.Gpus, d.Pci, d.Usb} {
			slices.SortFunc(l, func(a, b *parcv1.Device) int {
				return cmp.Or(strings.Compare(a.Address, b.Address), strings.Compare(a.Product, b.Product))
			})
		}
	}
	if s := inv.GetSoftware(); s != nil {
		slices.SortFunc(s.Items, CompareSoftware)
	}
	if s := inv.GetServices(); s != nil {
		slices.SortFunc(s.Items, func(a, b *parcv1.Service) int { return strings.Compare(a.Name, b.Name) })
	}
	if s := inv.GetSockets(); s != nil {
		slices.SortFunc(s.Listening, compareSocket)
		slices.SortFunc(s.Connections, compareSocket)
	}
}

// CompareSoftware orders packages by name, architecture, source and
// version: the collector keys installs by (name, arch, source) and keeps
// them in that order, so a list in this order needs no sorting there.
func CompareSoftware(a, b *parcv1.Software) int {
	return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Arch, b.Arch),
		strings.Compare(a.Source, b.Source), strings.Compare(a.Version, b.Version))
}

func compareSocket(a, b *parcv1.Socket) int {
	return cmp.Or(strings.Compare(a.Protocol, b.Protocol),
		strings.Compare(a.LocalIp, b.LocalIp), cmp.Compare(a.LocalPort, b.LocalPort),
		strings.Compare(a.RemoteIp, b.RemoteIp), cmp.Compare(a.RemotePort, b.RemotePort),
		strings.Compare(a.Process, b.Process), cmp.Compare(a.Pid, b.Pid))
}

func trimSpace(s string) string { return strings.TrimSpace(strings.TrimRight(s, "\x00")) }

package agentsvc

import (
	"time"

	"parc/cmdb/reconcile"
	parcv1 "parc/proto/parc/v1"
)

// fromProto converts a wire report to the domain report: the one place
// where protobuf types meet the reconciliation engine.
func fromProto(m *parcv1.Report) (*reconcile.Report, error) {
	r := &reconcile.Report{
		AgentID: m.GetAgentId(), BootID: m.GetBootId(), Seq: m.GetSequence(),
		Kind: reconcile.Kind(m.GetKind()), AgentVersion: m.GetAgentVersion(),
		Sections: map[string]bool{},
	}
	if ms := m.GetCollectedAt(); ms > 0 {
		r.CollectedAt = time.UnixMilli(ms).UTC()
	}
	if len(m.GetErrors()) > 0 {
		r.Errors = map[string]string{}
		for _, e := range m.GetErrors() {
			r.Errors[e.GetGatherer()] = e.GetMessage()
		}
	}
	for _, e := range m.GetEvents() {
		ev := reconcile.HealthEvent{Subject: e.GetSubject(), OK: e.GetOk(), Message: e.GetMessage(), Value: e.GetValue()}
		if e.GetObservedAt() > 0 {
			ev.At = time.UnixMilli(e.GetObservedAt()).UTC()
		}
		switch e.GetKind() {
		case parcv1.HealthEvent_FILESYSTEM_FULL:
			ev.Kind = reconcile.EventFilesystemFull
		case parcv1.HealthEvent_SERVICE_FAILED:
			ev.Kind = reconcile.EventServiceFailed
		case parcv1.HealthEvent_DISK_FAILURE:
			ev.Kind = reconcile.EventDiskFailure
		default:
			continue
		}
		r.Events = append(r.Events, ev)
	}
	r.SoftwareHash = m.GetSectionHashes()["software"]
	if c := m.GetSoftwareChanges(); c != nil {
		r.SoftwareChanges = &reconcile.SoftwareChanges{Base: c.GetBase(), Set: packages(c.GetSet()), Removed: packages(c.GetRemoved())}
	}
	inv := m.GetInventory()
	if inv == nil {
		return r, nil
	}
	out := &r.Inventory
	if s := inv.GetSystem(); s != nil {
		r.Sections[reconcile.SecSystem] = true
		out.System = reconcile.System{
			Hostname: s.GetHostname(), FQDN: s.GetFqdn(), Domain: s.GetDomain(),
			OSName: s.GetOsName(), OSVersion: s.GetOsVersion(), OSFamily: s.GetOsFamily(),
			Kernel: s.GetKernel(), Arch: s.GetArch(), MachineID: s.GetMachineId(),
			Timezone: s.GetTimezone(), VirtualizationRole: s.GetVirtualizationRole(),
			VirtType: s.GetVirtualizationType(), Users: s.GetUsers(),
		}
		if s.GetBootTime() > 0 {
			out.System.BootTime = time.Unix(s.GetBootTime(), 0).UTC()
		}
	}
	if f := inv.GetFirmware(); f != nil {
		r.Sections[reconcile.SecFirmware] = true
		out.Firmware = reconcile.Firmware{
			BIOSVendor: f.GetBiosVendor(), BIOSVersion: f.GetBiosVersion(), BIOSDate: f.GetBiosDate(),
			Vendor: f.GetSystemVendor(), Product: f.GetProductName(), Serial: f.GetSerial(), UUID: f.GetUuid(),
			AssetTag: f.GetAssetTag(), BoardVendor: f.GetBoardVendor(), BoardName: f.GetBoardName(),
			BoardSerial: f.GetBoardSerial(), ChassisVendor: f.GetChassisVendor(), ChassisType: f.GetChassisType(),
			ChassisSerial: f.GetChassisSerial(), ChassisAssetTag: f.GetChassisAssetTag(),
		}
	}
	if c := inv.GetCpu(); c != nil {
		r.Sections[reconcile.SecCPU] = true
		out.CPU = reconcile.CPU{Model: c.GetModel(), Vendor: c.GetVendor(), Sockets: c.GetSockets(), Cores: c.GetCores(), Thread: c.GetThreads(), MHz: c.GetMhz()}
	}
	if mem := inv.GetMemory(); mem != nil {
		r.Sections[reconcile.SecMemory] = true
		out.Memory = reconcile.Memory{TotalBytes: mem.GetTotalBytes(), DIMMs: len(mem.GetDimms())}
	}
	if d := inv.GetDisks(); d != nil {
		r.Sections[reconcile.SecDisks] = true
		for _, x := range d.GetItems() {
			out.Disks = append(out.Disks, reconcile.Disk{Name: x.GetName(), Model: x.GetModel(), Serial: x.GetSerial(),
				Vendor: x.GetVendor(), Type: x.GetType(), SizeBytes: x.GetSizeBytes(), Rotational: x.GetRotational()})
		}
	}
	if fs := inv.GetFilesystems(); fs != nil {
		r.Sections[reconcile.SecFilesystems] = true
		for _, x := range fs.GetItems() {
			out.Filesystems = append(out.Filesystems, reconcile.Filesystem{Device: x.GetDevice(), MountPoint: x.GetMountPoint(),
				Type: x.GetType(), SizeBytes: x.GetSizeBytes(), UsedBytes: x.GetUsedBytes()})
		}
	}
	if n := inv.GetNics(); n != nil {
		r.Sections[reconcile.SecNICs] = true
		for _, x := range n.GetItems() {
			out.NICs = append(out.NICs, reconcile.NIC{Name: x.GetName(), MAC: x.GetMac(), Driver: x.GetDriver(),
				SpeedMbps: x.GetSpeedMbps(), Addresses: x.GetAddresses(), Virtual: x.GetVirtual()})
		}
	}
	if d := inv.GetDevices(); d != nil {
		r.Sections[reconcile.SecDevices] = true
		for _, x := range d.GetGpus() {
			out.GPUs = append(out.GPUs, reconcile.Device{Address: x.GetAddress(), Vendor: x.GetVendor(),
				Product: x.GetProduct(), Class: x.GetClass(), Driver: x.GetDriver()})
		}
	}
	if sw := inv.GetSoftware(); sw != nil {
		r.Sections[reconcile.SecSoftware] = true
		out.Software = packages(sw.GetItems())
	} else if inv != nil {
		pkgs, ok, err := asideSoftware(inv)
		if err != nil {
			return nil, err
		}
		if ok {
			r.Sections[reconcile.SecSoftware] = true
			out.Software = pkgs
		}
	}
	if s := inv.GetServices(); s != nil {
		r.Sections[reconcile.SecServices] = true
		for _, x := range s.GetItems() {
			out.Services = append(out.Services, reconcile.Service{Name: x.GetName(), State: x.GetState(), SubState: x.GetSubState()})
		}
	}
	if s := inv.GetSockets(); s != nil {
		r.Sections[reconcile.SecSockets] = true
		conv := func(x *parcv1.Socket) reconcile.Socket {
			return reconcile.Socket{Protocol: x.GetProtocol(), LocalIP: x.GetLocalIp(), LocalPort: x.GetLocalPort(),
				RemoteIP: x.GetRemoteIp(), RemotePort: x.GetRemotePort(), Process: x.GetProcess()}
		}
		for _, x := range s.GetListening() {
			out.Listening = append(out.Listening, conv(x))
		}
		for _, x := range s.GetConnections() {
			out.Connections = append(out.Connections, conv(x))
		}
	}
	return r, nil
}

func packages(l []*parcv1.Software) []reconcile.Package {
	out := make([]reconcile.Package, 0, len(l))
	for _, x := range l {
		out = append(out, reconcile.Package{Name: x.GetName(), Version: x.GetVersion(), Arch: x.GetArch(),
			Publisher: x.GetPublisher(), Source: x.GetSource(), InstallDate: x.GetInstallDate()})
	}
	return out
}

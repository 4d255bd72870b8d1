package gather

// Default returns the gatherers of this operating system by name. The name
// is what a GatherError carries.
func Default() map[string]Gatherer {
	return map[string]Gatherer{
		"system":           Func(systemGatherer),
		"firmware":         Func(firmwareGatherer),
		"cpu":              Func(cpuGatherer),
		"memory":           Func(memoryGatherer),
		"dimms":            Func(dimmsGatherer),
		"disks":            Func(disksGatherer),
		"filesystems":      Func(filesystemsGatherer),
		"nics":             Func(nicsGatherer),
		"devices":          Func(devicesGatherer),
		"software.dpkg":    Func(dpkgGatherer),
		"software.rpm":     Func(rpmGatherer),
		"software.apk":     Func(apkGatherer),
		"software.snap":    Func(snapGatherer),
		"software.flatpak": Func(flatpakGatherer),
		"services":         Func(servicesGatherer),
		"sockets":          Func(socketsGatherer),
	}
}

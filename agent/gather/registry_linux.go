package gather

// Default returns the gatherers of this operating system by name. The name
// is what a GatherError carries.
func Default() map[string]Gatherer {
	return map[string]Gatherer{
		"system":        Func(systemGatherer),
		"firmware":      Func(firmwareGatherer),
		"cpu":           Func(cpuGatherer),
		"memory":        Func(memoryGatherer),
		"disks":         Func(disksGatherer),
		"filesystems":   Func(filesystemsGatherer),
		"nics":          Func(nicsGatherer),
		"software.dpkg": Func(dpkgGatherer),
	}
}

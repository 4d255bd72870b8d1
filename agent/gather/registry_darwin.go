package gather

// Default returns the gatherers of this operating system by name.
func Default() map[string]Gatherer {
	return map[string]Gatherer{
		"system":       Func(systemGatherer),
		"cpu":          Func(cpuGatherer),
		"memory":       Func(memoryGatherer),
		"disks":        Func(disksGatherer),
		"filesystems":  Func(filesystemsGatherer),
		"nics":         Func(nicsGatherer),
		"software.app": Func(macAppsGatherer),
		"sockets":      Func(sourceSocketsGatherer),
	}
}

//go:build !linux

package badgerstore

// trimValueLogs releases value-log mappings on Linux only (see
// trim_linux.go); elsewhere the kernel keeps them as it sees fit.
func trimValueLogs(string) (int64, error) { return 0, nil }

func residentValueLogs(string) (int64, error) { return 0, nil }

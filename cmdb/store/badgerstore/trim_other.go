//go:build !linux

package badgerstore

// trimValueLogs pages out old value-log files on Linux only (see
// trim_linux.go); elsewhere the kernel keeps them as it sees fit.
func trimValueLogs(string) (int64, error) { return 0, nil }

func residentValueLogs(string) (int64, error) { return 0, nil }

//go:build !linux

package badgerstore

// adviseMappings advises the kernel on Linux only (see trim_linux.go);
// elsewhere the kernel caches and keeps the mapped files as it sees fit.
func adviseMappings(string, map[string]bool, bool) (int64, error) { return 0, nil }

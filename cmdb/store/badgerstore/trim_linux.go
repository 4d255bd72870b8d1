package badgerstore

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Badger writes its value log through a shared memory mapping and keeps
// every value-log file mapped while the store is open. Each page written
// stays in the collector's resident set long after it was synced, so
// resident memory grows with the bytes ingested (up to 128 MiB per
// value-log file) until the kernel runs short of memory. trimValueLogs
// has the kernel reclaim the pages of the value-log files Badger no
// longer writes (MADV_PAGEOUT, Linux 5.4 and later): their data stays in
// the file, and a later read of a value there reads it from disk again.
//
// It reads the mappings from /proc/self/maps. A file may be unmapped
// between that read and the advice (value-log GC deletes rewritten files,
// sometimes from the goroutine that closes the last iterator) and the
// range reused by another mapping; MADV_PAGEOUT then only pages that
// mapping out, which loses nothing (MADV_DONTNEED would discard anonymous
// memory). Badger remaps only the file it writes, which is skipped.

// trimValueLogs pages out the value-log files of dir except the newest,
// and returns their mapped size. On a kernel without MADV_PAGEOUT it does
// nothing.
func trimValueLogs(dir string) (int64, error) {
	type region struct {
		start, end uintptr
		fid        int
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var regions []region
	newest := -1
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		start, end, fid, ok := parseMapping(sc.Text(), dir)
		if !ok || fid < 0 {
			continue
		}
		regions = append(regions, region{start, end, fid})
		newest = max(newest, fid)
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	var n int64
	for _, r := range regions {
		if r.fid == newest {
			continue
		}
		_, _, errno := syscall.Syscall(syscall.SYS_MADVISE, r.start, r.end-r.start, unix.MADV_PAGEOUT)
		switch {
		case errno == syscall.EINVAL && n == 0:
			return 0, nil // before Linux 5.4
		case errno == syscall.ENOMEM:
			continue // unmapped meanwhile
		case errno != 0:
			return n, errno
		}
		n += int64(r.end - r.start)
	}
	return n, nil
}

// parseMapping reads a mapping's line in /proc/self/maps (its header line
// in /proc/self/smaps): ok when it is one, with its address range, and fid
// the file id when it maps a value-log file of dir, else -1.
func parseMapping(line, dir string) (start, end uintptr, fid int, ok bool) {
	// address perms offset dev inode, then the path after padding
	cols := strings.SplitN(line, " ", 6)
	if len(cols) != 6 {
		return 0, 0, -1, false
	}
	lo, hi, found := strings.Cut(cols[0], "-")
	s, err1 := strconv.ParseUint(lo, 16, 64)
	e, err2 := strconv.ParseUint(hi, 16, 64)
	if !found || err1 != nil || err2 != nil || e <= s {
		return 0, 0, -1, false
	}
	fid = -1
	path := strings.TrimLeft(cols[5], " ")
	if filepath.Dir(path) == dir && strings.HasSuffix(path, ".vlog") { // a deleted file's path ends in " (deleted)"
		if n, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(path), ".vlog")); err == nil {
			fid = n
		}
	}
	return uintptr(s), uintptr(e), fid, true
}

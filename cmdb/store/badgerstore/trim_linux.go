package badgerstore

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Badger writes its value log through a shared memory mapping and keeps
// every value-log file mapped while the store is open. Each page written
// stays in the collector's resident set long after it was synced, so
// resident memory grows with the bytes ingested (128 MiB per value-log
// file) until the kernel runs short of memory, although the pages are
// page cache the kernel could drop at any time. trimValueLogs releases
// the collector's mappings of the value-log files Badger no longer writes
// (MADV_DONTNEED): their data stays in the file and the page cache, and
// a later read maps the page again.
//
// It must run where value-log files are not deleted meanwhile (the
// background goroutine, which also runs value-log GC, the only deleter
// while the store is open), so that every range it releases still maps
// its file: Badger remaps only the file it writes, which is skipped.

// trimValueLogs releases the mappings of the value-log files of dir except
// the newest, and returns their mapped size.
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
		// address perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) != 6 || filepath.Dir(fields[5]) != dir || !strings.HasSuffix(fields[5], ".vlog") {
			continue // a deleted file's path ends in " (deleted)": 7 fields
		}
		fid, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(fields[5]), ".vlog"))
		if err != nil {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil || end <= start {
			continue
		}
		regions = append(regions, region{uintptr(start), uintptr(end), fid})
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
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, r.start, r.end-r.start, syscall.MADV_DONTNEED); errno != 0 {
			return n, errno
		}
		n += int64(r.end - r.start)
	}
	return n, nil
}

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

// Badger writes its value log and its memtable logs through shared memory
// mappings, syncs them with msync after each write batch, and keeps every
// value-log file mapped while the store is open. The kernel is advised
// about those mappings in two ways.
//
// Written files, in small pages (adviseMappings). On Linux 6.x, ext4 and
// xfs cache a file in folios of up to 2 MiB: a fault in a file mapping
// reads ahead, and sequential faults grow the readahead's folios. A write
// of a few bytes dirties its whole folio, and the next msync writes the
// whole folio to disk. The value log's tail sat in 2 MiB folios, so every
// commit wrote 2 MiB: about 90 KB of disk writes per delta report, 300 to
// 500 MB/s at 10,000 agents, for a store growing by 3 MB/s. MADV_RANDOM on
// the newest value-log file and the memtable logs stops fault readahead,
// so their pages come in one at a time and msync writes what changed. It
// is given when a file is first seen mapped (the store checks every
// adviseInterval); pages cached before stay as they are, and writes move
// past them within a commit or two.
//
// Old value-log files, paged out (pageOut). Each page written stays in
// the collector's resident set long after it was synced, so resident
// memory grows with the bytes ingested (up to 128 MiB per value-log file)
// until the kernel runs short of memory. The value-log files Badger no
// longer writes are paged out (MADV_PAGEOUT, Linux 5.4 and later): their
// data stays in the file, and a later read of a value there reads it from
// disk again.
//
// The mappings are read from /proc/self/maps. A file may be unmapped
// between that read and the advice (value-log GC deletes rewritten files,
// sometimes from the goroutine that closes the last iterator) and the
// range reused by another mapping. Neither advice loses anything there:
// MADV_PAGEOUT only pages that mapping out (MADV_DONTNEED would discard
// anonymous memory), and MADV_RANDOM only stops its readahead. Badger
// remaps only the file it writes, which is never paged out.

// mapping is one line of /proc/self/maps that maps a file of the store.
type mapping struct {
	start, end uintptr
	fid        int  // the value-log file's id, or -1
	wal        bool // a memtable log (.mem)
	key        string
}

// adviseMappings gives MADV_RANDOM to the mappings of dir's newest
// value-log file and memtable logs not in advised (which it updates to
// hold the current ones), and with pageOut, pages out the other value-log
// files. It returns the mapped size of the files paged out. On a kernel
// without MADV_PAGEOUT, paging out does nothing.
func adviseMappings(dir string, advised map[string]bool, pageOut bool) (int64, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var ms []mapping
	newest := -1
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m, ok := parseMapping(sc.Text(), dir)
		if !ok || (m.fid < 0 && !m.wal) {
			continue
		}
		ms = append(ms, m)
		newest = max(newest, m.fid)
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	seen := make(map[string]bool, len(advised))
	var n int64
	for _, m := range ms {
		if m.wal || m.fid == newest {
			seen[m.key] = true
			if advised[m.key] {
				continue
			}
			if errno := madvise(m, unix.MADV_RANDOM); errno != 0 && errno != syscall.ENOMEM { // ENOMEM: unmapped meanwhile
				return n, errno
			}
			continue
		}
		if !pageOut {
			continue
		}
		switch errno := madvise(m, unix.MADV_PAGEOUT); {
		case errno == syscall.EINVAL && n == 0:
			pageOut = false // before Linux 5.4
		case errno == syscall.ENOMEM:
		case errno != 0:
			return n, errno
		default:
			n += int64(m.end - m.start)
		}
	}
	clear(advised)
	for k := range seen {
		advised[k] = true
	}
	return n, nil
}

func madvise(m mapping, advice int) syscall.Errno {
	_, _, errno := syscall.Syscall(syscall.SYS_MADVISE, m.start, m.end-m.start, uintptr(advice))
	return errno
}

// parseMapping reads a mapping's line in /proc/self/maps (its header line
// in /proc/self/smaps): ok when it is one, with its address range and,
// when it maps a value-log file of dir, that file's id (else fid is -1),
// or whether it maps a memtable log of dir.
func parseMapping(line, dir string) (m mapping, ok bool) {
	// address perms offset dev inode, then the path after padding
	cols := strings.SplitN(line, " ", 6)
	if len(cols) != 6 {
		return mapping{}, false
	}
	lo, hi, found := strings.Cut(cols[0], "-")
	s, err1 := strconv.ParseUint(lo, 16, 64)
	e, err2 := strconv.ParseUint(hi, 16, 64)
	if !found || err1 != nil || err2 != nil || e <= s {
		return mapping{}, false
	}
	m = mapping{start: uintptr(s), end: uintptr(e), fid: -1, key: cols[0] + " " + cols[4]}
	path := strings.TrimLeft(cols[5], " ")
	if filepath.Dir(path) != dir { // a deleted file's path ends in " (deleted)"
		return m, true
	}
	switch name := filepath.Base(path); {
	case strings.HasSuffix(name, ".vlog"):
		if n, err := strconv.Atoi(strings.TrimSuffix(name, ".vlog")); err == nil {
			m.fid = n
		}
	case strings.HasSuffix(name, ".mem"):
		m.wal = true
	}
	return m, true
}

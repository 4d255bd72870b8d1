package badgerstore

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"parc/cmdb/store"
)

// TestAdviseMappings writes values across several value-log files, then
// advises the kernel: the newest value-log file and the memtable logs are
// read without readahead (so cached in small pages), the old value-log
// files' pages leave the resident set, and every value still reads back.
func TestAdviseMappings(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data dir") // paths in /proc/self/maps may hold spaces
	s, err := Open(dir, Options{valueLogFileSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	value := func(i int) []byte { return bytes.Repeat([]byte{byte(i), byte(i >> 8)}, 2048) }
	const n = 1200 // 4 KiB each: about 5 MiB, five value-log files
	for i := 0; i < n; i += 100 {
		if _, err := s.Update(ctx, func(tx store.Txn) error {
			for j := i; j < i+100; j++ {
				if err := tx.Put(fmt.Appendf(nil, "k%05d", j), value(j)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	before, err := storeMappings(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	if before.oldResident == 0 {
		t.Fatalf("no resident value-log pages after writing %d values to %s", n, s.dir)
	}
	advised := map[string]bool{}
	released, err := adviseMappings(s.dir, advised, true)
	if err != nil {
		t.Fatal(err)
	}
	after, err := storeMappings(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("old value logs resident: %d KiB before, %d KiB after paging out %d KiB of mappings", before.oldResident>>10, after.oldResident>>10, released>>10)
	if released == 0 || after.oldResident != 0 {
		t.Fatalf("after paging out: %d bytes released, %d still resident", released, after.oldResident)
	}
	if len(after.written) < 2 || len(advised) != len(after.written) {
		t.Fatalf("written files' mappings %v, advised %v: want the newest value log and the memtable logs", after.written, advised)
	}
	for key, flags := range after.written {
		if !slices.Contains(flags, "rr") || !advised[key] {
			t.Errorf("mapping %s: VmFlags %v, advised %v: want rr (MADV_RANDOM)", key, flags, advised[key])
		}
	}
	for i := range n {
		v, err := s.Get(ctx, fmt.Appendf(nil, "k%05d", i))
		if err != nil || !bytes.Equal(v, value(i)) {
			t.Fatalf("value %d after advising: %v (%d bytes)", i, err, len(v))
		}
	}
}

// mappedStore is what /proc/self/smaps says of a store's mapped files.
type mappedStore struct {
	oldResident int64               // resident bytes of the value-log files but the newest
	written     map[string][]string // VmFlags of the newest value-log file's and the memtable logs' mappings, by key
}

func storeMappings(dir string) (mappedStore, error) {
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return mappedStore{}, err
	}
	type seen struct {
		m     mapping
		rss   int64
		flags []string
	}
	var all []*seen
	var cur *seen
	newest := -1
	for _, line := range strings.Split(string(b), "\n") {
		if m, header := parseMapping(line, dir); header {
			cur = nil
			if m.fid >= 0 || m.wal {
				cur = &seen{m: m}
				all = append(all, cur)
				newest = max(newest, m.fid)
			}
			continue
		}
		if cur == nil {
			continue
		}
		f := strings.Fields(line)
		switch {
		case len(f) > 1 && f[0] == "Rss:":
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			cur.rss += kb << 10
		case len(f) > 0 && f[0] == "VmFlags:":
			cur.flags = f[1:]
		}
	}
	out := mappedStore{written: map[string][]string{}}
	for _, s := range all {
		if s.m.wal || s.m.fid == newest {
			out.written[s.m.key] = s.flags
		} else {
			out.oldResident += s.rss
		}
	}
	return out, nil
}

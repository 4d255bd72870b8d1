package badgerstore

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"parc/cmdb/store"
)

// TestTrimValueLogs writes values across several value-log files, then
// pages the old files out: their pages leave the resident set, and every
// value still reads back.
func TestTrimValueLogs(t *testing.T) {
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
	before, err := residentValueLogs(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	if before == 0 {
		t.Fatalf("no resident value-log pages after writing %d values to %s", n, s.dir)
	}
	released, err := trimValueLogs(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	after, err := residentValueLogs(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("old value logs resident: %d KiB before, %d KiB after paging out %d KiB of mappings", before>>10, after>>10, released>>10)
	if released == 0 || after != 0 {
		t.Fatalf("after trimming: %d bytes released, %d still resident", released, after)
	}
	for i := range n {
		v, err := s.Get(ctx, fmt.Appendf(nil, "k%05d", i))
		if err != nil || !bytes.Equal(v, value(i)) {
			t.Fatalf("value %d after trimming: %v (%d bytes)", i, err, len(v))
		}
	}
}

// residentValueLogs returns the resident bytes of dir's value-log
// mappings other than the newest's.
func residentValueLogs(dir string) (int64, error) {
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	rss := map[int]int64{}
	newest, cur := -1, -1
	for _, line := range strings.Split(string(b), "\n") {
		_, _, fid, header := parseMapping(line, dir)
		switch {
		case header:
			cur = fid
			newest = max(newest, fid)
		case cur >= 0 && strings.HasPrefix(line, "Rss:"):
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			rss[cur] += kb << 10
		}
	}
	var n int64
	for fid, v := range rss {
		if fid != newest {
			n += v
		}
	}
	return n, nil
}

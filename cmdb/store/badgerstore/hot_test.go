package badgerstore

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"parc/cmdb/store"
)

func putChange(k, v string) change { return change{key: []byte(k), value: []byte(v)} }

// TestHotCacheRules: what the cache serves and accepts, commit by commit.
func TestHotCacheRules(t *testing.T) {
	h := newHotCache([]string{"ag/", "ci/"}, 1<<20)
	if h.covers([]byte("sw/x")) || !h.covers([]byte("ci/x")) {
		t.Fatal("covers")
	}
	k := []byte("ci/1")
	// A read from Badger is offered and served to snapshots that
	// include its revision.
	h.offer(k, []byte("v5"), 5, 7)
	if v, rev, ok := h.get(k, 7); !ok || rev != 5 || string(v) != "v5" {
		t.Fatalf("get after offer: %q %d %v", v, rev, ok)
	}
	// A key written before it was read is only marked; the first read
	// from a snapshot that includes the write caches it.
	m := []byte("ci/m")
	h.admit(nil, []change{putChange("ci/m", "m3")})
	h.finish([]change{putChange("ci/m", "m3")}, 3, true)
	if _, _, ok := h.get(m, 4); ok {
		t.Error("served a marker")
	}
	h.offer(m, []byte("m1"), 1, 2) // an older snapshot's read
	if _, _, ok := h.get(m, 4); ok {
		t.Error("cached a read older than the marker")
	}
	h.offer(m, []byte("m3"), 3, 4)
	if v, _, ok := h.get(m, 4); !ok || string(v) != "m3" {
		t.Errorf("after a current read: %q %v", v, ok)
	}
	// A commit in flight: not served, nothing offered, and a read served
	// before it fails the check of a later commit.
	served := map[string]int64{"ci/1": 5}
	if !h.admit(nil, []change{putChange("ci/1", "v9")}) {
		t.Fatal("admit")
	}
	if _, _, ok := h.get(k, 20); ok {
		t.Error("served a pending key")
	}
	if h.admit(served, nil) {
		t.Error("a read of a pending key passed the commit check")
	}
	h.offer(k, []byte("stale"), 5, 8)
	h.finish([]change{putChange("ci/1", "v9")}, 9, true)
	if _, _, ok := h.get(k, 8); ok {
		t.Error("served revision 9 to a snapshot at 8")
	}
	if v, _, ok := h.get(k, 9); !ok || string(v) != "v9" {
		t.Errorf("after the commit: %q %v", v, ok)
	}
	if h.admit(served, nil) {
		t.Error("a read of revision 5 passed the check after revision 9")
	}
	if !h.admit(map[string]int64{"ci/1": 9}, nil) {
		t.Error("a current read failed the check")
	}
	// Deletions leave a tombstone: never served, and it blocks offers of
	// what older snapshots read.
	h.admit(nil, []change{{key: k, del: true}})
	h.finish([]change{{key: k, del: true}}, 10, true)
	if _, _, ok := h.get(k, 10); ok {
		t.Error("served a tombstone")
	}
	h.offer(k, []byte("v9"), 9, 9)
	if e := h.m["ci/1"]; e == nil || e.known {
		t.Errorf("an older read replaced the tombstone: %+v", e)
	}
	// A failed commit forgets its keys, and older snapshots may not
	// offer them again.
	h.admit(nil, []change{putChange("ag/a", "x")})
	h.finish([]change{putChange("ag/a", "x")}, 11, false)
	h.offer([]byte("ag/a"), []byte("old"), 3, 10)
	if _, _, ok := h.get([]byte("ag/a"), 12); ok {
		t.Error("a read older than a failed commit was cached")
	}
	if len(h.pending) != 0 {
		t.Errorf("pending left: %v", h.pending)
	}
}

// TestHotCacheEviction: past the budget the oldest entries go, and
// snapshots older than the eviction may not offer what they read.
func TestHotCacheEviction(t *testing.T) {
	h := newHotCache([]string{""}, 8<<10)
	for i := range 100 {
		c := putChange(fmt.Sprintf("k%03d", i), "0123456789012345678901234567890123456789")
		h.admit(nil, []change{c})
		h.finish([]change{c}, int64(i+1), true)
		h.offer(c.key, c.value, int64(i+1), int64(i+1)) // read back
	}
	if h.bytes > h.budget {
		t.Fatalf("%d bytes held, budget %d", h.bytes, h.budget)
	}
	if _, _, ok := h.get([]byte("k000"), 200); ok {
		t.Error("the oldest entry is still there")
	}
	if _, _, ok := h.get([]byte("k099"), 200); !ok {
		t.Error("the newest entry was evicted")
	}
	if h.evictRev < 50 {
		t.Errorf("evictRev %d after evicting entries of revisions past 50", h.evictRev)
	}
	h.offer([]byte("k000"), []byte("stale"), 1, 40)
	if _, _, ok := h.get([]byte("k000"), 200); ok {
		t.Error("a snapshot older than the eviction offered a value")
	}
	h.offer([]byte("k000"), []byte("fresh"), 1, 100)
	if v, _, ok := h.get([]byte("k000"), 200); !ok || string(v) != "fresh" {
		t.Errorf("a current snapshot's read: %q %v", v, ok)
	}
}

// TestHotCacheIncrements: concurrent read-modify-write transactions on a
// few hot keys lose no update, with a budget that keeps evicting.
func TestHotCacheIncrements(t *testing.T) {
	s, err := Open(t.TempDir(), Options{HotPrefixes: []string{"c/"}, HotBytes: 300})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const workers, n, keys = 4, 100, 3
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				k := []byte(fmt.Sprintf("c/%d", (w+i)%keys))
				_, err := s.Update(ctx, func(tx store.Txn) error {
					v, err := tx.Get(ctx, k)
					if err != nil && err != store.ErrNotFound {
						return err
					}
					var x int
					fmt.Sscan(string(v), &x)
					return tx.Put(k, []byte(fmt.Sprint(x+1)))
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	total := 0
	for k := range keys {
		v, err := s.Get(ctx, []byte(fmt.Sprintf("c/%d", k)))
		if err != nil {
			t.Fatal(err)
		}
		var x int
		fmt.Sscan(string(v), &x)
		total += x
	}
	if total != workers*n {
		t.Errorf("total %d, want %d: updates lost", total, workers*n)
	}
	if st := s.HotStats(); st.Hits == 0 {
		t.Errorf("%+v: the cache served nothing", st)
	}
}

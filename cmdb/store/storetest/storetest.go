// Package storetest is the conformance suite every store backend passes.
// A backend's test calls Run with a function that opens a fresh, empty
// store; each subtest opens its own.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"parc/cmdb/store"
)

// Compactor is the optional ability of a backend to drop the feed up to
// rev, so the suite can check ErrCompacted: after Compact(rev), Watch from
// rev must work and Watch from an earlier revision must fail.
type Compactor interface {
	Compact(ctx context.Context, rev int64) error
}

// Run runs the conformance suite. open must return a fresh, empty store and
// arrange for it to be closed when t ends (closing twice must be harmless).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"GetNotFound", testGetNotFound},
		{"PutGetDelete", testPutGetDelete},
		{"ReadYourWrites", testReadYourWrites},
		{"ScanPrefix", testScanPrefix},
		{"ScanRange", testScanRange},
		{"ScanLimitAfterPaging", testScanPaging},
		{"ScanReverse", testScanReverse},
		{"View", testView},
		{"UpdateAbort", testUpdateAbort},
		{"ConflictIncrement", testConflictIncrement},
		{"ConflictRead", testConflictRead},
		{"ConflictAbsentRead", testConflictAbsentRead},
		{"ConflictScan", testConflictScan},
		{"LimitValueSize", testLimitValueSize},
		{"LimitTxnOps", testLimitTxnOps},
		{"LimitTxnBytes", testLimitTxnBytes},
		{"BadKey", testBadKey},
		{"Rev", testRev},
		{"WatchReplay", testWatchReplay},
		{"WatchFromMiddle", testWatchFromMiddle},
		{"WatchLive", testWatchLive},
		{"WatchCancel", testWatchCancel},
		{"WatchCompacted", testWatchCompacted},
		{"Closed", testClosed},
		{"Fence", testFence},
		{"ConcurrentCommitsWatch", testConcurrentCommitsWatch},
		{"PutNew", testPutNew},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func put(t *testing.T, s store.Store, kv ...string) int64 {
	t.Helper()
	rev, err := s.Update(ctxT(t), func(tx store.Txn) error {
		for i := 0; i < len(kv); i += 2 {
			if err := tx.Put([]byte(kv[i]), []byte(kv[i+1])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("put %v: %v", kv, err)
	}
	return rev
}

func del(t *testing.T, s store.Store, keys ...string) int64 {
	t.Helper()
	rev, err := s.Update(ctxT(t), func(tx store.Txn) error {
		for _, k := range keys {
			if err := tx.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("delete %v: %v", keys, err)
	}
	return rev
}

func get(t *testing.T, r store.Reader, key string) (string, bool) {
	t.Helper()
	v, err := r.Get(ctxT(t), []byte(key))
	if errors.Is(err, store.ErrNotFound) {
		return "", false
	}
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	return string(v), true
}

func scanKeys(t *testing.T, r store.Reader, rg store.Range) []string {
	t.Helper()
	kvs, err := r.Scan(ctxT(t), rg)
	if err != nil {
		t.Fatalf("scan %+v: %v", rg, err)
	}
	keys := make([]string, len(kvs))
	for i, kv := range kvs {
		keys[i] = string(kv.Key)
	}
	return keys
}

func eq(t *testing.T, what string, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) || len(got) != len(want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func testGetNotFound(t *testing.T, s store.Store) {
	_, err := s.Get(ctxT(t), []byte("missing"))
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(missing) = %v, want ErrNotFound", err)
	}
}

func testPutGetDelete(t *testing.T, s store.Store) {
	rev := put(t, s, "a", "1", "b", "2", "empty", "")
	if v, ok := get(t, s, "a"); !ok || v != "1" {
		t.Errorf("Get(a) = %q, %v", v, ok)
	}
	if v, ok := get(t, s, "empty"); !ok || v != "" {
		t.Errorf("Get(empty) = %q, %v; want empty value present", v, ok)
	}
	kvs, err := s.Scan(ctxT(t), store.Range{Prefix: []byte("a")})
	if err != nil || len(kvs) != 1 {
		t.Fatalf("Scan(a) = %v, %v", kvs, err)
	}
	if kvs[0].ModRev != rev {
		t.Errorf("ModRev = %d, want %d (the Update's revision)", kvs[0].ModRev, rev)
	}
	rev2 := put(t, s, "a", "11")
	if v, _ := get(t, s, "a"); v != "11" {
		t.Errorf("Get(a) after overwrite = %q", v)
	}
	kvs, _ = s.Scan(ctxT(t), store.Range{Prefix: []byte("a")})
	if len(kvs) != 1 || kvs[0].ModRev != rev2 {
		t.Errorf("ModRev after overwrite = %+v, want %d", kvs, rev2)
	}
	del(t, s, "a", "never-existed")
	if _, ok := get(t, s, "a"); ok {
		t.Errorf("Get(a) after delete: still present")
	}
	if v, ok := get(t, s, "b"); !ok || v != "2" {
		t.Errorf("Get(b) = %q, %v", v, ok)
	}
}

func testReadYourWrites(t *testing.T, s store.Store) {
	put(t, s, "r/a", "1", "r/b", "2", "r/c", "3")
	_, err := s.Update(ctxT(t), func(tx store.Txn) error {
		if err := tx.Put([]byte("r/b"), []byte("20")); err != nil {
			return err
		}
		if err := tx.Put([]byte("r/d"), []byte("4")); err != nil {
			return err
		}
		if err := tx.Delete([]byte("r/a")); err != nil {
			return err
		}
		if v, ok := get(t, tx, "r/b"); !ok || v != "20" {
			t.Errorf("in txn Get(r/b) = %q, %v; want own write", v, ok)
		}
		if _, ok := get(t, tx, "r/a"); ok {
			t.Errorf("in txn Get(r/a): own delete not visible")
		}
		eq(t, "in txn Scan", scanKeys(t, tx, store.Range{Prefix: []byte("r/")}), []string{"r/b", "r/c", "r/d"})
		eq(t, "in txn Scan limit", scanKeys(t, tx, store.Range{Prefix: []byte("r/"), Limit: 2}), []string{"r/b", "r/c"})
		eq(t, "in txn Scan reverse", scanKeys(t, tx, store.Range{Prefix: []byte("r/"), Reverse: true, Limit: 2}), []string{"r/d", "r/c"})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "after commit", scanKeys(t, s, store.Range{Prefix: []byte("r/")}), []string{"r/b", "r/c", "r/d"})
}

func seed(t *testing.T, s store.Store) {
	put(t, s, "a", "x", "p/1", "1", "p/2", "2", "p/3", "3", "p/4", "4", "p/5", "5", "p0", "x", "q", "x", "p/\xff", "ff")
}

func testScanPrefix(t *testing.T, s store.Store) {
	seed(t, s)
	eq(t, "prefix p/", scanKeys(t, s, store.Range{Prefix: []byte("p/")}), []string{"p/1", "p/2", "p/3", "p/4", "p/5", "p/\xff"})
	eq(t, "prefix none", scanKeys(t, s, store.Range{Prefix: []byte("zz")}), []string{})
	kvs, err := s.Scan(ctxT(t), store.Range{Prefix: []byte("p/3")})
	if err != nil || len(kvs) != 1 || string(kvs[0].Value) != "3" {
		t.Errorf("Scan(p/3) = %v, %v", kvs, err)
	}
	all := scanKeys(t, s, store.Range{})
	eq(t, "all", all, []string{"a", "p/1", "p/2", "p/3", "p/4", "p/5", "p/\xff", "p0", "q"})
}

func testScanRange(t *testing.T, s store.Store) {
	seed(t, s)
	eq(t, "[p/2,p/4)", scanKeys(t, s, store.Range{Start: []byte("p/2"), End: []byte("p/4")}), []string{"p/2", "p/3"})
	eq(t, "[p/2,)", scanKeys(t, s, store.Range{Start: []byte("p/\xff")}), []string{"p/\xff", "p0", "q"})
	eq(t, "[,p/2)", scanKeys(t, s, store.Range{End: []byte("p/2")}), []string{"a", "p/1"})
	eq(t, "[p/2,p/4) reverse", scanKeys(t, s, store.Range{Start: []byte("p/2"), End: []byte("p/4"), Reverse: true}), []string{"p/3", "p/2"})
	eq(t, "empty range", scanKeys(t, s, store.Range{Start: []byte("p/4"), End: []byte("p/4")}), []string{})
}

func testScanPaging(t *testing.T, s store.Store) {
	seed(t, s)
	eq(t, "limit 2", scanKeys(t, s, store.Range{Prefix: []byte("p/"), Limit: 2}), []string{"p/1", "p/2"})
	for _, reverse := range []bool{false, true} {
		var got []string
		var after []byte
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("paging does not end")
			}
			kvs, err := s.Scan(ctxT(t), store.Range{Prefix: []byte("p/"), After: after, Limit: 4, Reverse: reverse})
			if err != nil {
				t.Fatal(err)
			}
			for _, kv := range kvs {
				got = append(got, string(kv.Key))
			}
			if len(kvs) < 4 {
				break
			}
			after = kvs[len(kvs)-1].Key
		}
		want := []string{"p/1", "p/2", "p/3", "p/4", "p/5", "p/\xff"}
		if reverse {
			want = []string{"p/\xff", "p/5", "p/4", "p/3", "p/2", "p/1"}
		}
		eq(t, fmt.Sprintf("paged reverse=%v", reverse), got, want)
	}
	eq(t, "range after", scanKeys(t, s, store.Range{Start: []byte("p/1"), End: []byte("p/5"), After: []byte("p/2")}), []string{"p/3", "p/4"})
	eq(t, "range after reverse", scanKeys(t, s, store.Range{Start: []byte("p/1"), End: []byte("p/5"), After: []byte("p/3"), Reverse: true}), []string{"p/2", "p/1"})
}

func testScanReverse(t *testing.T, s store.Store) {
	seed(t, s)
	eq(t, "reverse prefix", scanKeys(t, s, store.Range{Prefix: []byte("p/"), Reverse: true, Limit: 3}), []string{"p/\xff", "p/5", "p/4"})
	eq(t, "reverse all", scanKeys(t, s, store.Range{Reverse: true, Limit: 2}), []string{"q", "p0"})
}

func testView(t *testing.T, s store.Store) {
	put(t, s, "v/a", "1")
	err := s.View(ctxT(t), func(r store.Reader) error {
		if v, ok := get(t, r, "v/a"); !ok || v != "1" {
			t.Errorf("View Get(v/a) = %q, %v", v, ok)
		}
		eq(t, "View Scan", scanKeys(t, r, store.Range{Prefix: []byte("v/")}), []string{"v/a"})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := s.View(ctxT(t), func(store.Reader) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("View error = %v, want fn's error", err)
	}
}

func testUpdateAbort(t *testing.T, s store.Store) {
	before := put(t, s, "keep", "1")
	boom := errors.New("boom")
	_, err := s.Update(ctxT(t), func(tx store.Txn) error {
		if err := tx.Put([]byte("x"), []byte("1")); err != nil {
			return err
		}
		if err := tx.Put([]byte("keep"), []byte("2")); err != nil {
			return err
		}
		if err := tx.Delete([]byte("keep")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update error = %v, want fn's error", err)
	}
	if _, ok := get(t, s, "x"); ok {
		t.Error("aborted Put was written")
	}
	if v, _ := get(t, s, "keep"); v != "1" {
		t.Errorf("keep = %q after aborted txn", v)
	}
	if rev, _ := s.Rev(ctxT(t)); rev != before {
		t.Errorf("Rev = %d after aborted txn, want %d", rev, before)
	}
}

func incr(ctx context.Context, s store.Store, key []byte) error {
	_, err := s.Update(ctx, func(tx store.Txn) error {
		n := 0
		v, err := tx.Get(ctx, key)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		default:
			if n, err = strconv.Atoi(string(v)); err != nil {
				return err
			}
		}
		return tx.Put(key, []byte(strconv.Itoa(n+1)))
	})
	return err
}

func testConflictIncrement(t *testing.T, s store.Store) {
	const workers, n = 2, 50
	ctx := ctxT(t)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				if err := incr(ctx, s, []byte("counter")); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("increment: %v", err)
	}
	if v, _ := get(t, s, "counter"); v != strconv.Itoa(workers*n) {
		t.Fatalf("counter = %s, want %d", v, workers*n)
	}
}

// testConflictRead: a key read, then written by another transaction before
// the reader commits, forces a retry, whatever the reader writes (a
// backend that answers reads from a cache must check them too).
func testConflictRead(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	put(t, s, "r/k", "v1")
	for range 3 { // read it more: a cache has it by now
		if v, _ := get(t, s, "r/k"); v != "v1" {
			t.Fatalf("r/k = %q", v)
		}
	}
	attempts := 0
	_, err := s.Update(ctx, func(tx store.Txn) error {
		attempts++
		v, err := tx.Get(ctx, []byte("r/k"))
		if err != nil {
			return err
		}
		if attempts == 1 {
			put(t, s, "r/k", "v2")
		}
		return tx.Put([]byte("r/saw"), v)
	})
	if err != nil {
		t.Fatal(err)
	}
	if attempts != 2 {
		t.Errorf("fn ran %d times, want 2 (conflict, then success)", attempts)
	}
	if v, _ := get(t, s, "r/saw"); v != "v2" {
		t.Errorf("r/saw = %q, want v2: the committed attempt read a stale value", v)
	}
	// A deletion by another transaction conflicts the same way.
	attempts = 0
	_, err = s.Update(ctx, func(tx store.Txn) error {
		attempts++
		_, err := tx.Get(ctx, []byte("r/k"))
		found := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if attempts == 1 {
			del(t, s, "r/k")
		}
		return tx.Put([]byte("r/saw"), []byte(strconv.FormatBool(found)))
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := get(t, s, "r/saw"); attempts != 2 || v != "false" {
		t.Errorf("after a concurrent delete: %d attempts, r/saw = %q", attempts, v)
	}
}

func testConflictAbsentRead(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	attempts := 0
	_, err := s.Update(ctx, func(tx store.Txn) error {
		attempts++
		_, err := tx.Get(ctx, []byte("flag"))
		found := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if attempts == 1 {
			if found {
				return errors.New("flag present on first attempt")
			}
			// Another transaction creates the key this one read as absent.
			put(t, s, "flag", "on")
		}
		return tx.Put([]byte("saw-flag"), []byte(strconv.FormatBool(found)))
	})
	if err != nil {
		t.Fatal(err)
	}
	if attempts != 2 {
		t.Errorf("fn ran %d times, want 2 (conflict, then success)", attempts)
	}
	if v, _ := get(t, s, "saw-flag"); v != "true" {
		t.Errorf("saw-flag = %q, want true: the committed attempt read a stale absence", v)
	}
}

// testConflictScan: keys a Scan returned are in the read set, so an update
// or a deletion of one by another transaction forces a retry. (Whether an
// insertion into the scanned range conflicts is backend-specific.)
func testConflictScan(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	for _, change := range []func(){
		func() { put(t, s, "s/2", "changed") },
		func() { del(t, s, "s/2") },
	} {
		put(t, s, "s/1", "1", "s/2", "2", "s/3", "3")
		attempts := 0
		_, err := s.Update(ctx, func(tx store.Txn) error {
			attempts++
			kvs, err := tx.Scan(ctx, store.Range{Prefix: []byte("s/")})
			if err != nil {
				return err
			}
			if attempts == 1 {
				change()
			}
			return tx.Put([]byte("count"), []byte(strconv.Itoa(len(kvs))))
		})
		if err != nil {
			t.Fatal(err)
		}
		if attempts != 2 {
			t.Errorf("fn ran %d times, want 2", attempts)
		}
	}
}

func expectTooLarge(t *testing.T, s store.Store, fn func(store.Txn) error, probe string) {
	t.Helper()
	before, _ := s.Rev(ctxT(t))
	_, err := s.Update(ctxT(t), fn)
	if !errors.Is(err, store.ErrTooLarge) {
		t.Fatalf("Update = %v, want ErrTooLarge", err)
	}
	if _, ok := get(t, s, probe); ok {
		t.Errorf("%s written by a too-large transaction", probe)
	}
	if rev, _ := s.Rev(ctxT(t)); rev != before {
		t.Errorf("Rev moved %d -> %d on a too-large transaction", before, rev)
	}
}

func testLimitValueSize(t *testing.T, s store.Store) {
	expectTooLarge(t, s, func(tx store.Txn) error {
		_ = tx.Put([]byte("small"), []byte("1"))
		return tx.Put([]byte("big"), make([]byte, store.MaxValueSize+1))
	}, "small")
	// Even if fn ignores the error, the commit fails.
	expectTooLarge(t, s, func(tx store.Txn) error {
		_ = tx.Put([]byte("small"), []byte("1"))
		_ = tx.Put([]byte("big"), make([]byte, store.MaxValueSize+1))
		return nil
	}, "small")
	put(t, s, "max", string(make([]byte, store.MaxValueSize)))
	if v, _ := get(t, s, "max"); len(v) != store.MaxValueSize {
		t.Errorf("len(max) = %d", len(v))
	}
}

func testLimitTxnOps(t *testing.T, s store.Store) {
	// A store with a wide shape takes more small writes (store.LimitsOf).
	maxOps := max(store.MaxTxnOps, store.LimitsOf(s).Ops)
	expectTooLarge(t, s, func(tx store.Txn) error {
		for i := range maxOps + 1 {
			if err := tx.Put(fmt.Appendf(nil, "k%04d", i), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	}, "k0000")
	_, err := s.Update(ctxT(t), func(tx store.Txn) error {
		for i := range maxOps {
			if err := tx.Put(fmt.Appendf(nil, "k%04d", i), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Update with %d writes: %v", maxOps, err)
	}
	if n := len(scanKeys(t, s, store.Range{Prefix: []byte("k")})); n != maxOps {
		t.Errorf("wrote %d keys, want %d", n, maxOps)
	}
}

func testLimitTxnBytes(t *testing.T, s store.Store) {
	expectTooLarge(t, s, func(tx store.Txn) error {
		for i := range 3 {
			if err := tx.Put(fmt.Appendf(nil, "b%d", i), make([]byte, store.MaxTxnBytes/3)); err != nil {
				return err
			}
		}
		return nil
	}, "b0")
	// Large transactions under the limits commit: many mid-sized values
	// (8100 bytes: just under Badger's value threshold, all inline), and
	// few big ones (kept ~10% under MaxTxnBytes, as etcd counts its
	// request overhead against the same figure).
	shapes := []struct{ n, size int }{{store.MaxTxnOps, 11000}, {store.MaxTxnOps, 8100}, {4, 350 << 10}}
	if w := store.LimitsOf(s); w.Ops > store.MaxTxnOps {
		// The wide shape: more writes than MaxTxnOps, filling its bytes
		// with values just under Badger's value threshold (all inline),
		// and as many writes as it takes, of small values.
		n := w.Bytes / (8100 + len("big0000"))
		shapes = append(shapes, struct{ n, size int }{n, 8100}, struct{ n, size int }{w.Ops, w.Bytes/w.Ops - len("big0000")})
		expectTooLarge(t, s, func(tx store.Txn) error {
			for i := range n + 1 {
				if err := tx.Put(fmt.Appendf(nil, "w%04d", i), make([]byte, 8100)); err != nil {
					return err
				}
			}
			return nil
		}, "w0000")
	}
	for _, shape := range shapes {
		_, err := s.Update(ctxT(t), func(tx store.Txn) error {
			for i := range shape.n {
				if err := tx.Put(fmt.Appendf(nil, "big%04d", i), make([]byte, shape.size)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Errorf("Update with %d values of %d bytes: %v", shape.n, shape.size, err)
		}
	}
	// A key rewritten many times counts once.
	_, err := s.Update(ctxT(t), func(tx store.Txn) error {
		for i := range 1000 {
			if err := tx.Put([]byte("loop"), make([]byte, 10000+i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Errorf("rewriting one key 1000 times: %v", err)
	}
	// Rewriting the same key does not count twice.
	_, err = s.Update(ctxT(t), func(tx store.Txn) error {
		for range 3 {
			if err := tx.Put([]byte("same"), make([]byte, store.MaxValueSize/2)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Errorf("rewriting one key: %v", err)
	}
}

func testBadKey(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	for _, k := range [][]byte{nil, {}, {0}, []byte("\x00internal")} {
		if _, err := s.Get(ctx, k); !errors.Is(err, store.ErrBadKey) {
			t.Errorf("Get(%q) = %v, want ErrBadKey", k, err)
		}
		for name, op := range map[string]func(store.Txn) error{
			"Put":    func(tx store.Txn) error { return tx.Put(k, []byte("v")) },
			"Delete": func(tx store.Txn) error { return tx.Delete(k) },
		} {
			_, err := s.Update(ctx, op)
			if !errors.Is(err, store.ErrBadKey) {
				t.Errorf("%s(%q) = %v, want ErrBadKey", name, k, err)
			}
		}
	}
	put(t, s, "ok", "1")
	eq(t, "scan all hides internal keys", scanKeys(t, s, store.Range{}), []string{"ok"})
	eq(t, "reverse scan all hides internal keys", scanKeys(t, s, store.Range{Reverse: true}), []string{"ok"})
}

func testRev(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	r0, err := s.Rev(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r1 := put(t, s, "a", "1")
	if r1 <= r0 {
		t.Errorf("rev after put %d <= before %d", r1, r0)
	}
	if r, _ := s.Rev(ctx); r != r1 {
		t.Errorf("Rev() = %d, want %d", r, r1)
	}
	r2 := put(t, s, "a", "2", "b", "2")
	if r2 <= r1 {
		t.Errorf("rev %d <= previous %d", r2, r1)
	}
	r3, err := s.Update(ctx, func(tx store.Txn) error {
		_, err := tx.Get(ctx, []byte("a"))
		return err
	})
	if err != nil || r3 != r2 {
		t.Errorf("read-only Update = %d, %v; want %d", r3, err, r2)
	}
	r4, err := s.Update(ctx, func(tx store.Txn) error { return tx.Delete([]byte("absent")) })
	if err != nil || r4 != r2 {
		t.Errorf("Update deleting an absent key = %d, %v; want %d (no change)", r4, err, r2)
	}
	if r, _ := s.Rev(ctx); r != r2 {
		t.Errorf("Rev() = %d after no-write Updates, want %d", r, r2)
	}
}

// collect reads n events from ch, failing on a timeout, an Err event or a
// closed channel.
func collect(t *testing.T, ch <-chan store.Event, n int) []store.Event {
	t.Helper()
	var evs []store.Event
	timeout := time.After(10 * time.Second)
	for len(evs) < n {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("watch closed after %d of %d events", len(evs), n)
			}
			if ev.Err != nil {
				t.Fatalf("watch error after %d events: %v", len(evs), ev.Err)
			}
			evs = append(evs, ev)
		case <-timeout:
			t.Fatalf("timeout after %d of %d events", len(evs), n)
		}
	}
	return evs
}

func noMore(t *testing.T, ch <-chan store.Event) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if ok {
			t.Errorf("unexpected event %s", fmtEv(ev))
		}
	case <-time.After(100 * time.Millisecond):
	}
}

func fmtEv(ev store.Event) string {
	typ := map[store.EventType]string{store.EventPut: "put", store.EventDelete: "del"}[ev.Type]
	prev := "<nil>"
	if ev.Prev != nil {
		prev = string(ev.Prev)
	}
	return fmt.Sprintf("%s %s=%s prev=%s last=%v", typ, ev.Key, ev.Value, prev, ev.Last)
}

func checkEvents(t *testing.T, got []store.Event, revs []int64, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i, ev := range got {
		if s := fmtEv(ev); s != want[i] {
			t.Errorf("event %d = %q, want %q", i, s, want[i])
		}
		if ev.Rev != revs[i] {
			t.Errorf("event %d rev = %d, want %d", i, ev.Rev, revs[i])
		}
	}
}

func writeHistory(t *testing.T, s store.Store) []int64 {
	return []int64{
		put(t, s, "w/b", "1", "w/a", "1", "other", "x"),
		put(t, s, "w/a", "2", "other", "y"),
		del(t, s, "w/b", "other"),
		put(t, s, "other", "z"),
		put(t, s, "w/c", "3"),
	}
}

func testWatchReplay(t *testing.T, s store.Store) {
	r := writeHistory(t, s)
	ch, err := s.Watch(ctxT(t), []byte("w/"), 0)
	if err != nil {
		t.Fatal(err)
	}
	checkEvents(t, collect(t, ch, 5), []int64{r[0], r[0], r[1], r[2], r[4]}, []string{
		"put w/a=1 prev=<nil> last=false",
		"put w/b=1 prev=<nil> last=true",
		"put w/a=2 prev=1 last=true",
		"del w/b= prev=1 last=true",
		"put w/c=3 prev=<nil> last=true",
	})
	noMore(t, ch)

	all, err := s.Watch(ctxT(t), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	evs := collect(t, all, 9)
	if fmtEv(evs[0]) != "put other=x prev=<nil> last=false" || evs[1].Last || !evs[2].Last {
		t.Errorf("unfiltered watch: first revision %s / %s / %s", fmtEv(evs[0]), fmtEv(evs[1]), fmtEv(evs[2]))
	}
}

func testWatchFromMiddle(t *testing.T, s store.Store) {
	r := writeHistory(t, s)
	ch, err := s.Watch(ctxT(t), []byte("w/"), r[1])
	if err != nil {
		t.Fatal(err)
	}
	checkEvents(t, collect(t, ch, 2), []int64{r[2], r[4]}, []string{
		"del w/b= prev=1 last=true",
		"put w/c=3 prev=<nil> last=true",
	})
	noMore(t, ch)
	ch, err = s.Watch(ctxT(t), []byte("w/"), r[4])
	if err != nil {
		t.Fatal(err)
	}
	noMore(t, ch)
	r5 := put(t, s, "w/d", "4")
	checkEvents(t, collect(t, ch, 1), []int64{r5}, []string{"put w/d=4 prev=<nil> last=true"})
}

func testWatchLive(t *testing.T, s store.Store) {
	const n = 300
	ctx := ctxT(t)
	done := make(chan error, 1)
	progress := make(chan int, n)
	go func() {
		for i := 1; i <= n; i++ {
			_, err := s.Update(ctx, func(tx store.Txn) error {
				return tx.Put([]byte("live/k"), []byte(strconv.Itoa(i)))
			})
			if err != nil {
				done <- err
				return
			}
			progress <- i
		}
		done <- nil
	}()
	// Start watchers at different points of the write stream; each must see
	// every value exactly once, in order, across the replay/live boundary.
	var chans []<-chan store.Event
	for _, at := range []int{0, 1, 50, 150} {
		for at > 0 {
			if <-progress >= at {
				break
			}
		}
		ch, err := s.Watch(ctx, []byte("live/"), 0)
		if err != nil {
			t.Fatal(err)
		}
		chans = append(chans, ch)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for w, ch := range chans {
		evs := collect(t, ch, n)
		for i, ev := range evs {
			if string(ev.Value) != strconv.Itoa(i+1) || !ev.Last {
				t.Fatalf("watcher %d event %d = %s, want value %d", w, i, fmtEv(ev), i+1)
			}
			if i > 0 && (string(ev.Prev) != strconv.Itoa(i) || ev.Rev <= evs[i-1].Rev) {
				t.Fatalf("watcher %d event %d = %s rev %d after rev %d", w, i, fmtEv(ev), ev.Rev, evs[i-1].Rev)
			}
		}
		noMore(t, ch)
	}
}

func testWatchCancel(t *testing.T, s store.Store) {
	put(t, s, "c/a", "1")
	ctx, cancel := context.WithCancel(ctxT(t))
	ch, err := s.Watch(ctx, []byte("c/"), 0)
	if err != nil {
		t.Fatal(err)
	}
	collect(t, ch, 1)
	cancel()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("watch channel not closed after cancel")
		}
	}
}

func testWatchCompacted(t *testing.T, s store.Store) {
	c, ok := s.(Compactor)
	if !ok {
		t.Skip("backend does not implement storetest.Compactor")
	}
	r1 := put(t, s, "z/a", "1")
	r2 := put(t, s, "z/a", "2")
	r3 := put(t, s, "z/a", "3")
	if err := c.Compact(ctxT(t), r2); err != nil {
		t.Fatal(err)
	}
	ch, err := s.Watch(ctxT(t), []byte("z/"), r1)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-ch:
		if !errors.Is(ev.Err, store.ErrCompacted) {
			t.Fatalf("watch from compacted rev: %s err=%v, want ErrCompacted", fmtEv(ev), ev.Err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("timeout waiting for ErrCompacted")
	}
	select {
	case _, ok := <-ch:
		if ok {
			t.Error("channel not closed after ErrCompacted")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("channel not closed after ErrCompacted")
	}
	ch, err = s.Watch(ctxT(t), []byte("z/"), r2)
	if err != nil {
		t.Fatal(err)
	}
	checkEvents(t, collect(t, ch, 1), []int64{r3}, []string{"put z/a=3 prev=2 last=true"})
}

func testClosed(t *testing.T, s store.Store) {
	put(t, s, "a", "1")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(context.Background(), []byte("a")); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Get after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Update(context.Background(), func(store.Txn) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Update after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Watch(context.Background(), nil, 0); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Watch after Close = %v, want ErrClosed", err)
	}
}

// testConcurrentCommitsWatch commits from several goroutines at once and
// checks that a watcher sees every commit once, in revision order, and
// that each Update's returned revision is the one its event carries.
func testConcurrentCommitsWatch(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	from, err := s.Rev(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := s.Watch(ctx, []byte("cc/"), from)
	if err != nil {
		t.Fatal(err)
	}
	const workers, n = 4, 25
	revs := make(chan [2]string, workers*n)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				k := fmt.Sprintf("cc/%d/%03d", w, i)
				rev, err := s.Update(ctx, func(tx store.Txn) error { return tx.Put([]byte(k), []byte(k)) })
				if err != nil {
					t.Error(err)
					return
				}
				revs <- [2]string{k, strconv.FormatInt(rev, 10)}
			}
		}()
	}
	wg.Wait()
	close(revs)
	want := map[string]string{}
	for r := range revs {
		want[r[0]] = r[1]
	}
	evs := collect(t, ch, workers*n)
	for i, ev := range evs {
		if i > 0 && ev.Rev <= evs[i-1].Rev {
			t.Fatalf("event %d at rev %d after rev %d", i, ev.Rev, evs[i-1].Rev)
		}
		if rev := strconv.FormatInt(ev.Rev, 10); want[string(ev.Key)] != rev {
			t.Errorf("%s: event at rev %s, Update returned %s", ev.Key, rev, want[string(ev.Key)])
		}
	}
	noMore(t, ch)
}

// testPutNew: store.PutNew writes a new key as Put does (read your writes,
// committed, watched), and checks keys and sizes the same way.
func testPutNew(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	rev, err := s.Update(ctx, func(tx store.Txn) error {
		if err := store.PutNew(tx, []byte("n/a"), []byte("1")); err != nil {
			return err
		}
		if v, err := tx.Get(ctx, []byte("n/a")); err != nil || string(v) != "1" {
			t.Errorf("read own new key: %q, %v", v, err)
		}
		if err := tx.Put([]byte("n/b"), []byte("1")); err != nil {
			return err
		}
		return store.PutNew(tx, []byte("n/b"), []byte("2")) // written in this transaction already: a Put
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := get(t, s, "n/a"); v != "1" {
		t.Errorf("n/a = %q after commit", v)
	}
	if v, _ := get(t, s, "n/b"); v != "2" {
		t.Errorf("n/b = %q after commit", v)
	}
	ch, err := s.Watch(ctx, []byte("n/"), rev-1) // not from 0: a shared cluster may be compacted
	if err != nil {
		t.Fatal(err)
	}
	evs := collect(t, ch, 2)
	if fmtEv(evs[0]) != "put n/a=1 prev=<nil> last=false" || fmtEv(evs[1]) != "put n/b=2 prev=<nil> last=true" {
		t.Errorf("events %s / %s", fmtEv(evs[0]), fmtEv(evs[1]))
	}
	_, err = s.Update(ctx, func(tx store.Txn) error { return store.PutNew(tx, nil, []byte("x")) })
	if !errors.Is(err, store.ErrBadKey) {
		t.Errorf("PutNew of an empty key: %v", err)
	}
	_, err = s.Update(ctx, func(tx store.Txn) error { return store.PutNew(tx, []byte("n/big"), make([]byte, store.MaxValueSize+1)) })
	if !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("PutNew of a value too large: %v", err)
	}
}

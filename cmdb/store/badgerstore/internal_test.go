package badgerstore

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"parc/cmdb/store"
)

func TestReopenKeepsRevAndFeed(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := s.Update(ctx, func(tx store.Txn) error { return tx.Put([]byte("a"), []byte("1")) })
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if r, _ := s.Rev(ctx); r != rev {
		t.Fatalf("Rev after reopen = %d, want %d", r, rev)
	}
	rev2, err := s.Update(ctx, func(tx store.Txn) error { return tx.Put([]byte("a"), []byte("2")) })
	if err != nil || rev2 != rev+1 {
		t.Fatalf("Update after reopen = %d, %v; want %d", rev2, err, rev+1)
	}
	ch, err := s.Watch(ctx, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []int64{rev, rev2} {
		if ev := <-ch; ev.Rev != want || ev.Err != nil {
			t.Fatalf("event %+v, want rev %d", ev, want)
		}
	}
}

func TestAutoCompaction(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), Options{FeedRetention: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 30 {
		if _, err := s.Update(ctx, func(tx store.Txn) error { return tx.Put([]byte("a"), []byte("x")) }); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.compacted.Load() < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("compacted = %d, want >= 10", s.compacted.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	ch, _ := s.Watch(ctx, nil, 1)
	if ev := <-ch; !errors.Is(ev.Err, store.ErrCompacted) {
		t.Fatalf("Watch(1) = %+v, want ErrCompacted", ev)
	}
	ch, _ = s.Watch(ctx, nil, 25)
	if ev := <-ch; ev.Err != nil || ev.Rev != 26 {
		t.Fatalf("Watch(25) = %+v, want rev 26", ev)
	}
}

func TestLocker(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	l1, err := s.Campaign(ctx, "job", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := s.Campaign(short, "job", time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Campaign = %v, want deadline exceeded", err)
	}
	if _, err := s.Campaign(ctx, "other", time.Second); err != nil {
		t.Fatal(err)
	}
	if err := l1.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l1.Done():
	default:
		t.Fatal("Done not closed after Resign")
	}
	l2, err := s.Campaign(ctx, "job", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	select {
	case <-l2.Done():
	case <-time.After(time.Second):
		t.Fatal("Done not closed after Close")
	}
}

// TestConflictsLeaveNoFeedGap commits conflicting increments from several
// goroutines (each failed commit has taken a revision) while a watcher
// follows: the watcher must see every successful increment, in order,
// without a gap error, and the counter must end right.
func TestConflictsLeaveNoFeedGap(t *testing.T) {
	s, err := Open(t.TempDir(), Options{SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ch, err := s.Watch(ctx, []byte("n"), 0)
	if err != nil {
		t.Fatal(err)
	}
	const workers, n = 4, 40
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				_, err := s.Update(ctx, func(tx store.Txn) error {
					v, err := tx.Get(ctx, []byte("n"))
					if errors.Is(err, store.ErrNotFound) {
						v, err = []byte("0"), nil
					}
					if err != nil {
						return err
					}
					i, _ := strconv.Atoi(string(v))
					return tx.Put([]byte("n"), []byte(strconv.Itoa(i+1)))
				})
				if err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	last := 0
	var lastRev int64
	for last < workers*n {
		ev := <-ch
		if ev.Err != nil {
			t.Fatalf("watch after %d: %v", last, ev.Err)
		}
		i, _ := strconv.Atoi(string(ev.Value))
		if i != last+1 || ev.Rev <= lastRev {
			t.Fatalf("event n=%s at rev %d after n=%d at rev %d", ev.Value, ev.Rev, last, lastRev)
		}
		last, lastRev = i, ev.Rev
	}
	rev, _ := s.Rev(ctx)
	t.Logf("%d increments in %d revisions (%d failed commits filled)", last, rev, rev-int64(last))
}

// TestSlowWatcherHoldsFeed checks that compaction keeps what a running
// watcher has yet to read, up to MaxFeedRetention.
func TestSlowWatcherHoldsFeed(t *testing.T) {
	s, err := Open(t.TempDir(), Options{FeedRetention: 10, MaxFeedRetention: 200})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	put := func(n int) {
		for i := range n {
			if _, err := s.Update(ctx, func(tx store.Txn) error { return tx.Put([]byte("k"), []byte(strconv.Itoa(i))) }); err != nil {
				t.Fatal(err)
			}
		}
	}
	slow, err := s.Watch(ctx, []byte("k"), 0)
	if err != nil {
		t.Fatal(err)
	}
	put(150) // 15 × the retention, under the maximum: the watcher holds it
	if err := s.compact(s.compactTarget()); err != nil {
		t.Fatal(err)
	}
	for i := range 150 {
		ev := <-slow
		if ev.Err != nil {
			t.Fatalf("slow watcher after %d events: %v", i, ev.Err)
		}
	}
	// A watcher that falls further behind than the maximum loses.
	lost, err := s.Watch(ctx, []byte("k"), s.currentRev())
	if err != nil {
		t.Fatal(err)
	}
	put(300)
	if err := s.compact(s.compactTarget()); err != nil {
		t.Fatal(err)
	}
	if c := s.compacted.Load(); c < s.currentRev()-200 {
		t.Errorf("compacted to %d at revision %d: more than the maximum kept", c, s.currentRev())
	}
	// It is told ErrCompacted, unless it read the revisions into memory
	// before the compaction (a loaded machine lets the puts run ahead of
	// it, and it then holds a whole batch): then it must deliver every one,
	// without a gap.
	from, got := s.currentRev()-300, 0
	for ev := range lost {
		if ev.Err != nil {
			if !errors.Is(ev.Err, store.ErrCompacted) {
				t.Errorf("lost watcher: %v", ev.Err)
			}
			return
		}
		if got++; ev.Rev != from+int64(got) {
			t.Fatalf("lost watcher: event %d at revision %d, want %d: a gap", got, ev.Rev, from+int64(got))
		}
		if got == 300 {
			return
		}
	}
	t.Errorf("a watcher 300 revisions behind with a maximum of 200 got %d events and no ErrCompacted", got)
}

func TestRecentFeedBounds(t *testing.T) {
	var f recentFeed
	big := make([]byte, recentMaxBytes/4)
	for rev := int64(1); rev <= 10; rev++ {
		f.add(rev, big)
	}
	if _, ok := f.get(6); ok {
		t.Error("rev 6 kept although only 4 records of this size fit")
	}
	if r, ok := f.get(10); !ok || len(r) != len(big) {
		t.Error("newest record missing")
	}
	for rev := int64(11); rev <= 11+recentMaxRecords; rev++ {
		f.add(rev, []byte{1})
	}
	if len(f.recs) != recentMaxRecords {
		t.Errorf("%d records kept, want %d", len(f.recs), recentMaxRecords)
	}
	f.add(100_000, []byte{2}) // a gap restarts the cache
	if _, ok := f.get(11 + recentMaxRecords); ok {
		t.Error("record before a gap still served")
	}
	if r, ok := f.get(100_000); !ok || r[0] != 2 {
		t.Error("record after a gap missing")
	}
	if _, ok := f.get(99_999); ok {
		t.Error("unknown revision served")
	}
}

// TestCompressedFeedRecords writes records large enough to be stored
// compressed and reads them back from Badger (after a reopen, so not from
// the in-memory cache).
func TestCompressedFeedRecords(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	big := []byte(strings.Repeat("host web-01 package curl 7.88.1-10 amd64 dpkg; ", 400))
	if _, err := s.Update(ctx, func(tx store.Txn) error { return tx.Put([]byte("a"), big) }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, func(tx store.Txn) error { return tx.Put([]byte("a"), []byte("small")) }); err != nil {
		t.Fatal(err)
	}
	var stored []byte
	if err := s.db.View(func(btx *badger.Txn) error {
		item, err := btx.Get(feedKey(1))
		if err == nil {
			stored, err = item.ValueCopy(nil)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if stored[0] != recordZstd || len(stored) > len(big)/4 {
		t.Errorf("record of %d bytes stored as %d bytes, format %#x", len(big), len(stored), stored[0])
	}
	s.Close()
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ch, err := s.Watch(ctx, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	first, second := <-ch, <-ch
	if first.Err != nil || !bytes.Equal(first.Value, big) || first.Prev != nil {
		t.Errorf("first event: %d bytes, err %v", len(first.Value), first.Err)
	}
	if second.Err != nil || string(second.Value) != "small" || !bytes.Equal(second.Prev, big) {
		t.Errorf("second event: %q (prev %d bytes), err %v", second.Value, len(second.Prev), second.Err)
	}
	if _, err := loadedRecord(append([]byte{recordZstd}, append(zstdMagic[:], 1, 2, 3)...)); !errors.Is(err, errCorrupt) {
		t.Errorf("corrupt compressed record: %v", err)
	}
}

// TestFeedRecordCountLikeMarker commits 255 changes that do not compress:
// the record's first byte, the uvarint count, is the compressed marker,
// and watchers reading it back from Badger must still get every change.
// A record of that shape stored plain by an older version is read plain.
func TestFeedRecordCountLikeMarker(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	values := map[string][]byte{}
	for i := range 255 {
		v := make([]byte, 64)
		for j := range v {
			v[j] = byte(rnd.Uint32())
		}
		values["k"+strconv.Itoa(i)] = v
	}
	if _, err := s.Update(ctx, func(tx store.Txn) error {
		for k, v := range values {
			if err := tx.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := s.Watch(wctx, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for range values {
		ev := <-ch
		if ev.Err != nil {
			t.Fatalf("watch: %v", ev.Err)
		}
		if !bytes.Equal(ev.Value, values[string(ev.Key)]) {
			t.Fatalf("event for %q: %d bytes, want %d", ev.Key, len(ev.Value), len(values[string(ev.Key)]))
		}
	}

	rec := encodeRecord([]change{{key: []byte("a"), value: []byte("1")}})
	plain := append([]byte{recordZstd, 1}, rec[1:]...) // a count of 255, as an older version stored it
	if got, err := loadedRecord(plain); err != nil || !bytes.Equal(got, plain) {
		t.Errorf("plain record starting with the marker: %v", err)
	}
	if got := storedRecord(plain); !compressed(got) {
		t.Errorf("record starting with the marker stored as %#x...", got[:2])
	}
}

// A key read before it is written gets its Prev from that read; a write
// racing between the read and the commit makes the transaction retry, so
// Prev is still the value just before the commit.
func TestPrevFromEarlierRead(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Update(ctx, func(tx store.Txn) error { return tx.Put([]byte("k"), []byte("v1")) }); err != nil {
		t.Fatal(err)
	}
	from, _ := s.Rev(ctx)
	attempts := 0
	_, err = s.Update(ctx, func(tx store.Txn) error {
		attempts++
		v, err := tx.Get(ctx, []byte("k"))
		if err != nil {
			return err
		}
		if _, err := tx.Get(ctx, []byte("new")); !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if attempts == 1 { // another writer slips in after the read
			if _, err := s.Update(ctx, func(tx store.Txn) error { return tx.Put([]byte("k"), []byte("v2")) }); err != nil {
				return err
			}
		}
		if err := tx.Put([]byte("new"), []byte("n")); err != nil {
			return err
		}
		return tx.Put([]byte("k"), append(v, '+'))
	})
	if err != nil {
		t.Fatal(err)
	}
	if attempts != 2 {
		t.Fatalf("%d attempts, want a retry after the racing write", attempts)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ch, err := s.Watch(wctx, nil, from)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for ev := range ch {
		got = append(got, string(ev.Key)+":"+string(ev.Prev)+">"+string(ev.Value))
		if len(got) == 3 {
			break
		}
	}
	want := []string{"k:v1>v2", "k:v2>v2+", "new:>n"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("feed %q, want %q", got, want)
	}
}

// The conformance test checks the wide shape only for a store that has one:
// make sure this one does, in both modes.
func TestWideLimits(t *testing.T) {
	for _, o := range []Options{{}, {InMemory: true}} {
		s, err := Open(t.TempDir(), o)
		if err != nil {
			t.Fatal(err)
		}
		if got := store.LimitsOf(s); got != wideLimits || got.Ops <= store.MaxTxnOps {
			t.Errorf("LimitsOf = %+v, want %+v", got, wideLimits)
		}
		s.Close()
	}
}

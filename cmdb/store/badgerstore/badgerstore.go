package badgerstore

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"parc/cmdb/store"
)

// Options tune the store. The zero value is a good default.
type Options struct {
	// Logger receives Badger's warnings and errors and the store's own
	// background errors. Nil discards them.
	Logger *slog.Logger
	// InMemory keeps everything in memory and ignores dir. For benchmarks
	// only (a transaction's feed record may not exceed 1 MiB): tests use a
	// real directory.
	InMemory bool
	// FeedRetention is how many recent revisions Watch can always replay
	// (default 10000). Older ones are compacted away, except those a
	// running watcher has yet to read, up to MaxFeedRetention.
	FeedRetention int64
	// MaxFeedRetention bounds how far a slow watcher holds the feed back
	// (default 10 × FeedRetention); past it the watcher gets ErrCompacted.
	MaxFeedRetention int64
	// MaxRetries bounds how often Update runs fn on conflicts (default 50).
	MaxRetries int
	// GCInterval is how often value-log garbage collection runs
	// (default 1 minute): it rewrites value-log files that are half garbage or more.
	GCInterval time.Duration
	// SyncWrites fsyncs every commit. Off by default: a crash may lose the
	// last moments of commits but never tears a transaction.
	SyncWrites bool
	// HotPrefixes are key prefixes whose latest values are kept in memory
	// (see hot.go): records read by most transactions. None by default;
	// "" covers every key.
	HotPrefixes []string
	// HotBytes bounds that memory (default 32 MiB).
	HotBytes int

	valueLogFileSize int64 // tests: small files, to have several
}

const (
	defaultRetention  = 10_000
	defaultMaxRetries = 50
	defaultGCInterval = time.Minute
	defaultHotBytes   = 32 << 20
)

// Store is a store.Store on an embedded Badger database. It also
// implements store.Locker (within this process).
type Store struct {
	dir  string // absolute, without symbolic links
	db   *badger.DB
	log  *slog.Logger
	opts Options

	// mu is the commit critical section: it assigns revisions in the
	// order Badger queues the commits, and publishes them (rev, notify)
	// in that order once they are applied. Commits are pipelined: several
	// may be queued at once, so that Badger writes and fsyncs them
	// together.
	mu       sync.Mutex
	assigned int64            // last revision handed to a commit
	rev      int64            // last revision published: all up to it are applied
	pub      atomic.Int64     // rev, read without mu
	finished map[int64][]byte // applied revisions above rev (their feed records), waiting for a gap to fill
	notify   chan struct{}    // closed and replaced at every publication

	recent recentFeed // the newest feed records, for watchers at the head
	hot    *hotCache  // nil unless Options.HotPrefixes

	compacted atomic.Int64 // feed records <= compacted are gone
	compactMu sync.Mutex   // serialises compactions
	kick      chan struct{}

	opMu   sync.Mutex
	opCond *sync.Cond
	ops    int
	closed bool
	done   chan struct{} // closed by Close
	wg     sync.WaitGroup

	watchMu  sync.Mutex
	watchers map[*atomic.Int64]struct{} // next revision each running watcher reads

	lockMu sync.Mutex
	locks  map[string]chan struct{}
	leads  map[*leadership]struct{}
}

var (
	_ store.Store  = (*Store)(nil)
	_ store.Locker = (*Store)(nil)
)

// Open opens (or creates) the store in dir.
func Open(dir string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.FeedRetention <= 0 {
		opts.FeedRetention = defaultRetention
	}
	if opts.MaxFeedRetention < opts.FeedRetention {
		opts.MaxFeedRetention = 10 * opts.FeedRetention
	}
	if opts.MaxRetries <= 0 {
		opts.MaxRetries = defaultMaxRetries
	}
	if opts.GCInterval <= 0 {
		opts.GCInterval = defaultGCInterval
	}
	if opts.HotBytes <= 0 {
		opts.HotBytes = defaultHotBytes
	}
	bo := badger.DefaultOptions(dir).
		WithLogger(badgerLogger{opts.Logger}).
		WithMetricsEnabled(false).
		WithNumVersionsToKeep(1).
		WithSyncWrites(opts.SyncWrites).
		// Small memory. A memtable's batch limit is 15% of its size: 8 MiB
		// memtables take 1.2 MiB batches, and since values from 1 KiB go to
		// the value log, the largest transaction (128 writes) is at most
		// 128 KiB of values inline plus keys; its feed record, past the
		// threshold, is a pointer. The wide shape (wideLimits) is at most
		// 1 MiB inline. Badger pools up to eight table builders
		// of twice the memtable size on the Go heap, and keeps its
		// memtables there: both scale with MemTableSize.
		WithMemTableSize(8 << 20).
		WithNumMemtables(3).
		// Values from 1 KiB are written once, to the value log, and the
		// tree holds a pointer to them. They are the values rewritten
		// whole (feed records, software records, host CIs): inline,
		// every compaction copied them again, which cost the collector
		// 13-15% of its CPU at 10,000 agents (bench-ingest, thresholds of
		// 512 B to 8 KiB compared). Value-log GC reclaims what they leave
		// behind (GCInterval).
		WithValueThreshold(1 << 10).
		// Tables uncompressed: values worth it are compressed already
		// (cmdb), and Badger builds and reads compressed blocks in
		// buffers on the Go heap (about 100 MiB live at 10,000 hosts)
		// plus a decompression per block read. The files map larger
		// instead (about 80 MiB more there). Their blocks are read in
		// place from the mapping, so no block cache: it would only add
		// a lookup and an admission per block read.
		WithCompression(options.None).
		WithBlockCacheSize(0).
		WithNumCompactors(2).
		WithValueLogFileSize(cmp.Or(opts.valueLogFileSize, 128<<20))
	// Tables of 2 MiB at every level: a compaction builds each table in a
	// buffer of twice its size on the Go heap, and the default doubling
	// per level makes those buffers tens of megabytes.
	bo.TableSizeMultiplier = 1
	if opts.InMemory {
		// Without a value log, no entry may exceed 1 MiB: fine for
		// benchmarks, not for the largest transactions.
		bo = bo.WithDir("").WithValueDir("").WithInMemory(true).
			WithMemTableSize(64 << 20).WithValueThreshold(1 << 20)
	}
	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("badgerstore: open %s: %w", dir, err)
	}
	// The value-log files' paths as /proc/self/maps shows them (trim_linux.go).
	abs, err := filepath.Abs(dir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("badgerstore: open %s: %w", dir, err)
	}
	s := &Store{
		dir:      abs,
		db:       db,
		log:      opts.Logger,
		opts:     opts,
		notify:   make(chan struct{}),
		finished: make(map[int64][]byte),
		watchers: make(map[*atomic.Int64]struct{}),
		kick:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		locks:    make(map[string]chan struct{}),
		leads:    make(map[*leadership]struct{}),
	}
	s.opCond = sync.NewCond(&s.opMu)
	s.hot = newHotCache(slices.Clone(opts.HotPrefixes), opts.HotBytes)
	err = db.View(func(btx *badger.Txn) error {
		var err error
		if s.rev, err = readInt(btx, metaRevKey); err != nil {
			return err
		}
		s.assigned = s.rev
		s.pub.Store(s.rev)
		c, err := readInt(btx, metaCompactKey)
		s.compacted.Store(c)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("badgerstore: open %s: %w", dir, err)
	}
	s.wg.Add(1)
	go s.background()
	s.maybeCompact(s.rev)
	return s, nil
}

func readInt(btx *badger.Txn, key []byte) (int64, error) {
	item, err := btx.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var n int64
	err = item.Value(func(v []byte) error {
		n, err = decodeInt(v)
		return err
	})
	return n, err
}

// enter registers an operation, failing once the store is closed.
func (s *Store) enter() error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	s.ops++
	return nil
}

func (s *Store) leave() {
	s.opMu.Lock()
	s.ops--
	if s.ops == 0 {
		s.opCond.Broadcast()
	}
	s.opMu.Unlock()
}

// Close waits for running operations, stops watchers and background work,
// ends all leaderships and closes the database. Closing twice is harmless.
func (s *Store) Close() error {
	s.opMu.Lock()
	if s.closed {
		s.opMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	for s.ops > 0 {
		s.opCond.Wait()
	}
	s.opMu.Unlock()
	s.lockMu.Lock()
	for l := range s.leads {
		l.end()
	}
	s.lockMu.Unlock()
	s.wg.Wait()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("badgerstore: close: %w", err)
	}
	return nil
}

// Rev returns the revision of the last commit.
func (s *Store) Rev(ctx context.Context) (int64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	return s.currentRev(), nil
}

func (s *Store) currentRev() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rev
}

// DiskSize returns the bytes Badger uses on disk (LSM tree and value log),
// as last computed by Badger (it refreshes the figure every minute).
func (s *Store) DiskSize() int64 {
	lsm, vlog := s.db.Size()
	return lsm + vlog
}

// Get returns the value of key.
func (s *Store) Get(ctx context.Context, key []byte) ([]byte, error) {
	var v []byte
	err := s.View(ctx, func(r store.Reader) error {
		var err error
		v, err = r.Get(ctx, key)
		return err
	})
	return v, err
}

// Scan returns the keys in r.
func (s *Store) Scan(ctx context.Context, r store.Range) ([]store.KV, error) {
	var kvs []store.KV
	err := s.View(ctx, func(rd store.Reader) error {
		var err error
		kvs, err = rd.Scan(ctx, r)
		return err
	})
	return kvs, err
}

// View runs fn on a snapshot.
func (s *Store) View(ctx context.Context, fn func(store.Reader) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if err := ctx.Err(); err != nil {
		return err
	}
	snap := s.pub.Load() // before the snapshot: it includes every revision up to snap
	return s.db.View(func(btx *badger.Txn) error {
		return fn(reader{btx: btx, hot: s.hot, snap: snap})
	})
}

// Update runs fn in a transaction, retrying on conflicts.
func (s *Store) Update(ctx context.Context, fn func(store.Txn) error) (int64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	backoff := time.Millisecond
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		// One process owns a Badger store, and its leaderships end only
		// on Resign or Close: checking the fence before the attempt is
		// enough.
		if err := store.CheckFence(ctx); err != nil {
			return 0, err
		}
		rev, err := s.try(fn)
		if !errors.Is(err, badger.ErrConflict) {
			return rev, err
		}
		if attempt >= s.opts.MaxRetries {
			return 0, store.ErrConflict
		}
		d := backoff/2 + rand.N(backoff)
		backoff = min(2*backoff, 50*time.Millisecond)
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// wideLimits is the second transaction shape Badger accepts besides
// store.Portable: many small writes (group commit batches whole reports).
// Inline it is at most 1 MiB of keys and values plus about 24 bytes a
// write, within a memtable's 1.2 MiB batch limit.
var wideLimits = store.Limits{Ops: 1024, Bytes: 1 << 20}

// WideLimits returns the wide transaction shape this store accepts.
func (s *Store) WideLimits() store.Limits { return wideLimits }

func (s *Store) try(fn func(store.Txn) error) (int64, error) {
	snap := s.pub.Load() // before the snapshot: it includes every revision up to snap
	btx := s.db.NewTransaction(true)
	defer btx.Discard()
	var served map[string]int64 // reads the hot cache answered: checked at commit
	if s.hot != nil {
		served = map[string]int64{}
	}
	tx := &txn{reader: reader{btx: btx, hot: s.hot, snap: snap, served: served}, writes: make(map[string]*change), size: store.TxnSize{Wide: wideLimits}}
	if err := fn(tx); err != nil {
		return 0, err
	}
	if tx.err != nil {
		return 0, tx.err
	}
	changes := make([]change, 0, len(tx.writes))
	for _, c := range tx.writes {
		if c.del && c.prev == nil {
			continue // deleting an absent key changes nothing
		}
		changes = append(changes, *c)
	}
	if len(changes) == 0 {
		return s.currentRev(), nil
	}
	sort.Slice(changes, func(i, j int) bool { return bytes.Compare(changes[i].key, changes[j].key) < 0 })
	rec := encodeRecord(changes)
	stored := storedRecord(rec)

	// Queue the commit under mu, so revisions follow Badger's commit
	// order, then wait for it (and its fsync, shared with the commits
	// queued meanwhile) outside.
	done := make(chan error, 1)
	s.mu.Lock()
	if s.hot != nil && !s.hot.admit(served, changes) {
		s.mu.Unlock()
		return 0, badger.ErrConflict // a read the hot cache served is stale
	}
	rev := s.assigned + 1
	for _, c := range changes {
		var err error
		if c.del {
			err = btx.Delete(c.key)
		} else {
			err = btx.Set(c.key, sealStored(rev, c.stored))
		}
		if err != nil {
			s.mu.Unlock()
			s.hotFinish(changes, rev, false)
			return 0, err
		}
	}
	err := btx.Set(feedKey(rev), stored)
	if err == nil {
		err = btx.Set(metaRevKey, encodeInt(rev))
	}
	if err != nil {
		s.mu.Unlock()
		s.hotFinish(changes, rev, false)
		return 0, err
	}
	s.assigned = rev
	btx.CommitWith(func(err error) { done <- err })
	s.mu.Unlock()
	err = <-done
	s.hotFinish(changes, rev, err == nil)
	if err != nil {
		// The revision is taken: fill its place in the feed with an empty
		// record so that watchers pass over it.
		empty := encodeRecord(nil)
		if ferr := s.db.Update(func(b *badger.Txn) error { return b.Set(feedKey(rev), empty) }); ferr != nil {
			s.log.Error("cannot fill the feed after a failed commit; watchers will restart", "component", "badgerstore", "rev", rev, "err", ferr)
			empty = nil
		}
		s.publish(rev, empty)
		return 0, err
	}
	s.publish(rev, rec)
	return rev, nil
}

// hotFinish tells the hot cache how an admitted commit ended.
func (s *Store) hotFinish(cs []change, rev int64, ok bool) {
	if s.hot != nil {
		s.hot.finish(cs, rev, ok)
	}
}

// publish marks rev applied and advances the published revision over
// every applied one without a gap, keeping their feed records in the
// recent-records cache, and wakes watchers. rec nil: the record is not
// known in memory (watchers read it from Badger).
func (s *Store) publish(rev int64, rec []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec == nil {
		rec = []byte{} // marks "applied" in finished
	}
	s.finished[rev] = rec
	moved := false
	for {
		r, ok := s.finished[s.rev+1]
		if !ok {
			break
		}
		delete(s.finished, s.rev+1)
		s.rev++
		s.pub.Store(s.rev)
		s.recent.add(s.rev, r)
		moved = true
	}
	if moved {
		close(s.notify)
		s.notify = make(chan struct{})
		s.maybeCompact(s.rev)
	}
}

func validKey(k []byte) error {
	if len(k) == 0 || k[0] == 0 {
		return store.ErrBadKey
	}
	return nil
}

// reader reads through a Badger transaction, and the hot cache.
type reader struct {
	btx  *badger.Txn
	hot  *hotCache
	snap int64 // every revision up to snap is in btx's snapshot
	// served records the hot cache's answers (key → entry revision) in
	// a read-write transaction, for the commit's conflict check.
	served map[string]int64
}

func (r reader) Get(ctx context.Context, key []byte) ([]byte, error) {
	if err := validKey(key); err != nil {
		return nil, err
	}
	hot := r.hot != nil && r.hot.covers(key)
	if hot {
		if v, rev, ok := r.hot.get(key, r.snap); ok {
			if r.served != nil {
				r.served[string(key)] = rev
			}
			return v, nil
		}
	}
	item, err := r.btx.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	b, err := item.ValueCopy(nil)
	if err != nil {
		return nil, err
	}
	rev, v, err := decodeValue(b)
	if err == nil && hot {
		// Shared from now on: clipped, so that an append copies.
		v = v[:len(v):len(v)]
		r.hot.offer(key, v, rev, r.snap)
	}
	return v, err
}

// bounds turns a Range into [lo, hi) (hi nil: unbounded), clamped to the
// user key space and narrowed by the cursor.
func bounds(r store.Range) (lo, hi []byte, err error) {
	if len(r.Prefix) > 0 {
		if r.Prefix[0] == 0 {
			return nil, nil, store.ErrBadKey
		}
		lo, hi = r.Prefix, store.PrefixEnd(r.Prefix)
	} else {
		lo, hi = r.Start, r.End
	}
	if bytes.Compare(lo, minUserKey) < 0 {
		lo = minUserKey
	}
	if r.After != nil {
		if r.Reverse {
			if hi == nil || bytes.Compare(r.After, hi) < 0 {
				hi = r.After
			}
		} else if a := append(append([]byte(nil), r.After...), 0); bytes.Compare(a, lo) > 0 {
			lo = a
		}
	}
	return lo, hi, nil
}

func (r reader) Scan(ctx context.Context, rg store.Range) ([]store.KV, error) {
	lo, hi, err := bounds(rg)
	if err != nil {
		return nil, err
	}
	if hi != nil && bytes.Compare(lo, hi) >= 0 {
		return []store.KV{}, nil
	}
	io := badger.DefaultIteratorOptions
	io.Reverse = rg.Reverse
	if len(rg.Prefix) > 0 && !rg.Reverse {
		io.Prefix = rg.Prefix // in reverse, Seek(PrefixEnd) would be out of it
	}
	if rg.Limit > 0 && rg.Limit < io.PrefetchSize {
		io.PrefetchSize = rg.Limit
	}
	it := r.btx.NewIterator(io)
	defer it.Close()
	if rg.Reverse {
		if hi != nil {
			it.Seek(hi)
		} else {
			it.Rewind()
		}
	} else {
		it.Seek(lo)
	}
	kvs := []store.KV{}
	for ; it.Valid(); it.Next() {
		item := it.Item()
		k := item.Key()
		if rg.Reverse {
			if hi != nil && bytes.Compare(k, hi) >= 0 {
				continue
			}
			if bytes.Compare(k, lo) < 0 {
				break
			}
		} else if hi != nil && bytes.Compare(k, hi) >= 0 {
			break
		}
		if len(kvs)%256 == 255 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		b, err := item.ValueCopy(nil)
		if err != nil {
			return nil, err
		}
		rev, v, err := decodeValue(b)
		if err != nil {
			return nil, err
		}
		kvs = append(kvs, store.KV{Key: item.KeyCopy(nil), Value: v, ModRev: rev})
		if rg.Limit > 0 && len(kvs) >= rg.Limit {
			break
		}
	}
	return kvs, nil
}

// txn buffers its writes (for the feed, and so that each key reaches
// Badger once, at commit); its reads see them, with ModRev 0.
type txn struct {
	reader
	writes map[string]*change
	// reads remembers what Get found (nil when absent) before a
	// key is written, so that touching it reuses the value as Prev
	// instead of reading it from Badger again: updates read first.
	reads map[string][]byte
	size  store.TxnSize
	err   error // sticky limit error: the commit fails even if fn ignores it
}

func (t *txn) Put(key, value []byte) error { return t.put(key, value, true) }

// PutNew is Put of a key the caller knows to be new (store.PutNew): it
// does not read the key's previous value first.
func (t *txn) PutNew(key, value []byte) error { return t.put(key, value, false) }

func (t *txn) put(key, value []byte, read bool) error {
	if len(value) > store.MaxValueSize {
		return t.fail(fmt.Errorf("put %d bytes: %w", len(value), store.ErrTooLarge))
	}
	c, err := t.touchAs(key, len(value), read)
	if err != nil {
		return err
	}
	c.del = false
	c.stored, c.value = newStored(value)
	return nil
}

func (t *txn) Delete(key []byte) error {
	c, err := t.touch(key, 0)
	if err != nil {
		return err
	}
	c.del, c.value, c.stored = true, nil, nil
	return nil
}

func (t *txn) Get(ctx context.Context, key []byte) ([]byte, error) {
	if c, ok := t.writes[string(key)]; ok {
		if c.del {
			return nil, store.ErrNotFound
		}
		return c.value, nil
	}
	v, err := t.reader.Get(ctx, key)
	switch {
	case err == nil:
		t.remember(key, v) // callers do not modify what Get returns
	case errors.Is(err, store.ErrNotFound):
		t.remember(key, nil)
	}
	return v, err
}

func (t *txn) remember(key, v []byte) {
	if t.reads == nil {
		t.reads = make(map[string][]byte)
	}
	t.reads[string(key)] = v
}

// Scan merges the buffered writes into what Badger has, fetching as many
// more keys as there are buffered writes in range so a page stays full.
func (t *txn) Scan(ctx context.Context, rg store.Range) ([]store.KV, error) {
	lo, hi, err := bounds(rg)
	if err != nil {
		return nil, err
	}
	var pending []*change
	// A plain prefix: one comparison per write, which mostly stops at the
	// first byte (a batch of reports holds hundreds of writes).
	plain := len(rg.Prefix) > 0 && rg.After == nil
	for _, c := range t.writes {
		if plain && bytes.HasPrefix(c.key, rg.Prefix) ||
			!plain && bytes.Compare(c.key, lo) >= 0 && (hi == nil || bytes.Compare(c.key, hi) < 0) {
			pending = append(pending, c)
		}
	}
	if len(pending) == 0 {
		return t.reader.Scan(ctx, rg)
	}
	wide := rg
	if wide.Limit > 0 {
		wide.Limit += len(pending)
	}
	got, err := t.reader.Scan(ctx, wide)
	if err != nil {
		return nil, err
	}
	kvs := got[:0]
	for _, kv := range got {
		if _, ok := t.writes[string(kv.Key)]; !ok {
			kvs = append(kvs, kv)
		}
	}
	for _, c := range pending {
		if !c.del {
			kvs = append(kvs, store.KV{Key: c.key, Value: c.value})
		}
	}
	sort.Slice(kvs, func(i, j int) bool {
		c := bytes.Compare(kvs[i].Key, kvs[j].Key)
		if rg.Reverse {
			return c > 0
		}
		return c < 0
	})
	if rg.Limit > 0 && len(kvs) > rg.Limit {
		kvs = kvs[:rg.Limit]
	}
	return kvs, nil
}

func (t *txn) fail(err error) error {
	if t.err == nil {
		t.err = err
	}
	return err
}

// touch returns the change record of key, reading its previous value on
// first touch (which also puts it in the read set, so a concurrent write
// conflicts and Prev is exact), and checks the limits.
func (t *txn) touch(key []byte, vlen int) (*change, error) {
	return t.touchAs(key, vlen, true)
}

// touchAs is touch; with read false a key not touched yet is taken as
// absent, without reading it.
func (t *txn) touchAs(key []byte, vlen int, read bool) (*change, error) {
	if err := validKey(key); err != nil {
		return nil, t.fail(err)
	}
	c, ok := t.writes[string(key)]
	prevLen := 0
	if ok {
		prevLen = len(c.value)
	}
	if err := t.size.Add(key, vlen, ok, prevLen); err != nil {
		return nil, t.fail(err)
	}
	if ok {
		return c, nil
	}
	c = &change{key: append([]byte(nil), key...)}
	t.writes[string(key)] = c
	if prev, read := t.reads[string(key)]; read {
		// Read already (and so in the read set): its value is Prev.
		c.prev = prev
		return c, nil
	}
	if !read {
		return c, nil
	}
	item, err := t.btx.Get(key)
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
	case err != nil:
		delete(t.writes, string(key))
		return nil, t.fail(err)
	default:
		b, err := item.ValueCopy(nil)
		if err == nil {
			_, c.prev, err = decodeValue(b)
		}
		if err != nil {
			delete(t.writes, string(key))
			return nil, t.fail(err)
		}
	}
	return c, nil
}

// badgerLogger sends Badger's warnings and errors to slog and drops the
// rest.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Error(fmt.Sprintf(f, a...), "component", "badger")
}

func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn(fmt.Sprintf(f, a...), "component", "badger")
}
func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}

package badgerstore

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"parc/cmdb/store"
)

// Watch streams changes under prefix after fromRev: it replays the
// persisted feed, then follows commits. Each watcher reads the feed itself
// after every commit notification, so a slow watcher never blocks commits
// and there is no gap or duplicate between replay and live events.
func (s *Store) Watch(ctx context.Context, prefix []byte, fromRev int64) (<-chan store.Event, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if len(prefix) > 0 && prefix[0] == 0 {
		return nil, store.ErrBadKey
	}
	prefix = append([]byte(nil), prefix...)
	ch := make(chan store.Event, 64)
	s.wg.Add(1)
	pos := new(atomic.Int64)
	pos.Store(max(fromRev, 0) + 1)
	s.watchMu.Lock()
	s.watchers[pos] = struct{}{}
	s.watchMu.Unlock()
	go func() {
		defer s.wg.Done()
		defer close(ch)
		defer func() {
			s.watchMu.Lock()
			delete(s.watchers, pos)
			s.watchMu.Unlock()
		}()
		s.watch(ctx, prefix, pos, ch)
	}()
	return ch, nil
}

// Feed reads are batched so one read transaction stays short.
const (
	batchRevs  = 256
	batchBytes = 4 << 20
)

func (s *Store) watch(ctx context.Context, prefix []byte, pos *atomic.Int64, ch chan<- store.Event) {
	next := pos.Load()
	send := func(ev store.Event) bool {
		select {
		case ch <- ev:
			return true
		case <-ctx.Done():
		case <-s.done:
		}
		return false
	}
	var buf []store.Event // events go by value: the array serves every batch
	for {
		s.mu.Lock()
		cur, notify := s.rev, s.notify
		s.mu.Unlock()
		for next <= cur {
			evs, n, err := s.readFeed(prefix, next, min(cur, next+batchRevs-1), buf[:0])
			if err != nil {
				send(store.Event{Err: err})
				return
			}
			for _, ev := range evs {
				if !send(ev) {
					return
				}
			}
			clear(evs) // drop the views of records
			buf = evs
			next = n
			pos.Store(next)
		}
		select {
		case <-notify:
		case <-ctx.Done():
			return
		case <-s.done:
			return
		}
	}
}

// readFeed appends to evs the events under prefix of revisions from..to
// (or fewer if the batch fills up), and returns them and the next revision
// to read.
func (s *Store) readFeed(prefix []byte, from, to int64, evs []store.Event) ([]store.Event, int64, error) {
	if from <= s.compacted.Load() {
		return nil, 0, store.ErrCompacted
	}
	next := from
	// The newest records are in memory: decode them in place.
	for size := 0; next <= to && size < batchBytes; next++ {
		rec, ok := s.recent.get(next)
		if !ok {
			break
		}
		size += len(rec)
		var err error
		if evs, err = decodeRecord(rec, next, prefix, evs); err != nil {
			return nil, 0, fmt.Errorf("badgerstore: feed record %d: %w", next, err)
		}
	}
	if next > from {
		return evs, next, nil
	}
	err := s.db.View(func(btx *badger.Txn) error {
		io := badger.DefaultIteratorOptions
		io.Prefix = feedPrefix
		io.PrefetchSize = 16
		it := btx.NewIterator(io)
		defer it.Close()
		size := 0
		for it.Seek(feedKey(from)); it.Valid() && next <= to && size < batchBytes; it.Next() {
			item := it.Item()
			rev := feedKeyRev(item.Key())
			if rev != next {
				break
			}
			b, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			if b, err = loadedRecord(b); err != nil {
				return fmt.Errorf("feed record %d: %w", rev, err)
			}
			size += len(b)
			if evs, err = decodeRecord(b, rev, prefix, evs); err != nil {
				return fmt.Errorf("feed record %d: %w", rev, err)
			}
			next++
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("badgerstore: read feed: %w", err)
	}
	if next == from {
		// The record is missing: a compaction removed it meanwhile.
		return nil, 0, store.ErrCompacted
	}
	return evs, next, nil
}

// compactTarget is the newest revision the feed can drop: all but the
// retained ones, and none a running watcher has yet to read unless that
// holds more than MaxFeedRetention.
func (s *Store) compactTarget() int64 {
	cur := s.currentRev()
	target := cur - s.opts.FeedRetention
	s.watchMu.Lock()
	for w := range s.watchers {
		target = min(target, w.Load()-1)
	}
	s.watchMu.Unlock()
	return max(target, cur-s.opts.MaxFeedRetention)
}

// maybeCompact asks the background goroutine to compact once the feed is
// 10% over its retention. Called with s.mu held or before start.
func (s *Store) maybeCompact(rev int64) {
	if rev-s.compacted.Load() > s.opts.FeedRetention+max(s.opts.FeedRetention/10, 1) {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// Compact removes the feed records up to and including rev (clamped to the
// current revision); Watch from an older revision then gets ErrCompacted.
// It runs automatically to keep Options.FeedRetention revisions.
func (s *Store) Compact(ctx context.Context, rev int64) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	return s.compact(min(rev, s.currentRev()))
}

func (s *Store) compact(rev int64) error {
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	old := s.compacted.Load()
	if rev <= old {
		return nil
	}
	// Record the new bound first: watchers check it before reading.
	if err := s.db.Update(func(btx *badger.Txn) error {
		return btx.Set(metaCompactKey, encodeInt(rev))
	}); err != nil {
		return fmt.Errorf("badgerstore: compact: %w", err)
	}
	s.compacted.Store(rev)
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for r := old + 1; r <= rev; r++ {
		if err := wb.Delete(feedKey(r)); err != nil {
			return fmt.Errorf("badgerstore: compact: %w", err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("badgerstore: compact: %w", err)
	}
	return nil
}

// adviseInterval is how often the store looks for new mappings of the
// files Badger writes, to have them cached in small pages, and
// pageOutEvery how many of those looks page out the value-log files
// Badger no longer writes (trim_linux.go).
const (
	adviseInterval = 250 * time.Millisecond
	pageOutEvery   = 8
)

// background compacts the feed when asked, runs value-log GC, and advises
// the kernel on the store's mapped files periodically, until Close.
func (s *Store) background() {
	defer s.wg.Done()
	gc := time.NewTicker(s.opts.GCInterval)
	defer gc.Stop()
	advise := time.NewTicker(adviseInterval)
	defer advise.Stop()
	advised := map[string]bool{}
	looks, lastErr := 0, ""
	adviseKernel := func(pageOut bool) {
		if s.opts.InMemory {
			return
		}
		_, err := adviseMappings(s.dir, advised, pageOut)
		switch {
		case err == nil:
			lastErr = ""
		case err.Error() != lastErr: // once, not four times a second
			lastErr = err.Error()
			s.log.Warn("advising the kernel on the store's mapped files failed", "component", "badgerstore", "err", err)
		}
	}
	adviseKernel(false) // the first value-log file and memtable log are written at once
	for {
		select {
		case <-s.done:
			return
		case <-s.kick:
			if err := s.compact(s.compactTarget()); err != nil {
				s.log.Warn("feed compaction failed", "component", "badgerstore", "err", err)
			}
		case <-advise.C:
			looks++
			adviseKernel(looks%pageOutEvery == 0)
		case <-gc.C:
			if s.opts.InMemory {
				continue
			}
			for {
				err := s.db.RunValueLogGC(0.5)
				if err != nil {
					if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
						s.log.Warn("value log GC failed", "component", "badgerstore", "err", err)
					}
					break
				}
				select {
				case <-s.done:
					return
				default:
				}
			}
		}
	}
}

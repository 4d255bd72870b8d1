package badgerstore

import "sync"

// recentFeed keeps the newest feed records in memory, in revision order,
// so that watchers following the head of the feed (every module's
// follower) decode them where they are instead of each reading and copying
// them from Badger. Records are immutable once published.
type recentFeed struct {
	mu    sync.RWMutex
	first int64    // revision of recs[0]
	recs  [][]byte // nil entry: not known in memory
	bytes int
}

// Bounds of the cache: a few seconds of heavy ingest.
const (
	recentMaxRecords = 4096
	recentMaxBytes   = 16 << 20
)

// add appends the record of rev, which must follow the last one added.
func (f *recentFeed) add(rev int64, rec []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(rec) == 0 {
		rec = nil
	}
	if len(f.recs) == 0 || rev != f.first+int64(len(f.recs)) {
		f.recs, f.bytes, f.first = f.recs[:0], 0, rev
	}
	f.recs = append(f.recs, rec)
	f.bytes += len(rec)
	drop := 0
	for len(f.recs)-drop > recentMaxRecords || (f.bytes > recentMaxBytes && len(f.recs)-drop > 1) {
		f.bytes -= len(f.recs[drop])
		f.recs[drop] = nil
		drop++
	}
	if drop > 0 {
		f.first += int64(drop)
		f.recs = append(f.recs[:0], f.recs[drop:]...)
	}
}

// get returns the record of rev if it is in memory.
func (f *recentFeed) get(rev int64) ([]byte, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	i := rev - f.first
	if i < 0 || i >= int64(len(f.recs)) || f.recs[i] == nil {
		return nil, false
	}
	return f.recs[i], true
}

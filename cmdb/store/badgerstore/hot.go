package badgerstore

import (
	"sync"
)

// The hot cache keeps the latest committed value of keys under chosen
// prefixes (Options.HotPrefixes: the records every report reads, such as
// agent records and CIs), so that a transaction reads them from memory
// instead of searching Badger's tables. It must keep what Badger gives a
// transaction: a snapshot, and a conflict when a key it read was written by
// another commit before its own.
//
//   - Every commit through Update records its hot keys in the cache once
//     applied, in revision order: the new value when the cache held the
//     key's value already, else only the revision (a marker, so that
//     writing many keys once, as a first inventory does, costs little).
//     While a commit is in flight its keys are pending and not served.
//   - A transaction whose snapshot includes revision snap is served an entry
//     only when the entry's revision is at most snap: the entry being the
//     latest committed value, it is then the value at snap.
//   - A value read from Badger is offered to the cache only when it is the
//     key's latest: nothing pending, and either the key's marker has the
//     value's revision or nothing is known of the key and the snapshot is
//     not older than the last eviction (an evicted entry may have been
//     newer than what an older snapshot read).
//   - Reads served from the cache are not in Badger's read set, so the
//     commit checks them itself, under the commit lock, before it queues:
//     each must still be the key's entry at the same revision, with nothing
//     pending. Otherwise it fails with a conflict and Update retries.
type hotCache struct {
	prefixes []string
	budget   int

	mu      sync.Mutex
	m       map[string]*hotEntry
	pending map[string]int
	order   []string // insertion order, for eviction
	bytes   int
	// lastRev is the newest revision written into the cache; evictRev
	// the value of lastRev at the last eviction (or failed commit).
	lastRev, evictRev int64

	hits, misses int64
}

type hotEntry struct {
	rev   int64
	value []byte // never modified
	// known: value is the key's value at rev. Otherwise the entry is a
	// marker: the key was written (or deleted) at rev.
	known bool
}

// hotOverhead approximates the bookkeeping bytes of an entry.
const hotOverhead = 96

func newHotCache(prefixes []string, budget int) *hotCache {
	if len(prefixes) == 0 || budget <= 0 {
		return nil
	}
	return &hotCache{prefixes: prefixes, budget: budget, m: map[string]*hotEntry{}, pending: map[string]int{}}
}

// covers reports whether key is under a hot prefix.
func (h *hotCache) covers(key []byte) bool {
	for _, p := range h.prefixes {
		if len(key) >= len(p) && string(key[:len(p)]) == p {
			return true
		}
	}
	return false
}

// get returns the value of key for a snapshot that includes revision
// snap, and the entry's revision, when the cache may answer.
func (h *hotCache) get(key []byte, snap int64) ([]byte, int64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.m[string(key)]
	if e == nil || !e.known || e.rev > snap || h.pending[string(key)] > 0 {
		h.misses++
		return nil, 0, false
	}
	h.hits++
	return e.value, e.rev, true
}

// offer caches value (written at rev) as read from Badger by a snapshot
// that includes revision snap, unless the cache may know better.
func (h *hotCache) offer(key, value []byte, rev, snap int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := string(key)
	if rev > snap || h.pending[k] > 0 {
		return
	}
	switch e := h.m[k]; {
	case e == nil && snap >= h.evictRev, e != nil && !e.known && e.rev == rev:
		h.insert(k, &hotEntry{rev: rev, value: value, known: true})
	}
}

// admit is called under the commit lock before a commit queues: it checks
// the reads served from the cache (key → entry revision) and marks the
// commit's hot keys pending. False: a served read is stale (a conflict).
func (h *hotCache) admit(served map[string]int64, cs []change) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, rev := range served {
		if e := h.m[k]; e == nil || !e.known || e.rev != rev || h.pending[k] > 0 {
			return false
		}
	}
	for _, c := range cs {
		if h.covers(c.key) {
			h.pending[string(c.key)]++
		}
	}
	return true
}

// finish records the outcome of an admitted commit at rev: its hot keys'
// new values, or, when it failed, that nothing is known of them.
func (h *hotCache) finish(cs []change, rev int64, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range cs {
		if !h.covers(c.key) {
			continue
		}
		k := string(c.key)
		if h.pending[k]--; h.pending[k] <= 0 {
			delete(h.pending, k)
		}
		if !ok {
			h.drop(k)
			continue
		}
		e := h.m[k]
		if e != nil && e.rev >= rev {
			continue
		}
		if e != nil && e.known && !c.del {
			h.insert(k, &hotEntry{rev: rev, value: c.value[:len(c.value):len(c.value)], known: true})
		} else {
			h.insert(k, &hotEntry{rev: rev})
		}
	}
	if !ok {
		// Badger may or may not hold the failed commit's writes: older
		// snapshots must not offer what they read of its keys.
		h.evictRev = max(h.evictRev, rev, h.lastRev)
		return
	}
	h.lastRev = max(h.lastRev, rev)
}

// insert sets k's entry (h.mu held), evicting the oldest entries past the
// budget.
func (h *hotCache) insert(k string, e *hotEntry) {
	if old := h.m[k]; old != nil {
		h.bytes -= len(k) + len(old.value) + hotOverhead
	} else {
		h.order = append(h.order, k)
	}
	h.m[k] = e
	h.bytes += len(k) + len(e.value) + hotOverhead
	if h.bytes <= h.budget {
		return
	}
	// Down to three quarters, so that evictions come in batches.
	for h.bytes > h.budget*3/4 && len(h.order) > 0 {
		h.drop(h.order[0])
		h.order = h.order[1:]
	}
	h.evictRev = max(h.evictRev, h.lastRev)
	if cap(h.order) > 4*len(h.order)+64 {
		h.order = append([]string(nil), h.order...)
	}
}

// drop removes k's entry (h.mu held); its place in order goes when it
// comes up.
func (h *hotCache) drop(k string) {
	if e := h.m[k]; e != nil {
		h.bytes -= len(k) + len(e.value) + hotOverhead
		delete(h.m, k)
	}
}

// HotStats are the hot cache's counters.
type HotStats struct {
	Hits, Misses int64
	Bytes, Keys  int
}

// HotStats returns the hot cache's counters (zero when it is off).
func (s *Store) HotStats() HotStats {
	h := s.hot
	if h == nil {
		return HotStats{}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return HotStats{Hits: h.hits, Misses: h.misses, Bytes: h.bytes, Keys: len(h.m)}
}

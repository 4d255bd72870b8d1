package cmdb

import (
	"bytes"
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// Software records are stored compressed, and one change to a host's
// packages has them decompressed several times within a second: ingest
// reads the record it patches, then the title index and licence
// compliance each read the new record and the one it replaced. The payload
// cache keeps the decompressed form of recently written and read values,
// keyed by their exact stored bytes, so each is decompressed once. A value
// found there is the one stored (the bytes are compared, not only hashed),
// so the cache can never answer for a different value; it only saves work.
//
// Entries are evicted first in, first out within a byte budget: the
// readers that benefit follow right behind the writer.

// payloadCacheBudget bounds the decompressed bytes the cache holds (about
// 200 software records of 800 packages).
const payloadCacheBudget = 8 << 20

// payloadCacheMin is the smallest decompressed payload worth caching.
const payloadCacheMin = 1 << 10

type cachedPayload struct {
	stored  []byte // the stored value (copied)
	payload []byte // its CBOR, never modified
}

type payloadCache struct {
	mu     sync.Mutex
	seed   maphash.Seed
	byHash map[uint64]*cachedPayload
	order  []uint64 // insertion order, oldest first
	bytes  int
	budget int

	hits, misses atomic.Int64
}

var payloads = newPayloadCache(payloadCacheBudget)

func newPayloadCache(budget int) *payloadCache {
	return &payloadCache{seed: maphash.MakeSeed(), byHash: map[uint64]*cachedPayload{}, budget: budget}
}

// get returns the payload of stored value v, or nil.
func (c *payloadCache) get(v []byte) []byte {
	h := maphash.Bytes(c.seed, v)
	c.mu.Lock()
	e := c.byHash[h]
	c.mu.Unlock()
	if e != nil && bytes.Equal(e.stored, v) {
		c.hits.Add(1)
		return e.payload
	}
	c.misses.Add(1)
	return nil
}

// put remembers payload as the decompressed form of stored value v. Both
// are copied; v and payload may be reused by the caller.
func (c *payloadCache) put(v, payload []byte) {
	size := len(v) + len(payload)
	if len(payload) < payloadCacheMin || size > c.budget/8 {
		return
	}
	e := &cachedPayload{stored: bytes.Clone(v), payload: bytes.Clone(payload)}
	h := maphash.Bytes(c.seed, v)
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.byHash[h]; ok {
		// The same value again, or (astronomically rarely) another one
		// with its hash: the newer takes the slot.
		c.bytes -= len(old.stored) + len(old.payload)
	} else {
		c.order = append(c.order, h)
	}
	c.byHash[h] = e
	c.bytes += size
	for c.bytes > c.budget && len(c.order) > 0 {
		oldest := c.order[0]
		c.order = c.order[1:]
		if o, ok := c.byHash[oldest]; ok {
			c.bytes -= len(o.stored) + len(o.payload)
			delete(c.byHash, oldest)
		}
	}
	if len(c.order) == 0 {
		c.order = nil // let the slice's backing array go
	} else if cap(c.order) > 4*len(c.order)+64 {
		c.order = append([]uint64(nil), c.order...)
	}
}

// PayloadCacheStats are the payload cache's lookups since start.
type PayloadCacheStats struct {
	Hits, Misses int64
	Bytes        int // decompressed and stored bytes held
}

// PayloadCache returns the payload cache's counters.
func PayloadCache() PayloadCacheStats {
	payloads.mu.Lock()
	n := payloads.bytes
	payloads.mu.Unlock()
	return PayloadCacheStats{Hits: payloads.hits.Load(), Misses: payloads.misses.Load(), Bytes: n}
}

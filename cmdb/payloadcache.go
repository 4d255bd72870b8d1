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
// readers that benefit follow right behind the writer. An entry's payload
// buffer goes back to payloadBufs once it is evicted and no reader holds
// it, so the cache does not add tens of kilobytes of garbage per record.

// payloadCacheBudget bounds the decompressed bytes the cache holds (about
// 200 software records of 800 packages).
const payloadCacheBudget = 8 << 20

// payloadCacheMin is the smallest decompressed payload worth caching.
const payloadCacheMin = 1 << 10

type cachedPayload struct {
	stored  []byte  // the stored value (a copy)
	payload *[]byte // its CBOR, never modified; from payloadBufs
	// refs counts the cache's own reference and each reader's; the
	// buffer is recycled when it drops to zero.
	refs atomic.Int32
}

func (e *cachedPayload) size() int { return len(e.stored) + len(*e.payload) }

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

// get returns the entry of stored value v, held for the caller until it
// calls release, or nil.
func (c *payloadCache) get(v []byte) *cachedPayload {
	h := maphash.Bytes(c.seed, v)
	c.mu.Lock()
	e := c.byHash[h]
	if e != nil && bytes.Equal(e.stored, v) {
		e.refs.Add(1)
		c.mu.Unlock()
		c.hits.Add(1)
		return e
	}
	c.mu.Unlock()
	c.misses.Add(1)
	return nil
}

// release drops a reference to e (the caller's, from get or adopt).
func (c *payloadCache) release(e *cachedPayload) {
	if e.refs.Add(-1) == 0 {
		payloadBufs.Put(e.payload)
	}
}

// adopt makes buf the cached payload of stored value v (which is copied).
// It returns the entry held for the caller (release it), or nil when the
// payload is not worth caching: buf then stays the caller's.
func (c *payloadCache) adopt(v []byte, buf *[]byte) *cachedPayload {
	size := len(v) + len(*buf)
	if len(*buf) < payloadCacheMin || size > c.budget/8 {
		return nil
	}
	e := &cachedPayload{stored: bytes.Clone(v), payload: buf}
	e.refs.Store(2) // the cache's and the caller's
	h := maphash.Bytes(c.seed, v)
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.byHash[h]; ok {
		// The same value again, or (astronomically rarely) another one
		// with its hash: the newer takes the slot.
		c.bytes -= old.size()
		c.release(old)
	} else {
		c.order = append(c.order, h)
	}
	c.byHash[h] = e
	c.bytes += size
	for c.bytes > c.budget && len(c.order) > 0 {
		oldest := c.order[0]
		c.order = c.order[1:]
		if o, ok := c.byHash[oldest]; ok {
			c.bytes -= o.size()
			delete(c.byHash, oldest)
			c.release(o)
		}
	}
	if len(c.order) == 0 {
		c.order = nil // let the slice's backing array go
	} else if cap(c.order) > 4*len(c.order)+64 {
		c.order = append([]uint64(nil), c.order...)
	}
	return e
}

// put remembers payload, which the caller keeps, as the decompressed form
// of stored value v.
func (c *payloadCache) put(v, payload []byte) {
	if len(payload) < payloadCacheMin {
		return
	}
	buf := payloadBufs.Get().(*[]byte)
	*buf = append((*buf)[:0], payload...)
	if e := c.adopt(v, buf); e != nil {
		c.release(e)
	} else {
		payloadBufs.Put(buf)
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

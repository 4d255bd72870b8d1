package cmdb

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"parc/cmdb/store"
	"parc/cmdb/store/teststore"
)

// TestPayloadCache: a software record written is read back from the
// cache, the cache answers exactly as decompression does, and never for
// other bytes.
func TestPayloadCache(t *testing.T) {
	st := teststore.Open(t)
	ctx := context.Background()
	for h := range 3 {
		if _, err := st.Update(ctx, func(stx store.Txn) error {
			_, err := NewTx(ctx, stx, "test", time.Now()).PutSoftware(fmt.Sprintf("host-%d", h), fleetRecord(h, 400))
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := st.Get(ctx, softwareKey("host-2"))
	if err != nil {
		t.Fatal(err)
	}
	if raw[0] == formatCBOR {
		t.Fatalf("software record stored uncompressed (%d bytes)", len(raw))
	}
	before := PayloadCache()
	cached := payloadOf(t, raw)
	if after := PayloadCache(); after.Hits != before.Hits+1 {
		t.Errorf("reading a record just written: %+v then %+v, want one hit", before, after)
	}
	// What decompression gives, bypassing the cache.
	fresh := newPayloadCache(payloadCacheBudget)
	saved := payloads
	payloads = fresh
	uncached := payloadOf(t, raw)
	payloads = saved
	if !bytes.Equal(cached, uncached) {
		t.Fatal("cached payload differs from the decompressed one")
	}
	if e := fresh.get(raw); fresh.misses.Load() != 1 || e == nil {
		t.Error("a decompressed value is not remembered")
	} else {
		fresh.release(e)
	}
	// Other bytes (one flipped, or a prefix) are never answered.
	other := bytes.Clone(raw)
	other[len(other)-1] ^= 1
	if fresh.get(other) != nil || fresh.get(raw[:len(raw)-1]) != nil {
		t.Error("the cache answered for bytes it does not hold")
	}
}

// TestPayloadCacheBudget: entries go first in, first out within the
// budget, and the bookkeeping stays consistent.
func TestPayloadCacheBudget(t *testing.T) {
	c := newPayloadCache(64 << 10)
	payload := bytes.Repeat([]byte("x"), 4<<10)
	var keys [][]byte
	for i := range 40 {
		k := []byte{byte(i), 'v', 'a', 'l'}
		keys = append(keys, k)
		c.put(k, payload)
		c.put(k, payload) // again: one entry
	}
	if c.bytes > c.budget {
		t.Fatalf("%d bytes held, budget %d", c.bytes, c.budget)
	}
	if len(c.order) != len(c.byHash) {
		t.Fatalf("%d in order, %d in the map", len(c.order), len(c.byHash))
	}
	if c.get(keys[0]) != nil {
		t.Error("eviction is not oldest first")
	}
	if e := c.get(keys[39]); e == nil {
		t.Error("the newest entry was evicted")
	} else {
		c.release(e)
	}
	c.put([]byte("small"), []byte("tiny payload")) // not worth keeping
	if c.get([]byte("small")) != nil {
		t.Error("a tiny payload was cached")
	}
}

// TestPayloadCacheHeldEntries: an entry a reader holds keeps its payload
// through eviction, and its buffer is recycled only once released.
func TestPayloadCacheHeldEntries(t *testing.T) {
	c := newPayloadCache(64 << 10)
	mine := bytes.Repeat([]byte("m"), 4<<10)
	c.put([]byte("mine"), mine)
	e := c.get([]byte("mine"))
	if e == nil {
		t.Fatal("not cached")
	}
	for i := range 64 { // evicts "mine"; new entries take recycled buffers
		c.put([]byte{byte(i), 'o'}, bytes.Repeat([]byte{'o'}, 4<<10))
	}
	if c.get([]byte("mine")) != nil {
		t.Fatal("not evicted")
	}
	if !bytes.Equal(*e.payload, mine) {
		t.Fatal("a held payload was recycled and overwritten")
	}
	if n := e.refs.Load(); n != 1 {
		t.Fatalf("%d references left, want the reader's only", n)
	}
	c.release(e)
	if n := e.refs.Load(); n != 0 {
		t.Fatalf("%d references after release", n)
	}
}

// TestPayloadCacheConcurrent: readers of values coming and going from a
// small cache always see the right payload (run with -race).
func TestPayloadCacheConcurrent(t *testing.T) {
	saved := payloads
	payloads = newPayloadCache(256 << 10)
	defer func() { payloads = saved }()
	type value struct{ stored, payload []byte }
	var values []value
	for h := range 24 {
		rec := fleetRecord(h, 300)
		stored, err := Encode(rec)
		if err != nil {
			t.Fatal(err)
		}
		if stored[0] == formatCBOR {
			t.Fatal("record stored uncompressed")
		}
		values = append(values, value{stored, appendSoftwareCBOR(nil, &rec)})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 400 {
				v := values[(g*7+i*5)%len(values)]
				err := WithPayload(v.stored, func(p []byte) error {
					if !bytes.Equal(p, v.payload) {
						return fmt.Errorf("reader %d, read %d: wrong payload", g, i)
					}
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
				if i%3 == 0 {
					payloads.put(v.stored, v.payload)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := PayloadCache(); st.Hits == 0 || st.Misses == 0 {
		t.Errorf("%+v: the test did not exercise both paths", st)
	}
}

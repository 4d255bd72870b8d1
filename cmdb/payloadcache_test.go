package cmdb

import (
	"bytes"
	"context"
	"fmt"
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
	if fresh.misses.Load() != 1 || fresh.get(raw) == nil {
		t.Error("a decompressed value is not remembered")
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
	if c.get(keys[0]) != nil || c.get(keys[39]) == nil {
		t.Error("eviction is not oldest first")
	}
	c.put([]byte("small"), []byte("tiny payload")) // not worth keeping
	if c.get([]byte("small")) != nil {
		t.Error("a tiny payload was cached")
	}
}

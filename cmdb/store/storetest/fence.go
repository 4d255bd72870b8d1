package storetest

import (
	"errors"
	"testing"
	"time"

	"parc/cmdb/store"
)

// testFence checks store.WithFence on backends that elect leaders: a
// fenced write commits while the leadership holds and fails with
// ErrFenced, writing nothing, once it is given up.
func testFence(t *testing.T, s store.Store) {
	locker, ok := s.(store.Locker)
	if !ok {
		t.Skip("not a store.Locker")
	}
	ctx := ctxT(t)
	lead, err := locker.Campaign(ctx, "fence-test", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	fctx := store.WithFence(ctx, lead)
	write := func(v string) error {
		_, err := s.Update(fctx, func(tx store.Txn) error {
			if _, err := tx.Get(fctx, []byte("f/read")); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			return tx.Put([]byte("f/x"), []byte(v))
		})
		return err
	}
	if err := write("1"); err != nil {
		t.Fatalf("fenced write while leading: %v", err)
	}
	if err := lead.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if err := write("2"); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("fenced write after resigning = %v, want ErrFenced", err)
	}
	if v, _ := get(t, s, "f/x"); v != "1" {
		t.Fatalf("f/x = %q after the fenced write, want 1", v)
	}
	// An unfenced context is not affected.
	put(t, s, "f/x", "3")
}

package etcdstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"parc/cmdb/store"
	"parc/cmdb/store/etcdstore/etcdtest"
)

// TestFenceStalledLeader shows that the fence is checked by etcd in the
// commit, not by the client: a leader whose election key is gone (its lease
// expired on the server while the process stalled) cannot write, though its
// own session has not noticed yet, and the successor can.
func TestFenceStalledLeader(t *testing.T) {
	st := opener(etcdtest.Start(t, 1))(t).(*Store)
	ctx := context.Background()
	l1, err := st.Campaign(ctx, "job", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// What lease expiry does on the server: delete the leader key.
	if _, err := st.Client().Delete(ctx, l1.(*leadership).e.Key()); err != nil {
		t.Fatal(err)
	}
	l2, err := st.Campaign(ctx, "job", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Resign(ctx)
	select {
	case <-l1.Done():
		t.Fatal("the stalled leader's session ended: the test would not reach the compare")
	default:
	}
	write := func(l store.Leadership, v string) error {
		fctx := store.WithFence(ctx, l)
		_, err := st.Update(fctx, func(tx store.Txn) error { return tx.Put([]byte("job/out"), []byte(v)) })
		return err
	}
	if err := write(l1, "stale"); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("write of the stalled leader = %v, want ErrFenced", err)
	}
	if err := write(l2, "new"); err != nil {
		t.Fatalf("write of the new leader: %v", err)
	}
	v, err := st.Get(ctx, []byte("job/out"))
	if err != nil || string(v) != "new" {
		t.Fatalf("job/out = %q, %v; want new", v, err)
	}
	_ = l1.Resign(ctx)
}

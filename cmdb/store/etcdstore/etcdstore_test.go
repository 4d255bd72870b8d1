package etcdstore

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"parc/cmdb/store"
	"parc/cmdb/store/etcdstore/etcdtest"
	"parc/cmdb/store/storetest"
)

var prefixes atomic.Int64

func opener(endpoints []string) func(t *testing.T) store.Store {
	return func(t *testing.T) store.Store {
		s, err := Open(context.Background(), Config{
			Endpoints: endpoints,
			Prefix:    fmt.Sprintf("/test/%d/", prefixes.Add(1)),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}

func TestConformance(t *testing.T) {
	storetest.Run(t, opener(etcdtest.Start(t, 1)))
}

func TestConformance3Members(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	storetest.Run(t, opener(etcdtest.Start(t, 3)))
}

func TestFoldedReadSet(t *testing.T) {
	st := opener(etcdtest.Start(t, 1))(t)
	ctx := context.Background()
	const n = 2 * MaxCompares
	for i := 0; i < n; i += 100 {
		_, err := st.Update(ctx, func(tx store.Txn) error {
			for j := i; j < min(i+100, n); j++ {
				if err := tx.Put(fmt.Appendf(nil, "r/%04d", j), []byte("v")); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	attempts := 0
	_, err := st.Update(ctx, func(tx store.Txn) error {
		attempts++
		for j := range n {
			if _, err := tx.Get(ctx, fmt.Appendf(nil, "r/%04d", j)); err != nil {
				return err
			}
		}
		if _, err := tx.Get(ctx, []byte("r/absent")); err == nil {
			t.Error("r/absent present")
		}
		if attempts == 1 {
			// A write to one read key must still conflict with the
			// folded compares.
			if _, err := st.Update(ctx, func(tx store.Txn) error { return tx.Put([]byte("r/0137"), []byte("w")) }); err != nil {
				return err
			}
		}
		return tx.Put([]byte("out"), []byte("x"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if attempts != 2 {
		t.Fatalf("fn ran %d times, want 2", attempts)
	}
}

func TestLocker(t *testing.T) {
	st := opener(etcdtest.Start(t, 1))(t).(*Store)
	ctx := context.Background()
	l1, err := st.Campaign(ctx, "job", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if l1.Rev() <= 0 {
		t.Errorf("Rev = %d", l1.Rev())
	}
	won := make(chan store.Leadership, 1)
	go func() {
		l2, err := st.Campaign(ctx, "job", time.Second)
		if err != nil {
			t.Error(err)
		}
		won <- l2
	}()
	select {
	case <-won:
		t.Fatal("second campaign won while the first leads")
	case <-time.After(300 * time.Millisecond):
	}
	if err := l1.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case l2 := <-won:
		if l2.Rev() <= l1.Rev() {
			t.Errorf("new leader rev %d <= old %d", l2.Rev(), l1.Rev())
		}
		st.Close()
		select {
		case <-l2.Done():
		case <-time.After(5 * time.Second):
			t.Error("Done not closed after Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second campaign did not win after Resign")
	}
}

package teststore

import (
	"context"
	"testing"

	"parc/cmdb/store"
)

func TestMain(m *testing.M) { Main(m) }

func TestOpenIsFreshAndWorks(t *testing.T) {
	ctx := context.Background()
	for range 2 {
		st := Open(t)
		kvs, err := st.Scan(ctx, store.Range{})
		if err != nil || len(kvs) != 0 {
			t.Fatalf("fresh store has %d keys, err %v", len(kvs), err)
		}
		if _, err := st.Update(ctx, func(tx store.Txn) error { return tx.Put([]byte("k"), []byte("v")) }); err != nil {
			t.Fatal(err)
		}
		if v, err := st.Get(ctx, []byte("k")); err != nil || string(v) != "v" {
			t.Fatalf("Get = %q, %v", v, err)
		}
	}
}

package badgerstore

import (
	"context"
	"fmt"
	"testing"

	"parc/cmdb/store"
	"parc/cmdb/store/storetest"
)

func open(t testing.TB) *Store {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

// TestConformanceHot: the same with every key in the hot cache, and a
// budget small enough that entries come and go.
func TestConformanceHot(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(t.TempDir(), Options{HotPrefixes: []string{""}, HotBytes: 4 << 10})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func BenchmarkUpdate(b *testing.B) {
	s, err := Open("", Options{InMemory: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	val := make([]byte, 200)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_, err := s.Update(ctx, func(tx store.Txn) error {
			return tx.Put(fmt.Appendf(nil, "bench/%08d", i%10000), val)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkScan(b *testing.B) {
	s, err := Open("", Options{InMemory: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	val := make([]byte, 200)
	for i := 0; i < 10000; i += 100 {
		_, err := s.Update(ctx, func(tx store.Txn) error {
			for j := i; j < i+100; j++ {
				if err := tx.Put(fmt.Appendf(nil, "bench/%08d", j), val); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		kvs, err := s.Scan(ctx, store.Range{Prefix: []byte("bench/"), Limit: 100, After: []byte("bench/00005000")})
		if err != nil || len(kvs) != 100 {
			b.Fatal(len(kvs), err)
		}
	}
}

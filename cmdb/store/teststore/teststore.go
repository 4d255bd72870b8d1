// Package teststore opens a real store for other packages' tests: Badger in
// a temp dir by default. (The etcd choice through PARC_TEST_STORE=etcd is
// added with the etcd backend.)
package teststore

import (
	"testing"

	"parc/cmdb/store"
	"parc/cmdb/store/badgerstore"
)

// Open returns a fresh, empty store closed at the end of the test.
func Open(t testing.TB) store.Store {
	t.Helper()
	st, err := badgerstore.Open(t.TempDir(), badgerstore.Options{})
	if err != nil {
		t.Fatalf("open badger store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

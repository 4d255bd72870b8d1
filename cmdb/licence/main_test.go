package licence_test

import (
	"context"
	"testing"

	"parc/cmdb/store"
	"parc/cmdb/store/teststore"
)

func TestMain(m *testing.M) { teststore.Main(m) }

// countKeys counts every key of the test's store (its own prefix on a
// shared etcd), to check that a refused operation wrote nothing.
func countKeys(t *testing.T, st store.Store) int {
	t.Helper()
	kvs, err := st.Scan(context.Background(), store.Range{Start: []byte{0}, End: []byte{0xff}})
	if err != nil {
		t.Fatal(err)
	}
	return len(kvs)
}

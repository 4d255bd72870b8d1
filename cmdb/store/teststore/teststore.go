// Package teststore opens a real, fresh store for other packages' tests:
// Badger in t.TempDir() by default, or etcd when PARC_TEST_STORE=etcd.
//
// On etcd, each Open gets a fresh key prefix on one cluster shared by the
// test binary: the endpoints in PARC_TEST_ETCD_ENDPOINTS (comma-separated)
// if set, else a one-member cluster started on first use. Call Main from
// TestMain to stop that cluster when the tests end (it is also killed when
// the test binary exits, on Linux):
//
//	func TestMain(m *testing.M) { teststore.Main(m) }
package teststore

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"parc/cmdb/store"
	"parc/cmdb/store/badgerstore"
	"parc/cmdb/store/etcdstore"
	"parc/cmdb/store/etcdstore/etcdtest"
)

// Environment variables that choose the backend.
const (
	BackendEnv   = "PARC_TEST_STORE"          // "badger" (default) or "etcd"
	EndpointsEnv = "PARC_TEST_ETCD_ENDPOINTS" // use this cluster instead of starting one
)

var (
	shared struct {
		once sync.Once
		c    *etcdtest.Cluster
		dir  string
		eps  []string
		err  error
	}
	seq atomic.Int64
)

// Open returns a fresh, empty store closed at the end of the test.
func Open(t testing.TB) store.Store {
	t.Helper()
	switch b := os.Getenv(BackendEnv); b {
	case "", "badger":
		// Every key through the hot cache, as the collector's records
		// go: the tests exercise it everywhere.
		st, err := badgerstore.Open(t.TempDir(), badgerstore.Options{HotPrefixes: []string{""}})
		if err != nil {
			t.Fatalf("open badger store: %v", err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	case "etcd":
		eps := endpoints(t)
		st, err := etcdstore.Open(context.Background(), etcdstore.Config{
			Endpoints: eps,
			Prefix:    fmt.Sprintf("/parc-test/%d-%d/", os.Getpid(), seq.Add(1)),
		})
		if err != nil {
			t.Fatalf("open etcd store: %v", err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	default:
		t.Fatalf("%s=%q: want badger or etcd", BackendEnv, b)
		return nil
	}
}

func endpoints(t testing.TB) []string {
	t.Helper()
	if eps := os.Getenv(EndpointsEnv); eps != "" {
		return strings.Split(eps, ",")
	}
	etcdtest.SkipIfMissing(t)
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "parc-etcd-")
		if shared.err != nil {
			return
		}
		shared.c, shared.err = etcdtest.StartCluster(shared.dir, 1)
		if shared.err == nil {
			shared.eps = shared.c.Endpoints
		}
	})
	if shared.err != nil {
		t.Fatalf("start shared etcd: %v", shared.err)
	}
	return shared.eps
}

// Stop stops the shared etcd cluster, if one was started, and removes its
// data.
func Stop() {
	if shared.c != nil {
		shared.c.Stop()
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
}

// Main runs the tests, stops the shared cluster and exits.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

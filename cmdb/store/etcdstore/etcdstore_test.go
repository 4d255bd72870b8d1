package etcdstore

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

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

package reconcile_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"parc/cmdb"
	"parc/cmdb/reconcile"
	"parc/cmdb/store"
	"parc/cmdb/store/badgerstore"
)

// TestBytesPerHost prints what one host's first report leaves in the
// store, by key prefix (PARC_SIZE=1 to run: it is a measurement).
func TestBytesPerHost(t *testing.T) {
	if os.Getenv("PARC_SIZE") == "" {
		t.Skip("set PARC_SIZE=1 to measure")
	}
	st, err := badgerstore.Open(t.TempDir(), badgerstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e := reconcile.New(st, reconcile.Config{})
	const hosts = 200
	for i := range hosts {
		if _, err := e.Apply(context.Background(), benchReport(i, 1), t0); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	x := cmdb.NewTitleIndexer(st, nil)
	go x.Run(ctx)
	want, _ := st.Rev(ctx)
	for x.Done() < want {
		time.Sleep(20 * time.Millisecond)
	}
	sizes := map[string]int{}
	counts := map[string]int{}
	kvs, err := st.Scan(ctx, store.Range{Start: []byte{1}})
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range kvs {
		p := string(kv.Key)
		if i := strings.IndexByte(p, '/'); i >= 0 {
			p = p[:i+1]
		}
		sizes[p] += len(kv.Key) + len(kv.Value)
		counts[p]++
	}
	var keys []string
	for k := range sizes {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return sizes[keys[i]] > sizes[keys[j]] })
	total := 0
	for _, k := range keys {
		total += sizes[k]
		fmt.Printf("%-6s %8d keys %10d bytes %8d bytes/host\n", k, counts[k], sizes[k], sizes[k]/hosts)
	}
	fmt.Printf("total %d bytes/host of user data\n", total/hosts)
}

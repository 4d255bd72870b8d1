package cmdb

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"parc/cmdb/store"
	"parc/cmdb/store/badgerstore"
	"parc/cmdb/store/teststore"
)

func putSoftware(t *testing.T, st store.Store, host string, pkgs ...string) int64 {
	t.Helper()
	var rec SoftwareRecord
	for _, p := range pkgs {
		var name, version string
		fmt.Sscanf(p, "%s %s", &name, &version)
		rec.Items = append(rec.Items, Installed{Title: name, Name: name, Version: version, Arch: "amd64", Source: "dpkg"})
	}
	rev, err := st.Update(context.Background(), func(stx store.Txn) error {
		_, err := NewTx(context.Background(), stx, "test", time.Now()).PutSoftware(host, rec)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

// waitIndexed waits until x has folded in the software write at revision
// want (the indexer's own title CI writes move the store's revision past
// it).
func waitIndexed(t *testing.T, want int64, x *TitleIndexer) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for x.Done() < want || x.Pending() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("title index at %d, want %d", x.Done(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// titleHostsOf returns host → version of a title, from the index and from
// reading the records, and fails when they differ.
func titleHostsOf(t *testing.T, g *Graph, title string) map[string]string {
	t.Helper()
	ctx := context.Background()
	id := TitleID(title)
	ci, err := g.CI(ctx, id)
	if err != nil {
		t.Fatalf("title CI %s: %v", title, err)
	}
	fromIndex, ok := g.titles.Load().Hosts(id)
	if !ok {
		t.Fatal("index not ready")
	}
	var fromScan []TitleInstall
	if err := g.st.View(ctx, func(r store.Reader) error {
		fromScan, err = scanTitleHosts(ctx, r, ci.Name)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	a, b := map[string]string{}, map[string]string{}
	for _, h := range fromIndex {
		a[h.Host] = h.Version
	}
	for _, h := range fromScan {
		b[h.Host] = h.Version
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("%s: index says %v, records say %v", title, a, b)
	}
	return a
}

func TestTitleIndexFollowsRecords(t *testing.T) {
	st := teststore.Open(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rev := putSoftware(t, st, "h1", "curl 7.88", "vim 9.0")
	g := NewGraph(st)
	x := NewTitleIndexer(st, nil)
	g.UseTitleIndex(x)
	done := make(chan error, 1)
	go func() { done <- x.Run(ctx) }()
	waitIndexed(t, rev, x)
	if got := titleHostsOf(t, g, "curl"); !reflect.DeepEqual(got, map[string]string{"h1": "7.88"}) {
		t.Fatalf("curl on %v after load", got)
	}
	// Live: a second host, an upgrade, a removal, a host gone.
	putSoftware(t, st, "h2", "curl 7.88", "git 2.39")
	waitIndexed(t, putSoftware(t, st, "h1", "curl 8.0", "git 2.39"), x)
	if got := titleHostsOf(t, g, "curl"); !reflect.DeepEqual(got, map[string]string{"h1": "8.0", "h2": "7.88"}) {
		t.Errorf("curl on %v", got)
	}
	if got := titleHostsOf(t, g, "vim"); len(got) != 0 {
		t.Errorf("vim still on %v after its removal", got)
	}
	if got := titleHostsOf(t, g, "git"); len(got) != 2 {
		t.Errorf("git on %v", got)
	}
	rev, err := st.Update(ctx, func(tx store.Txn) error { return tx.Delete(softwareKey("h2")) })
	if err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, rev, x)
	if got := titleHostsOf(t, g, "git"); !reflect.DeepEqual(got, map[string]string{"h1": "2.39"}) {
		t.Errorf("git on %v after h2's record went", got)
	}
	// The edges of a title come from the index.
	edges, err := g.Edges(ctx, TitleID("curl"))
	if err != nil || len(edges) != 1 || edges[0].Other != "h1" || edges[0].Attrs["version"] != "8.0" {
		t.Errorf("curl edges %+v, %v", edges, err)
	}
	if s := x.Stats(); s.Pairs != 2 || s.Titles != 3 {
		t.Errorf("stats %+v, want 2 pairs over 3 titles", s)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestTitleIndexReloadsAfterCompaction holds the index up while the feed
// it has yet to read is compacted away: it must load the records again
// and end right.
func TestTitleIndexReloadsAfterCompaction(t *testing.T) {
	st, err := badgerstore.Open(t.TempDir(), badgerstore.Options{FeedRetention: 5, MaxFeedRetention: 50})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g := NewGraph(st)
	x := NewTitleIndexer(st, nil)
	g.UseTitleIndex(x)
	go x.Run(ctx)
	waitIndexed(t, putSoftware(t, st, "h00", "curl 7.0"), x)
	x.mu.Lock() // the follower blocks on its next event, and falls behind
	for i := range 400 {
		putSoftware(t, st, fmt.Sprintf("h%02d", i%4), fmt.Sprintf("curl 7.%d", i), "vim 9.0")
	}
	if err := st.Compact(ctx, 1<<62); err != nil {
		x.mu.Unlock()
		t.Fatal(err)
	}
	x.mu.Unlock()
	waitIndexed(t, putSoftware(t, st, "h00", "curl 9.9"), x)
	if n := x.loads.Load(); n < 2 {
		t.Errorf("loaded %d times, want a reload after the compaction", n)
	}
	got := titleHostsOf(t, g, "curl")
	if len(got) != 4 || got["h00"] != "9.9" || got["h03"] != "7.399" {
		t.Errorf("curl on %v", got)
	}
}

// TestTitleOpsRandom applies titleOps to the index entries of a random
// record and checks they become those of the next: one per title, its
// first package.
func TestTitleOpsRandom(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 9))
	record := func() []Installed {
		var items []Installed
		for range rnd.IntN(30) {
			n := rnd.IntN(12)
			items = append(items, Installed{Title: fmt.Sprintf("t%d", n), Name: fmt.Sprintf("p%d-%d", n, rnd.IntN(2)), Version: fmt.Sprint(rnd.IntN(3))})
		}
		return items
	}
	entries := func(items []Installed) map[string]Installed {
		m := map[string]Installed{}
		for _, it := range items {
			if _, ok := m[it.Title]; !ok {
				m[it.Title] = it
			}
		}
		return m
	}
	for range 500 {
		before, after := record(), record()
		got := entries(before)
		for _, op := range titleOps("h", before, after) {
			if op.item == nil {
				delete(got, op.title)
			} else {
				got[op.title] = *op.item
			}
		}
		if want := entries(after); !reflect.DeepEqual(got, want) {
			t.Fatalf("from %v to %v: entries %v, want %v", before, after, got, want)
		}
	}
}

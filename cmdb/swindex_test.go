package cmdb

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
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

// indexContents returns the index as title → host → package.
func indexContents(t *testing.T, x *TitleIndexer) map[string]map[string]Installed {
	t.Helper()
	x.ready.Store(true)
	out := map[string]map[string]Installed{}
	for _, e := range x.titles {
		hosts, ok := x.Hosts(TitleID(e.name))
		if !ok {
			t.Fatal("index not ready")
		}
		for _, h := range hosts {
			if out[e.name] == nil {
				out[e.name] = map[string]Installed{}
			}
			if _, dup := out[e.name][h.Host]; dup {
				t.Fatalf("%s twice on %s", e.name, h.Host)
			}
			out[e.name][h.Host] = h.Installed
		}
	}
	return out
}

// wantContents returns what the index should hold for the hosts' records:
// per title and host, the title's first package.
func wantContents(records map[string][]Installed) map[string]map[string]Installed {
	out := map[string]map[string]Installed{}
	for host, items := range records {
		for _, it := range items {
			if out[it.Title] == nil {
				out[it.Title] = map[string]Installed{}
			}
			if _, ok := out[it.Title][host]; !ok {
				out[it.Title][host] = Installed{Title: it.Title, Name: it.Name, Version: it.Version, Arch: it.Arch, Source: it.Source}
			}
		}
	}
	return out
}

// encodeIndefinite encodes rec as Encode does, uncompressed, but with its
// items in an indefinite-length array: valid CBOR that the general
// decoder reads and the fast ones do not.
func encodeIndefinite(t *testing.T, rec SoftwareRecord) []byte {
	t.Helper()
	b, err := encMode.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Items == nil {
		return append([]byte{formatCBOR}, b...)
	}
	r := &CBORReader{B: b, I: 2} // after {1:
	if major, _, err := r.Head(); err != nil || major != 4 {
		t.Fatalf("items head: %d, %v", major, err)
	}
	out := append([]byte{formatCBOR, b[0], b[1], 0x9f}, b[r.I:]...)
	return append(out, 0xff)
}

// TestTitleIndexFoldRandom folds random changes of a few hosts' records,
// encoded in every way the index reads, and checks the index holds each
// title's first package on each host, and counts right.
func TestTitleIndexFoldRandom(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 9))
	long := strings.Repeat("x", 200)
	record := func() []Installed {
		if rnd.IntN(8) == 0 {
			return nil
		}
		var items []Installed
		for range rnd.IntN(40) {
			n := rnd.IntN(12)
			name := fmt.Sprintf("p%d-%d", rnd.IntN(16), rnd.IntN(2))
			if rnd.IntN(20) == 0 {
				name += long
			}
			items = append(items, Installed{Title: fmt.Sprintf("t%d", n), Name: name, Version: fmt.Sprint(rnd.IntN(3)),
				Arch: []string{"", "amd64", "i386"}[rnd.IntN(3)], Source: []string{"", "dpkg"}[rnd.IntN(2)],
				Publisher: fmt.Sprint("pub", rnd.IntN(2)), Installed: rnd.Int64N(3) - 1})
		}
		if rnd.IntN(4) > 0 { // records are sorted; the index must not rely on it
			slices.SortStableFunc(items, func(a, b Installed) int {
				return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Arch, b.Arch), strings.Compare(a.Source, b.Source))
			})
		}
		return items
	}
	// mutate changes a few packages of items, as most reports do.
	mutate := func(items []Installed) []Installed {
		items = slices.Clone(items)
		for range rnd.IntN(4) {
			if len(items) == 0 {
				break
			}
			k := rnd.IntN(len(items))
			switch rnd.IntN(4) {
			case 0:
				items[k].Version += "+1"
			case 1:
				items = slices.Delete(items, k, k+1)
			case 2:
				items = slices.Insert(items, k, Installed{Title: fmt.Sprintf("t%d", rnd.IntN(12)), Name: fmt.Sprintf("q%d", rnd.IntN(5)), Version: "1"})
			case 3:
				items[k].Publisher += "!"
			}
		}
		return items
	}
	encode := func(items []Installed) []byte {
		rec := SoftwareRecord{Items: items}
		if rnd.IntN(5) == 0 {
			return encodeIndefinite(t, rec)
		}
		v, err := Encode(rec)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	x := NewTitleIndexer(nil, nil)
	records := map[string][]Installed{}
	encoded := map[string][]byte{}
	firsts := map[[4]string]bool{}
	for step := range 3000 {
		host := fmt.Sprintf("h%d", rnd.IntN(5))
		var next []byte
		var items []Installed
		switch r := rnd.IntN(10); {
		case r == 0: // the record is deleted
		case r < 7 && encoded[host] != nil:
			items = mutate(records[host])
			next = encode(items)
		default:
			items = record()
			next = encode(items)
		}
		if err := x.fold(host, encoded[host], next); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if next == nil {
			delete(records, host)
			delete(encoded, host)
		} else {
			records[host], encoded[host] = items, next
		}
		pairs := 0
		want := wantContents(records)
		for _, hosts := range want {
			pairs += len(hosts)
			for _, it := range hosts {
				firsts[[4]string{it.Name, it.Version, it.Arch, it.Source}] = true
			}
		}
		if got := indexContents(t, x); !reflect.DeepEqual(got, want) {
			t.Fatalf("step %d: index\n%v\nwant\n%v", step, got, want)
		}
		if s := x.Stats(); s.Pairs != pairs || s.Versions != len(firsts) || s.Titles != len(x.titleNum) {
			t.Fatalf("step %d: stats %+v, want %d pairs, %d versions", step, s, pairs, len(firsts))
		}
	}
}

// TestTitleIndexFirstPackage follows the first package of a title listed
// twice as the packages before it come and go.
func TestTitleIndexFirstPackage(t *testing.T) {
	x := NewTitleIndexer(nil, nil)
	x.ready.Store(true)
	pkg := func(name, version string) Installed {
		return Installed{Title: "python", Name: name, Version: version, Publisher: "PSF " + name}
	}
	steps := [][]Installed{
		{pkg("python3.11", "3.11.2"), pkg("python3.12", "3.12.1")},
		{pkg("python3.12", "3.12.1")},
		{pkg("python3.10", "3.10.0"), pkg("python3.12", "3.12.1")},
		{pkg("python3.10", "3.10.0"), pkg("python3.12", "3.12.2")},
		{pkg("python3.12", "3.12.2"), pkg("python3.10", "3.10.0")}, // out of order: still the first listed
		nil,
	}
	var prev []byte
	for i, items := range steps {
		var next []byte
		if items != nil {
			next = mustEncodeT(t, SoftwareRecord{Items: items})
		}
		if err := x.fold("h1", prev, next); err != nil {
			t.Fatal(err)
		}
		prev = next
		hosts, _ := x.Hosts(TitleID("python"))
		switch {
		case items == nil && len(hosts) != 0:
			t.Errorf("step %d: python on %v after the record went", i, hosts)
		case items != nil && (len(hosts) != 1 || hosts[0].Name != items[0].Name || hosts[0].Version != items[0].Version):
			t.Errorf("step %d: python on %v, want %s %s", i, hosts, items[0].Name, items[0].Version)
		}
	}
	// The title CI is made once, with the publisher of its first package.
	if len(x.create) != 1 || x.create[0].Title != "python" || x.create[0].Publisher != "PSF python3.11" {
		t.Errorf("titles to create %+v", x.create)
	}
	if s := x.Stats(); s.Pairs != 0 || s.Titles != 1 || s.Versions != 4 {
		t.Errorf("stats %+v", s)
	}
}

// TestTitleIndexGeneralDecoder folds records the fast scanner does not
// read, and one that no decoder reads.
func TestTitleIndexGeneralDecoder(t *testing.T) {
	x := NewTitleIndexer(nil, nil)
	rec := SoftwareRecord{Items: []Installed{{Title: "curl", Name: "curl", Version: "8.0"}, {Title: "vim", Name: "vim", Version: "9.0"}}}
	odd := encodeIndefinite(t, rec)
	if err := WithPayload(odd, func(p []byte) error { _, err := scanSoftware(p, nil); return err }); err == nil {
		t.Fatal("the scanner reads an indefinite-length array")
	}
	if err := x.fold("h1", nil, odd); err != nil {
		t.Fatal(err)
	}
	rec.Items[0].Version = "8.1"
	next := mustEncodeT(t, rec)
	if err := x.fold("h1", odd, next); err != nil {
		t.Fatal(err)
	}
	want := wantContents(map[string][]Installed{"h1": rec.Items})
	if got := indexContents(t, x); !reflect.DeepEqual(got, want) {
		t.Fatalf("index %v, want %v", got, want)
	}
	if err := x.fold("h1", next, []byte{formatCBOR, 0xa1, 0x01, 0x81}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("truncated record: %v, want ErrCorrupt", err)
	}
	bad := SoftwareRecord{Items: []Installed{{Title: "bad\xff", Name: "bad", Version: "1"}}}
	b, err := encMode.Marshal(bad)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.fold("h2", nil, append([]byte{formatCBOR}, b...)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("title not UTF-8: %v, want ErrCorrupt", err)
	}
}

func mustEncodeT(t *testing.T, v any) []byte {
	t.Helper()
	b, err := Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

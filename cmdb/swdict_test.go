package cmdb

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"parc/cmdb/store"
	"parc/cmdb/store/teststore"
)

// fleetRecord is host h's software: the same base packages as every other
// host, a few of its own, and a few versions of its own.
func fleetRecord(h, n int) SoftwareRecord {
	var rec SoftwareRecord
	for i := range n {
		name := fmt.Sprintf("libpkg%04d", i)
		version := fmt.Sprintf("%d.%d.%d-1", i%5, i%17, i%29)
		if i%40 == h%40 {
			version += "+host" + fmt.Sprint(h)
		}
		if i >= n-n/20 {
			name = fmt.Sprintf("zz-host%05d-tool%02d", h, i)
		}
		rec.Items = append(rec.Items, Installed{Title: name, Name: name, Version: version, Arch: "amd64",
			Publisher: "Debian", Source: "dpkg", Installed: 1_700_000_000 + int64(i)*7919})
	}
	return rec
}

func writeSoftware(t *testing.T, st store.Store, host string, rec SoftwareRecord) bool {
	t.Helper()
	var changed bool
	_, err := st.Update(context.Background(), func(stx store.Txn) error {
		var err error
		changed, err = NewTx(context.Background(), stx, "test", time.Now()).PutSoftware(host, rec)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return changed
}

func readSoftware(t *testing.T, st store.Store, host string) (SoftwareRecord, []byte) {
	t.Helper()
	var rec SoftwareRecord
	var raw []byte
	err := st.View(context.Background(), func(r store.Reader) error {
		var err error
		rec, raw, err = loadSoftware(context.Background(), r, host)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return rec, raw
}

// forgetDicts empties this process's dictionary registry, as a restart or
// another collector would see it.
func forgetDicts(t *testing.T) {
	t.Helper()
	dicts.mu.Lock()
	dicts.byID.Store(&map[uint32]*swDict{})
	dicts.mu.Unlock()
}

func TestSoftwareDictionary(t *testing.T) {
	st := teststore.Open(t)
	ctx := context.Background()
	first, second := fleetRecord(1, 800), fleetRecord(2, 800)
	if !writeSoftware(t, st, "h1", first) || !writeSoftware(t, st, "h2", second) {
		t.Fatal("new records not written")
	}
	cur, err := st.Get(ctx, []byte(dictCurrentKey))
	if err != nil || len(cur) != 4 {
		t.Fatalf("no current dictionary after a large record: %v", err)
	}
	id := binary.BigEndian.Uint32(cur)
	content, err := st.Get(ctx, dictKey(id))
	if err != nil || dictID(content) != id {
		t.Fatalf("dictionary %08x: %v", id, err)
	}
	got, raw := readSoftware(t, st, "h2")
	if !reflect.DeepEqual(got, second) {
		t.Fatal("record read back differs")
	}
	if raw[0] != formatCBORZstdDict {
		t.Fatalf("format %#x, want compressed against the dictionary", raw[0])
	}
	alone, _ := Encode(second)
	if len(raw)*3 > len(alone) {
		t.Errorf("against the dictionary %d bytes, alone %d: want a third at most", len(raw), len(alone))
	}
	t.Logf("800 packages: %d bytes against the dictionary, %d alone", len(raw), len(alone))

	// Unchanged software writes nothing; a changed package does.
	if writeSoftware(t, st, "h2", second) {
		t.Error("unchanged record rewritten")
	}
	second.Items[3].Version = "9.9.9-1"
	if !writeSoftware(t, st, "h2", second) {
		t.Error("changed record not written")
	}

	// A process that has not seen the dictionary loads it from the store
	// it was told about, and cannot decode without one.
	forgetDicts(t)
	release := UseDictionaries(st)
	got, _ = readSoftware(t, st, "h2")
	if !reflect.DeepEqual(got, second) {
		t.Fatal("record read back differs after loading the dictionary")
	}
	release()
	forgetDicts(t)
	err = st.View(ctx, func(r store.Reader) error {
		_, _, err := loadSoftware(ctx, r, "h1")
		return err
	})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("decode without the dictionary: %v, want ErrCorrupt", err)
	}
	// The writer finds the current dictionary in the store again.
	defer UseDictionaries(st)()
	if !writeSoftware(t, st, "h3", fleetRecord(3, 800)) {
		t.Fatal("not written")
	}
	if cur2, _ := st.Get(ctx, []byte(dictCurrentKey)); string(cur2) != string(cur) {
		t.Fatal("current dictionary replaced")
	}
}

func TestSoftwareDictionaryNotFromSmallRecords(t *testing.T) {
	st := teststore.Open(t)
	small := fleetRecord(1, 40)
	writeSoftware(t, st, "h1", small)
	if _, err := st.Get(context.Background(), []byte(dictCurrentKey)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a small record became the dictionary (%v)", err)
	}
	if got, _ := readSoftware(t, st, "h1"); !reflect.DeepEqual(got, small) {
		t.Fatal("record read back differs")
	}
	// Records written before there was a dictionary stay readable, and
	// are compared by content, not by their stored bytes.
	big := fleetRecord(2, 800)
	writeSoftware(t, st, "h2", big)
	if writeSoftware(t, st, "h1", small) {
		t.Error("unchanged pre-dictionary record rewritten")
	}
}

// Collectors writing their first large records at once agree on one
// dictionary: the others' transactions conflict and are retried.
func TestSoftwareDictionaryConcurrentFirst(t *testing.T) {
	st := teststore.Open(t)
	var wg sync.WaitGroup
	for h := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			writeSoftware(t, st, fmt.Sprintf("h%d", h), fleetRecord(h, 600+h))
		}()
	}
	wg.Wait()
	kvs, err := st.Scan(context.Background(), store.Range{Prefix: []byte(PrefixDict)})
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) != 2 { // current + one dictionary
		t.Fatalf("%d dictionary keys, want 2", len(kvs))
	}
	forgetDicts(t)
	defer UseDictionaries(st)()
	for h := range 6 {
		if got, _ := readSoftware(t, st, fmt.Sprintf("h%d", h)); !reflect.DeepEqual(got, fleetRecord(h, 600+h)) {
			t.Fatalf("h%d read back differs", h)
		}
	}
}

func TestSoftwareDictionaryBadContent(t *testing.T) {
	st := teststore.Open(t)
	ctx := context.Background()
	_, err := st.Update(ctx, func(tx store.Txn) error {
		if err := tx.Put(dictKey(42), []byte("not the content of dictionary 42")); err != nil {
			return err
		}
		return tx.Put([]byte(dictCurrentKey), binary.BigEndian.AppendUint32(nil, 42))
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Update(ctx, func(stx store.Txn) error {
		_, err := NewTx(ctx, stx, "test", time.Now()).PutSoftware("h1", fleetRecord(1, 800))
		return err
	})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("write with a corrupt dictionary: %v, want ErrCorrupt", err)
	}
	if _, err := st.Get(ctx, softwareKey("h1")); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("record written despite the error")
	}
}

// The history of a software update, computed from the stored record read
// in place, is what SoftwareChanges says of the two lists.
func TestPutSoftwareHistory(t *testing.T) {
	st := teststore.Open(t)
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(3, 5))
	prev := fleetRecord(7, 300)
	writeSoftware(t, st, "h7", prev)
	for round := range 40 {
		next := SoftwareRecord{Items: slices.Clone(prev.Items)}
		for range 1 + rnd.IntN(6) {
			i := rnd.IntN(len(next.Items))
			switch rnd.IntN(3) {
			case 0:
				next.Items[i].Version += ".1"
			case 1:
				next.Items = slices.Delete(next.Items, i, i+1)
			default:
				it := next.Items[i]
				it.Name += "-extra"
				it.Title = it.Name
				next.Items = slices.Insert(next.Items, i+1, it)
			}
		}
		if round%10 == 9 { // unsorted input takes the map path
			next.Items[0], next.Items[len(next.Items)-1] = next.Items[len(next.Items)-1], next.Items[0]
		}
		if !writeSoftware(t, st, "h7", next) {
			t.Fatalf("round %d: not written", round)
		}
		kvs, err := st.Scan(ctx, store.Range{Prefix: historyPrefix("h7"), Reverse: true, Limit: 1})
		if err != nil || len(kvs) != 1 {
			t.Fatalf("round %d: history: %v", round, err)
		}
		var h HistoryEntry
		if err := Decode(kvs[0].Value, &h); err != nil {
			t.Fatal(err)
		}
		want := SoftwareChanges(prev.Items, next.Items, 200)
		if fmt.Sprint(h.Changes) != fmt.Sprint(want) {
			t.Fatalf("round %d: history %v\nwant %v", round, h.Changes, want)
		}
		prev = next
	}
}

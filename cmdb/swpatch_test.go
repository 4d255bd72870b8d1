package cmdb

import (
	"bytes"
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
	"parc/cmdb/store/teststore"
)

func patchSoftware(st store.Store, host string, set, gone []Installed) (bool, error) {
	var changed bool
	_, err := st.Update(context.Background(), func(stx store.Txn) error {
		var err error
		changed, err = NewTx(context.Background(), stx, "test", time.Now()).PatchSoftware(host, set, gone)
		return err
	})
	return changed, err
}

func lastHistory(t *testing.T, st store.Store, host string) []Change {
	t.Helper()
	kvs, err := st.Scan(context.Background(), store.Range{Prefix: historyPrefix(host), Reverse: true, Limit: 1})
	if err != nil || len(kvs) != 1 {
		t.Fatalf("history of %s: %d entries, %v", host, len(kvs), err)
	}
	var h HistoryEntry
	if err := Decode(kvs[0].Value, &h); err != nil {
		t.Fatal(err)
	}
	return h.Changes
}

func payloadOf(t *testing.T, raw []byte) []byte {
	t.Helper()
	var out []byte
	if err := WithPayload(raw, func(p []byte) error { out = bytes.Clone(p); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPatchSoftware applies random patches to one host and the whole
// resulting lists to another: records (byte for byte), results and history
// must agree.
func TestPatchSoftware(t *testing.T) {
	st := teststore.Open(t)
	rnd := rand.New(rand.NewPCG(11, 13))
	prev := fleetRecord(3, 400)
	for i := range prev.Items {
		if i%7 == 0 {
			prev.Items[i].Source = "snap" // same names under another source
		}
	}
	slices.SortFunc(prev.Items, compareInstalledKey)
	prev.Items = slices.CompactFunc(prev.Items, func(a, b Installed) bool { return compareInstalledKey(a, b) == 0 })
	writeSoftware(t, st, "whole", prev)
	if _, err := patchSoftware(st, "patched", prev.Items, nil); err != nil { // from no record at all
		t.Fatal(err)
	}
	applied, changed := 0, 0
	for round := range 60 {
		next := slices.Clone(prev.Items)
		var set, gone []Installed
		for range rnd.IntN(8) {
			i := rnd.IntN(len(next))
			it := next[i]
			switch rnd.IntN(6) {
			case 0:
				it.Version += ".1"
				next[i] = it
				set = append(set, it)
			case 1:
				it.Installed++ // not a version change: no history line, still a write
				next[i] = it
				set = append(set, it)
			case 2:
				next = slices.Delete(next, i, i+1)
				gone = append(gone, Installed{Name: it.Name, Arch: it.Arch, Source: it.Source})
			case 3:
				it.Name += "-new"
				it.Title = it.Name
				next = append(next, it)
				set = append(set, it)
			case 4:
				set = append(set, it) // unchanged: changes nothing
			default:
				gone = append(gone, Installed{Name: "absent-" + it.Name}) // not installed: changes nothing
			}
		}
		slices.SortFunc(next, compareInstalledKey)
		for _, l := range []*[]Installed{&set, &gone} {
			slices.SortFunc(*l, compareInstalledKey)
			*l = slices.CompactFunc(*l, func(a, b Installed) bool { return compareInstalledKey(a, b) == 0 })
		}
		if hasKeyIn(set, gone) {
			continue
		}
		got, err := patchSoftware(st, "patched", set, gone)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		want := writeSoftware(t, st, "whole", SoftwareRecord{Items: next})
		if got != want {
			t.Fatalf("round %d: patch changed=%v, whole list changed=%v", round, got, want)
		}
		applied++
		if got {
			changed++
		}
		a, araw := readSoftware(t, st, "patched")
		b, braw := readSoftware(t, st, "whole")
		if !reflect.DeepEqual(a, b) || !bytes.Equal(payloadOf(t, araw), payloadOf(t, braw)) {
			t.Fatalf("round %d: patched record differs from the whole list's", round)
		}
		if ha, hb := lastHistory(t, st, "patched"), lastHistory(t, st, "whole"); fmt.Sprint(ha) != fmt.Sprint(hb) {
			t.Fatalf("round %d: history %v\nwant %v", round, ha, hb)
		}
		prev.Items = next
	}
	if applied < 40 || changed < 20 || changed == applied {
		t.Errorf("only %d patches applied, %d changing the record: the test proves little", applied, changed)
	}
}

func hasKeyIn(a, b []Installed) bool {
	for _, x := range a {
		for _, y := range b {
			if compareInstalledKey(x, y) == 0 {
				return true
			}
		}
	}
	return false
}

// TestPatchSoftwareOddRecord patches a record not in key order (written by
// an older engine, say): through the decoded list, with the same result.
func TestPatchSoftwareOddRecord(t *testing.T) {
	st := teststore.Open(t)
	odd := []Installed{{Title: "zsh", Name: "zsh", Version: "5"}, {Title: "bash", Name: "bash", Version: "5.2"}}
	writeSoftware(t, st, "h", SoftwareRecord{Items: odd})
	changed, err := patchSoftware(st, "h", []Installed{{Title: "curl", Name: "curl", Version: "8"}}, []Installed{{Name: "zsh"}})
	if err != nil || !changed {
		t.Fatalf("patch: changed=%v err=%v", changed, err)
	}
	rec, _ := readSoftware(t, st, "h")
	if want := []Installed{{Title: "bash", Name: "bash", Version: "5.2"}, {Title: "curl", Name: "curl", Version: "8"}}; !reflect.DeepEqual(rec.Items, want) {
		t.Errorf("record = %v, want %v", rec.Items, want)
	}
}

// TestPatchSoftwareBadInput: a patch out of order is refused and writes
// nothing.
func TestPatchSoftwareBadInput(t *testing.T) {
	st := teststore.Open(t)
	writeSoftware(t, st, "h", fleetRecord(1, 20))
	_, before := readSoftware(t, st, "h")
	for _, set := range [][]Installed{
		{{Name: "b"}, {Name: "a"}},
		{{Name: "a"}, {Name: "a"}},
	} {
		if _, err := patchSoftware(st, "h", set, nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("patch %v: err = %v, want ErrInvalid", set, err)
		}
	}
	if _, after := readSoftware(t, st, "h"); !bytes.Equal(before, after) {
		t.Error("a refused patch changed the record")
	}
}

// TestCreateCI: a CI created with CreateCI reads back, indexes and history
// included, exactly as one written with PutCI.
func TestCreateCI(t *testing.T) {
	st := teststore.Open(t)
	ctx := context.Background()
	mk := func(id string) *CI {
		return &CI{ID: id, Class: ClassComputer, Name: "web-" + id, State: "use",
			Identifiers: map[string][]string{"serial": {"SN-" + id}, "mac": {"00:11:22:33:44:" + id}}}
	}
	_, err := st.Update(ctx, func(stx store.Txn) error {
		tx := NewTx(ctx, stx, "test", time.Now())
		if err := tx.CreateCI(mk("01")); err != nil {
			return err
		}
		_, err := tx.PutCI(nil, mk("02"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	g := NewGraph(st)
	shape := func(id string) string {
		ci, err := g.CI(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range []string{PrefixClass + ClassComputer + "/", PrefixName, PrefixIdent} {
			kvs, _ := st.Scan(ctx, store.Range{Prefix: []byte(p)})
			for _, kv := range kvs {
				if strings.HasSuffix(string(kv.Key), "/"+id) {
					out = append(out, strings.ReplaceAll(string(kv.Key), id, "ID"))
				}
			}
		}
		h, err := g.History(ctx, id, HistoryOptions{})
		if err != nil || len(h) != 1 || h[0].Kind != HistCreated {
			t.Fatalf("history of %s: %+v, %v", id, h, err)
		}
		return fmt.Sprint(strings.ReplaceAll(ci.Name, id, "ID"), ci.Class, out, len(h[0].Changes))
	}
	if a, b := shape("01"), shape("02"); a != b {
		t.Errorf("CreateCI wrote %s\nPutCI wrote %s", a, b)
	}
}

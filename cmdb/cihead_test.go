package cmdb

import (
	"bytes"
	"context"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"parc/cmdb/store"
	"parc/cmdb/store/teststore"
)

// TestCIHead: a head holds everything but the attributes and sightings,
// and can never be written, nor a copy of it.
func TestCIHead(t *testing.T) {
	st := teststore.Open(t)
	ctx := context.Background()
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	ci := &CI{ID: "h1", Class: ClassComputer, Subclass: "server", Name: "web-1", State: "use",
		Attrs: map[string]Attr{"owner": {Value: "alice", Source: SourceManual, Updated: now},
			"cpu_cores": {Value: int64(8), Source: SourceAgent, Updated: now},
			"ratio":     {Value: 1.5, Source: SourceAgent, Updated: now},
			"users":     {Value: []any{"bob", "eve"}, Source: SourceAgent, Updated: now}},
		Identifiers: map[string][]string{"mac": {"00:16:3e:00:00:01", "00:16:3e:00:00:02"}, "hostname": {"web-1"}},
		Seen:        map[string]Seen{SourceAgent: {First: now, Last: now}},
		Flags:       map[string]bool{"duplicate_identity": true}}
	update := func(fn func(tx *Tx) error) error {
		_, err := st.Update(ctx, func(stx store.Txn) error { return fn(NewTx(ctx, stx, "test", now)) })
		return err
	}
	if err := update(func(tx *Tx) error { _, err := tx.PutCI(nil, ci); return err }); err != nil {
		t.Fatal(err)
	}
	var full, head *CI
	if err := update(func(tx *Tx) error {
		var err error
		if full, err = tx.CI("h1"); err != nil {
			return err
		}
		head, err = tx.CIHead("h1")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !head.IsHead() || full.IsHead() {
		t.Fatalf("IsHead: head %v, full %v", head.IsHead(), full.IsHead())
	}
	want := *full
	want.Attrs, want.Seen, want.head = nil, nil, true
	if !reflect.DeepEqual(*head, want) {
		t.Errorf("head = %+v\nwant %+v", *head, want)
	}
	if len(full.Attrs) != 4 || len(full.Seen) != 1 {
		t.Fatalf("full CI lost its attributes: %+v", full)
	}
	copied := *head
	copied.Name = "renamed"
	for name, fn := range map[string]func(tx *Tx) error{
		"head as old":  func(tx *Tx) error { _, err := tx.PutCI(head, full); return err },
		"head as new":  func(tx *Tx) error { _, err := tx.PutCI(full, head); return err },
		"copy of head": func(tx *Tx) error { _, err := tx.PutCI(full, &copied); return err },
		"create head":  func(tx *Tx) error { return tx.CreateCI(&copied) },
		"encode head": func(*Tx) error {
			_, err := Encode(head)
			return err
		},
	} {
		if err := update(fn); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if err := update(func(tx *Tx) error {
		c, err := tx.CI("h1")
		if err == nil && (c.Name != "web-1" || len(c.Attrs) != 4) {
			t.Errorf("after refused writes: %+v", c)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// TestCBORSkip: Skip reads past exactly one item of any shape Encode
// writes, and refuses what is cut short.
func TestCBORSkip(t *testing.T) {
	items := []any{
		uint64(0), uint64(23), uint64(24), uint64(math.MaxUint64), int64(-1), int64(math.MinInt64),
		"", "text", []byte{1, 2, 3}, true, nil, 1.5, math.Inf(1), float32(0.1), math.Pi,
		time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
		[]any{uint64(1), "a", []any{map[string]any{"k": []string{"x", "y"}}}},
		map[string]any{"a": 1.25, "b": map[int]string{1: "one"}, "c": []byte("bytes")},
		Attr{Value: []any{"bob"}, Source: SourceAgent, Updated: time.Unix(1, 0).UTC()},
	}
	for _, it := range items {
		b, err := encMode.Marshal(it)
		if err != nil {
			t.Fatal(err)
		}
		trailer := []byte{0x01}
		r := &CBORReader{B: append(bytes.Clone(b), trailer...)}
		if err := r.Skip(); err != nil || r.I != len(b) {
			t.Errorf("%#v (% x): skipped to %d of %d: %v", it, b, r.I, len(b), err)
		}
		for cut := range len(b) {
			if r := (&CBORReader{B: b[:cut]}); r.Skip() == nil {
				t.Errorf("%#v cut to %d bytes: skipped", it, cut)
			}
		}
	}
	deep := bytes.Repeat([]byte{0x81}, 100) // arrays of arrays, 100 deep
	if err := (&CBORReader{B: append(deep, 0x01)}).Skip(); err == nil {
		t.Error("a 100-deep item was skipped")
	}
}

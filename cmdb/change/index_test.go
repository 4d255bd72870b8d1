package change_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"parc/cmdb"
	"parc/cmdb/change"
)

// TestAnalyzeWithGraphIndex checks that an analysis reads the same from the
// graph index as from the store, and that it does read the index.
func TestAnalyzeWithGraphIndex(t *testing.T) {
	w := newWorld(t, change.Config{})
	c1 := w.create("rita", change.Input{CIs: []string{"db-01"}, Window: window(2)})
	c2 := w.create("rita", change.Input{CIs: []string{"app", "web-01 disk sda"}, Window: window(3)})
	if _, err := w.svc.Submit(w.ctx, c1.Number, "rita", t0); err != nil {
		t.Fatal(err)
	}
	g := cmdb.NewGraph(w.st)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.RunIndex(ctx, cmdb.IndexOptions{MaxWait: 10 * time.Second}) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	for g.IndexStats().State != "ready" {
		time.Sleep(time.Millisecond)
	}
	indexed := change.New(g, change.Config{})
	for _, c := range []*change.Change{c1, c2, {Number: "CHG-X", CIs: []string{w.id("shop"), w.id("lonely"), w.id("db")}, Window: window(3)}} {
		before := g.IndexStats().Hits
		got, err := indexed.Analyze(w.ctx, c, t0)
		if err != nil {
			t.Fatal(err)
		}
		want, err := w.svc.Analyze(w.ctx, c, t0)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\nindex %+v\nstore %+v", c.Number, got, want)
		}
		if reads := g.IndexStats().Hits - before; reads != 4 {
			t.Errorf("%s: %d reads from the index, want 4 (two traversals, two head lists)", c.Number, reads)
		}
	}
}

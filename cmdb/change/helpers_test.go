package change_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"parc/cmdb"
	"parc/cmdb/audit"
	"parc/cmdb/change"
	"parc/cmdb/store"
	"parc/cmdb/store/teststore"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// world is a small graph:
//
//	shop (service, critical, owner alice) -depends_on-> app (service, owner bob)
//	app -runs_on-> web-01 (computer)
//	app -depends_on-> db (service, critical, owner carol) -runs_on-> db-01
//	web-01 -contains-> disk
type world struct {
	t   *testing.T
	st  store.Store
	g   *cmdb.Graph
	svc *change.Service
	ids map[string]string
	ctx context.Context
}

func newWorld(t *testing.T, cfg change.Config) *world {
	t.Helper()
	st := teststore.Open(t)
	w := &world{t: t, st: st, g: cmdb.NewGraph(st), ids: map[string]string{}, ctx: context.Background()}
	w.svc = change.New(w.g, cfg)
	type ci struct{ name, class, owner, crit string }
	cis := []ci{
		{"shop", cmdb.ClassService, "alice", "critical"},
		{"app", cmdb.ClassService, "bob", "low"},
		{"db", cmdb.ClassService, "carol", "high"},
		{"web-01", cmdb.ClassComputer, "", ""},
		{"db-01", cmdb.ClassComputer, "", ""},
		{"web-01 disk sda", cmdb.ClassDisk, "", ""},
		{"lonely", cmdb.ClassComputer, "", ""},
	}
	rels := [][3]string{
		{"shop", cmdb.RelDependsOn, "app"},
		{"app", cmdb.RelRunsOn, "web-01"},
		{"app", cmdb.RelDependsOn, "db"},
		{"db", cmdb.RelRunsOn, "db-01"},
		{"web-01", cmdb.RelContains, "web-01 disk sda"},
	}
	w.update("seed", func(tx *cmdb.Tx) error {
		for _, c := range cis {
			id := cmdb.DerivedID("test", c.name)
			w.ids[c.name] = id
			n := &cmdb.CI{ID: id, Class: c.class, Name: c.name, State: "use", Attrs: map[string]cmdb.Attr{}}
			if c.owner != "" {
				n.Attrs["owner"] = cmdb.Attr{Value: c.owner, Source: cmdb.SourceManual}
			}
			if c.crit != "" {
				n.Attrs["criticality"] = cmdb.Attr{Value: c.crit, Source: cmdb.SourceManual}
			}
			if _, err := tx.PutCI(nil, n); err != nil {
				return err
			}
		}
		for _, r := range rels {
			if err := tx.PutRel(cmdb.Relationship{From: w.ids[r[0]], Type: r[1], To: w.ids[r[2]], Source: cmdb.SourceManual}); err != nil {
				return err
			}
		}
		return nil
	})
	return w
}

func (w *world) update(actor string, fn func(tx *cmdb.Tx) error) {
	w.t.Helper()
	if _, err := w.st.Update(w.ctx, func(stx store.Txn) error { return fn(cmdb.NewTx(w.ctx, stx, actor, t0)) }); err != nil {
		w.t.Fatalf("update: %v", err)
	}
}

func (w *world) id(name string) string {
	w.t.Helper()
	id, ok := w.ids[name]
	if !ok {
		w.t.Fatalf("no CI %s", name)
	}
	return id
}

// window returns a window starting h hours after t0 and lasting 2 hours.
func window(h int) change.Window {
	s := t0.Add(time.Duration(h) * time.Hour)
	return change.Window{Start: s, End: s.Add(2 * time.Hour)}
}

func (w *world) create(actor string, in change.Input) *change.Change {
	w.t.Helper()
	if in.Title == "" {
		in.Title = "patch things"
	}
	if in.BackoutPlan == "" {
		in.BackoutPlan = "restore snapshot"
	}
	if in.ImplPlan == "" {
		in.ImplPlan = "apt upgrade"
	}
	c, err := w.svc.Create(w.ctx, actor, t0, in)
	if err != nil {
		w.t.Fatalf("create: %v", err)
	}
	return c
}

type checked[T any] struct {
	v   T
	err error
}

// ok wraps a (value, error) result; .must(t) fails the test on the error.
func ok[T any](v T, err error) checked[T] { return checked[T]{v, err} }

func (c checked[T]) must(t *testing.T) T {
	t.Helper()
	if c.err != nil {
		t.Fatalf("unexpected error: %v", c.err)
	}
	return c.v
}

func wantErr(t *testing.T, err, sentinel error) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %v, want %v", err, sentinel)
	}
}

// auditActions lists the actions audited on object.
func (w *world) auditActions(object string) []string {
	w.t.Helper()
	es, _, err := audit.List(w.ctx, w.st, audit.Filter{Object: object, Limit: 1000})
	if err != nil {
		w.t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Action)
	}
	return out
}

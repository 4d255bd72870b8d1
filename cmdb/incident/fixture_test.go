package incident

import (
	"context"
	"testing"
	"time"

	"parc/cmdb"
	"parc/cmdb/store"
	"parc/cmdb/store/teststore"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC) // a Monday

// graphFixture is a small graph:
//
//	svc-shop (service) -depends_on-> app-01 -runs_on-> srv-01
//	ws-01 (workstation), alone
type graphFixture struct {
	st                store.Store
	svc, app, srv, ws string
	ctx               context.Context
}

func id(name string) string { return cmdb.DerivedID("test", name) }

func putCI(t testing.TB, st store.Store, name, class, sub string, idents map[string][]string) string {
	t.Helper()
	ci := &cmdb.CI{ID: id(name), Class: class, Subclass: sub, Name: name, Identifiers: idents}
	_, err := st.Update(context.Background(), func(tx store.Txn) error {
		_, err := cmdb.NewTx(context.Background(), tx, "test", t0).PutCI(nil, ci)
		return err
	})
	if err != nil {
		t.Fatalf("put CI %s: %v", name, err)
	}
	return ci.ID
}

func putRel(t testing.TB, st store.Store, from, typ, to string) {
	t.Helper()
	_, err := st.Update(context.Background(), func(tx store.Txn) error {
		return cmdb.NewTx(context.Background(), tx, "test", t0).PutRel(cmdb.Relationship{From: from, To: to, Type: typ, Source: cmdb.SourceManual})
	})
	if err != nil {
		t.Fatalf("put rel: %v", err)
	}
}

func newFixture(t testing.TB) *graphFixture {
	st := teststore.Open(t)
	f := &graphFixture{st: st, ctx: context.Background()}
	f.srv = putCI(t, st, "srv-01", cmdb.ClassComputer, "server", map[string][]string{
		"hostname": {"srv-01"}, "fqdn": {"srv-01.corp.example"}, "ip": {"10.0.0.5"}, "serial": {"dell|ABC123X"}})
	f.app = putCI(t, st, "app-01", cmdb.ClassSoftware, "", nil)
	f.svc = putCI(t, st, "shop", cmdb.ClassService, "", nil)
	f.ws = putCI(t, st, "ws-01", cmdb.ClassComputer, "workstation", map[string][]string{
		"hostname": {"ws-01"}, "asset_tag": {"AT-7781"}})
	putRel(t, st, f.app, cmdb.RelRunsOn, f.srv)
	putRel(t, st, f.svc, cmdb.RelDependsOn, f.app)
	return f
}

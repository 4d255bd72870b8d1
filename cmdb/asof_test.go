package cmdb_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"parc/cmdb"
	"parc/cmdb/store"
	"parc/cmdb/store/teststore"
)

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// edit runs fn in one graph transaction acting as actor at instant at.
func edit(t *testing.T, st store.Store, actor string, at time.Time, fn func(tx *cmdb.Tx) error) {
	t.Helper()
	if _, err := st.Update(context.Background(), func(stx store.Txn) error {
		return fn(cmdb.NewTx(context.Background(), stx, actor, at))
	}); err != nil {
		t.Fatal(err)
	}
}

func put(t *testing.T, st store.Store, at time.Time, ci *cmdb.CI) {
	t.Helper()
	edit(t, st, "user:test", at, func(tx *cmdb.Tx) error {
		old, err := tx.CI(ci.ID)
		if errors.Is(err, cmdb.ErrNotFound) {
			old = nil
		} else if err != nil {
			return err
		}
		_, err = tx.PutCI(old, ci)
		return err
	})
}

func attrs(kv ...any) map[string]cmdb.Attr {
	m := map[string]cmdb.Attr{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = cmdb.Attr{Value: kv[i+1], Source: cmdb.SourceAgent}
	}
	return m
}

// history builds a host through four instants:
//
//	t0      created web-01 (os 12), contains disk-a
//	t0+1h   renamed web-01b, os 13, flagged stale
//	t0+2h   disk-a unlinked, disk-b linked, software changed
//	t0+3h   owner set by hand
func history(t *testing.T) (store.Store, *cmdb.Graph) {
	st := teststore.Open(t)
	host := "01HOST0000000000000000000A"
	put(t, st, t0, &cmdb.CI{ID: "01DISKA000000000000000000A", Class: cmdb.ClassDisk, Name: "disk-a"})
	put(t, st, t0, &cmdb.CI{ID: "01DISKB000000000000000000A", Class: cmdb.ClassDisk, Name: "disk-b"})
	put(t, st, t0, &cmdb.CI{ID: host, Class: cmdb.ClassComputer, Name: "web-01", State: "use",
		Attrs: attrs("os_version", "12", "cores", int64(4)), Identifiers: map[string][]string{"hostname": {"web-01"}}})
	edit(t, st, "agent:a", t0, func(tx *cmdb.Tx) error {
		if _, err := tx.PutSoftware(host, cmdb.SoftwareRecord{Items: []cmdb.Installed{{Title: "nginx", Name: "nginx", Version: "1.22"}}}); err != nil {
			return err
		}
		return tx.PutRel(cmdb.Relationship{From: host, To: "01DISKA000000000000000000A", Type: cmdb.RelContains, Source: cmdb.SourceAgent})
	})
	put(t, st, t0.Add(time.Hour), &cmdb.CI{ID: host, Class: cmdb.ClassComputer, Name: "web-01b", State: "use",
		Attrs: attrs("os_version", "13", "cores", int64(4)), Identifiers: map[string][]string{"hostname": {"web-01b"}},
		Flags: map[string]bool{"stale": true}})
	edit(t, st, "agent:a", t0.Add(2*time.Hour), func(tx *cmdb.Tx) error {
		if err := tx.DeleteRel(host, cmdb.RelContains, "01DISKA000000000000000000A"); err != nil {
			return err
		}
		if _, err := tx.PutSoftware(host, cmdb.SoftwareRecord{Items: []cmdb.Installed{{Title: "nginx", Name: "nginx", Version: "1.24"}, {Title: "curl", Name: "curl", Version: "8"}}}); err != nil {
			return err
		}
		return tx.PutRel(cmdb.Relationship{From: host, To: "01DISKB000000000000000000A", Type: cmdb.RelContains, Source: cmdb.SourceAgent})
	})
	edit(t, st, "user:alice", t0.Add(3*time.Hour), func(tx *cmdb.Tx) error {
		old, _ := tx.CI(host)
		next := *old
		next.Attrs = map[string]cmdb.Attr{}
		for k, v := range old.Attrs {
			next.Attrs[k] = v
		}
		next.Attrs["owner"] = cmdb.Attr{Value: "alice", Source: cmdb.SourceManual}
		_, err := tx.PutCI(old, &next)
		return err
	})
	return st, cmdb.NewGraph(st)
}

func TestAsOf(t *testing.T) {
	_, g := history(t)
	host := "01HOST0000000000000000000A"
	cases := []struct {
		name     string
		at       time.Time
		wantName string
		wantOS   string
		stale    bool
		owner    any
		disk     string
		software map[string]string
	}{
		{"at creation", t0, "web-01", "12", false, nil, "disk-a", map[string]string{"nginx": "1.22"}},
		{"between changes", t0.Add(90 * time.Minute), "web-01b", "13", true, nil, "disk-a", map[string]string{"nginx": "1.22"}},
		{"after the disk swap", t0.Add(150 * time.Minute), "web-01b", "13", true, nil, "disk-b", map[string]string{"nginx": "1.24", "curl": "8"}},
		{"now", t0.Add(24 * time.Hour), "web-01b", "13", true, "alice", "disk-b", map[string]string{"nginx": "1.24", "curl": "8"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := g.AsOf(context.Background(), host, tc.at)
			if err != nil {
				t.Fatal(err)
			}
			if s.CI.Name != tc.wantName || s.CI.AttrString("os_version") != tc.wantOS || s.CI.Flags["stale"] != tc.stale || s.CI.Attr("owner") != tc.owner {
				t.Errorf("CI = %s os %s flags %v owner %v", s.CI.Name, s.CI.AttrString("os_version"), s.CI.Flags, s.CI.Attr("owner"))
			}
			if got := s.CI.Identifiers["hostname"]; len(got) != 1 || got[0] != tc.wantName {
				t.Errorf("hostname identifier = %v", got)
			}
			if len(s.Edges) != 1 || s.Edges[0].OtherName != tc.disk {
				t.Errorf("edges = %+v, want contains %s", s.Edges, tc.disk)
			}
			got := map[string]string{}
			for _, it := range s.Software {
				got[it.Name] = it.Version
			}
			if len(got) != len(tc.software) || !s.SoftwareComplete {
				t.Errorf("software = %v (complete %v), want %v", got, s.SoftwareComplete, tc.software)
			}
			for k, v := range tc.software {
				if got[k] != v {
					t.Errorf("software %s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
	if _, err := g.AsOf(context.Background(), host, t0.Add(-time.Second)); !errors.Is(err, cmdb.ErrNotFound) {
		t.Errorf("before creation: err = %v, want ErrNotFound", err)
	}
}

func TestDiff(t *testing.T) {
	_, g := history(t)
	host := "01HOST0000000000000000000A"
	d, err := g.Diff(context.Background(), host, t0, t0.Add(150*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]cmdb.Change{}
	for _, c := range d.Changes {
		fields[c.Field] = c
	}
	if c := fields["name"]; c.Before != "web-01" || c.After != "web-01b" {
		t.Errorf("name change = %+v", c)
	}
	if c := fields["attrs.os_version"]; c.Before != "12" || c.After != "13" {
		t.Errorf("os change = %+v", c)
	}
	if _, ok := fields["attrs.cores"]; ok {
		t.Error("unchanged attribute listed")
	}
	if len(d.EdgesAdded) != 1 || d.EdgesAdded[0].OtherName != "disk-b" || len(d.EdgesRemoved) != 1 || d.EdgesRemoved[0].OtherName != "disk-a" {
		t.Errorf("edges +%+v -%+v", d.EdgesAdded, d.EdgesRemoved)
	}
	if len(d.Software) != 2 {
		t.Errorf("software changes = %+v", d.Software)
	}
	if len(d.Entries) == 0 || d.Entries[0].At.Before(t0.Add(time.Second)) {
		t.Errorf("entries = %+v", d.Entries)
	}
	if !d.ExistedFrom || !d.ExistedTo {
		t.Errorf("existed = %v/%v", d.ExistedFrom, d.ExistedTo)
	}
	if _, err := g.Diff(context.Background(), host, t0.Add(time.Hour), t0); !errors.Is(err, cmdb.ErrInvalid) {
		t.Errorf("reversed range: %v", err)
	}
	before, err := g.Diff(context.Background(), host, t0.Add(-time.Hour), t0)
	if err != nil || before.ExistedFrom || !before.ExistedTo {
		t.Errorf("diff across creation: %+v %v", before, err)
	}
}

func TestSearch(t *testing.T) {
	st := teststore.Open(t)
	g := cmdb.NewGraph(st)
	for i, c := range []struct{ name, class, os, ident string }{
		{"web-01", cmdb.ClassComputer, "debian", "web-01"},
		{"web-02", cmdb.ClassComputer, "ubuntu", "web-02"},
		{"db-01", cmdb.ClassComputer, "debian", "db-01"},
		{"postgres on db-01:5432", cmdb.ClassService, "", ""},
	} {
		ci := &cmdb.CI{ID: "01SEARCH00000000000000000" + string(rune('A'+i)), Class: c.class, Name: c.name, Attrs: attrs("os_name", c.os)}
		if c.os == "" {
			ci.Attrs = nil
		}
		if c.ident != "" {
			ci.Identifiers = map[string][]string{"hostname": {c.ident}}
		}
		if c.name == "web-02" {
			ci.Flags = map[string]bool{"stale": true}
		}
		put(t, st, t0, ci)
	}
	names := func(cis []*cmdb.CI) []string {
		var out []string
		for _, c := range cis {
			out = append(out, c.Name)
		}
		return out
	}
	cases := []struct {
		name string
		o    cmdb.SearchOptions
		want []string
	}{
		{"class", cmdb.SearchOptions{Class: cmdb.ClassService}, []string{"postgres on db-01:5432"}},
		{"attribute", cmdb.SearchOptions{Attrs: map[string]string{"os_name": "DEBIAN"}}, []string{"web-01", "db-01"}},
		{"identifier", cmdb.SearchOptions{IdentKind: "hostname", IdentValue: "WEB-02"}, []string{"web-02"}},
		{"free text", cmdb.SearchOptions{Text: "db-01"}, []string{"db-01", "postgres on db-01:5432"}},
		{"class and text", cmdb.SearchOptions{Class: cmdb.ClassComputer, Text: "web"}, []string{"web-01", "web-02"}},
		{"nothing", cmdb.SearchOptions{Text: "nowhere"}, nil},
		{"flag", cmdb.SearchOptions{Flags: []string{"stale"}}, []string{"web-02"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, next, err := g.Search(context.Background(), tc.o)
			if err != nil {
				t.Fatal(err)
			}
			if next != "" || len(got) != len(tc.want) {
				t.Fatalf("got %v next %q, want %v", names(got), next, tc.want)
			}
			for i := range got {
				if got[i].Name != tc.want[i] {
					t.Errorf("got %v, want %v", names(got), tc.want)
				}
			}
		})
	}
	t.Run("paging", func(t *testing.T) {
		var all []string
		o := cmdb.SearchOptions{Limit: 1, Class: cmdb.ClassComputer}
		for range 10 {
			page, next, err := g.Search(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, names(page)...)
			if next == "" {
				break
			}
			o.After = next
		}
		if len(all) != 3 {
			t.Errorf("paged through %v", all)
		}
	})
	t.Run("budget returns a cursor", func(t *testing.T) {
		page, next, err := g.Search(context.Background(), cmdb.SearchOptions{Text: "postgres", Budget: 2})
		if err != nil || len(page) != 0 || next == "" {
			t.Errorf("page %v next %q err %v", names(page), next, err)
		}
	})
	if _, _, err := g.Search(context.Background(), cmdb.SearchOptions{IdentKind: "mac"}); !errors.Is(err, cmdb.ErrInvalid) {
		t.Errorf("kind without value: %v", err)
	}
}

package lifecycle_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"parc/cmdb"
	"parc/cmdb/lifecycle"
	"parc/cmdb/lifecycle/csvio"
	"parc/cmdb/store"
	"parc/cmdb/store/teststore"
)

func seqIDs() func() string {
	n := 0
	return func() string { n++; return fmt.Sprintf("01IMPORT%018d", n) }
}

func TestImportAssetsRowErrors(t *testing.T) {
	st := teststore.Open(t)
	s := lifecycle.New(st, lifecycle.Config{NewID: seqIDs()})
	keys0 := countKeys(t, st)
	tests := []struct {
		name string
		csv  string
		want []string // "line:column"
	}{
		{"unknown column", "asset_tag,colour\nA,red\n", []string{"1:colour"}},
		{"bad values", "asset_tag,cost,purchase_date,state\nA,abc,2026-02-30,plan\nB,10,2026-01-01,lost\n",
			[]string{"2:cost", "2:purchase_date", "3:state"}},
		{"no key", "asset_tag,serial,name\n,,nameless\n", []string{"2:asset_tag"}},
		{"duplicate key", "asset_tag\nA\nB\nA\n", []string{"4:"}},
		{"ragged row", "asset_tag,name\nA,x,extra\n", []string{"2:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := s.ImportAssets(context.Background(), []byte(tt.csv), lifecycle.ImportOptions{}, "u", t0)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range res.Errors {
				got = append(got, fmt.Sprintf("%d:%s", e.Line, e.Column))
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("errors = %v (%+v), want %v", got, res.Errors, tt.want)
			}
		})
	}
	if n := countKeys(t, st); n != keys0 {
		t.Errorf("a failed import wrote (%d keys, had %d)", n, keys0)
	}
}

func bigCSV(n int) []byte {
	var b bytes.Buffer
	b.WriteString("asset_tag,serial,vendor,model,cost,purchase_date,owner,location,state\n")
	for i := range n {
		fmt.Fprintf(&b, "AT-%05d,SN%05d,Dell,Latitude,%d,2025-01-01,user%d,site%d,acquire\n", i, i, 1000+i, i%7, i%3)
	}
	return b.Bytes()
}

func TestImportAssetsBatchesResumeAndIdempotence(t *testing.T) {
	st := teststore.Open(t)
	ctx := context.Background()
	s := lifecycle.New(st, lifecycle.Config{NewID: seqIDs()})
	data := bigCSV(100) // 100 rows: far more writes than one transaction holds
	keys0 := countKeys(t, st)

	dry, err := s.ImportAssets(ctx, data, lifecycle.ImportOptions{DryRun: true}, "u", t0)
	if err != nil || len(dry.Errors) > 0 || dry.Create != 100 || dry.Done != 0 {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	if n := countKeys(t, st); n != keys0 {
		t.Fatalf("dry run wrote (%d keys, had %d)", n, keys0)
	}
	// A limited call writes part of the file; the same file resumes.
	var progress []int
	part, err := s.ImportAssets(ctx, data, lifecycle.ImportOptions{Limit: 30, Progress: func(d, _ int) { progress = append(progress, d) }}, "u", t0)
	if err != nil || part.Done != 30 || part.Complete {
		t.Fatalf("partial: %+v %v", part, err)
	}
	if len(progress) < 4 || progress[len(progress)-1] != 30 {
		t.Errorf("progress = %v", progress)
	}
	p, _ := csvio.LoadProgress(ctx, st, "assets", part.ID)
	if p == nil || p.Done != 30 {
		t.Fatalf("progress record: %+v", p)
	}
	rest, err := s.ImportAssets(ctx, data, lifecycle.ImportOptions{}, "u", t0)
	if err != nil || !rest.Complete || rest.Done != 100 || rest.Create != 70 || rest.Unchanged != 30 {
		t.Fatalf("resume: create %d unchanged %d done %d %v", rest.Create, rest.Unchanged, rest.Done, err)
	}
	if n := countClass(t, st, cmdb.ClassComputer); n != 100 {
		t.Errorf("%d computers, want 100", n)
	}
	// Importing again changes nothing.
	rev, _ := st.Rev(ctx)
	again, err := s.ImportAssets(ctx, data, lifecycle.ImportOptions{DryRun: true}, "u", t0)
	if err != nil || again.Unchanged != 100 {
		t.Fatalf("re-import plan: %+v %v", again, err)
	}
	// An edited export imports back as updates keyed by asset tag.
	var out bytes.Buffer
	if err := s.ExportAssets(ctx, &out, t0); err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(out.String(), "user1,site1", "user1,site9", 1)
	upd, err := s.ImportAssets(ctx, []byte(edited), lifecycle.ImportOptions{}, "u", t0)
	if err != nil || len(upd.Errors) > 0 || upd.Update != 1 || upd.Unchanged != 99 {
		t.Fatalf("edited export: %+v %v", upd, err)
	}
	if after, _ := st.Rev(ctx); after == rev {
		t.Error("the edit wrote nothing")
	}
}

func countClass(t *testing.T, st store.Store, class string) int {
	kvs, err := st.Scan(context.Background(), store.Range{Prefix: []byte(cmdb.PrefixClass + class + "/")})
	if err != nil {
		t.Fatal(err)
	}
	return len(kvs)
}

package licence_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"parc/cmdb/licence"
	"parc/cmdb/store/teststore"
)

func TestImportLicences(t *testing.T) {
	st := teststore.Open(t)
	ctx := context.Background()
	s := newService(t, st)
	n := 0
	newID := func() string { n++; return fmt.Sprintf("01LICIMPORT%015d", n) }

	keys0 := countKeys(t, st)
	bad := "name,product,metric,seats,expiry\nOffice,Microsoft Office,device,ten,\nAcro,Adobe Acrobat,socket,5,\nAcro,Adobe Acrobat,device,5,2026-99-01\n"
	res, err := s.Import(ctx, []byte(bad), false, 0, nil, "u", t0, newID)
	if err != nil {
		t.Fatal(err)
	}
	var lines []int
	for _, e := range res.Errors {
		lines = append(lines, e.Line)
	}
	if fmt.Sprint(lines) != "[2 3 4 4]" {
		t.Errorf("error lines = %v (%+v)", lines, res.Errors)
	}
	if n := countKeys(t, st); n != keys0 {
		t.Fatalf("failed import wrote (%d keys, had %d)", n, keys0)
	}

	var b strings.Builder
	b.WriteString("name,product,publisher,versions,metric,seats,expiry,cost\n")
	for i := range 25 { // more rows than one transaction holds
		fmt.Fprintf(&b, "Lic %02d,Product %c,Acme,>=1,device,%d,2027-01-01,%d\n", i, 'a'+i, 10+i, 100*i)
	}
	res, err = s.Import(ctx, []byte(b.String()), false, 0, nil, "u", t0, newID)
	if err != nil || !res.Complete || res.Create != 25 {
		t.Fatalf("import: %+v %v", res, err)
	}
	all, _ := licence.List(ctx, st)
	if len(all) != 25 || all[3].Title != "product d" || all[3].Publisher != "acme" {
		t.Fatalf("imported: %d, %+v", len(all), all[3])
	}
	var out bytes.Buffer
	if err := licence.Export(ctx, st, &out); err != nil {
		t.Fatal(err)
	}
	again, err := s.Import(ctx, out.Bytes(), true, 0, nil, "u", t0, newID)
	if err != nil || len(again.Errors) > 0 || again.Unchanged != 25 {
		t.Fatalf("re-import of the export: %+v %v", again, err)
	}
	edited := strings.Replace(out.String(), ",10,2027-01-01", ",11,2027-01-01", 1)
	upd, err := s.Import(ctx, []byte(edited), false, 0, nil, "u", t0, newID)
	if err != nil || upd.Update != 1 || upd.Unchanged != 24 {
		t.Fatalf("edited export: %+v %v", upd, err)
	}
}

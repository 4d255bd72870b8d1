package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"parc/cmdb"
	"parc/cmdb/licence"
	"parc/cmdb/lifecycle"
	"parc/cmdb/store"
	"parc/cmdb/store/teststore"
	"parc/collector/api"
	"parc/collector/cli"
)

func lifecycleAPI(t *testing.T) (string, store.Store) {
	t.Helper()
	st := teststore.Open(t)
	norm, err := licence.DefaultNormalizer("")
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC) }
	extra := append(api.LifecycleRoutes(lifecycle.New(st, lifecycle.Config{}), now), api.LicenceRoutes(licence.NewService(st, norm), st, now)...)
	srv := httptest.NewServer(api.New(api.Config{Graph: cmdb.NewGraph(st), Extra: extra}).Handler())
	t.Cleanup(srv.Close)
	return srv.URL, st
}

func TestLifecycleAndLicenceCommands(t *testing.T) {
	base, st := lifecycleAPI(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bad := write("bad.csv", "asset_tag,cost,warranty_end\nAT-1,10,2026-11-20\nAT-2,ten,2026-11-40\n")
	var big strings.Builder
	big.WriteString("asset_tag,vendor,serial,cost,purchase_date,warranty_end,owner,location\n")
	for i := range 30 {
		big.WriteString(strings.Join([]string{"AT-" + string(rune('A'+i/10)) + string(rune('0'+i%10)), "Dell", "SN" + string(rune('A'+i/10)) + string(rune('0'+i%10)),
			"1000", "2025-11-02", "2026-11-20", "ann", "Lyon"}, ",") + "\n")
	}
	good := write("good.csv", big.String())
	// A file larger than one request (1 MiB) is uploaded in parts.
	var huge strings.Builder
	huge.WriteString("asset_tag,location\n")
	for i := range 1800 {
		fmt.Fprintf(&huge, "H-%04d,%s\n", i, strings.Repeat("x", 600))
	}
	hugeFile := write("huge.csv", huge.String())
	lic := write("lic.csv", "name,product,metric,seats,expiry\nOffice,Microsoft Office Professional Plus 2021,device,1,2026-11-15\n")

	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := cli.Main(context.Background(), append([]string{"--api", base}, args...), &out, &errb, func(string) string { return "" })
		return code, out.String(), errb.String()
	}
	steps := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"create asset", []string{"asset", "create", "--tag", "PC-1", "--vendor", "HP", "--serial", "X1", "--cost", "900", "--purchase-date", "2025-11-02", "--warranty-end", "2026-11-05"}, 0, "state: plan"},
		{"create needs identity", []string{"asset", "create", "--name", "nobody"}, 1, "asset tag is required"},
		{"transition", []string{"lifecycle", "transition", "PC-1", "acquire"}, 0, "state: acquire"},
		{"forbidden transition", []string{"lifecycle", "transition", "PC-1", "maintain"}, 2, "lifecycle maintain"},
		{"skip to maintain refused", []string{"lifecycle", "maintain", "PC-1", "--kind", "preventive"}, 1, "not allowed"},
		{"show", []string{"lifecycle", "show", "PC-1"}, 0, "next: deploy, use, retire"},
		{"finance", []string{"asset", "finance", "PC-1"}, 0, "book value"},
		{"bad import lists lines", []string{"asset", "import", bad}, 1, "bad.csv:3: cost:"},
		{"dry run", []string{"asset", "import", good, "--dry-run"}, 0, "30 to create"},
		{"import with progress", []string{"asset", "import", good, "--batch", "7"}, 0, "imported 30/30 rows"},
		{"re-import", []string{"asset", "import", good, "--dry-run"}, 0, "30 unchanged"},
		{"huge file in parts", []string{"asset", "import", hugeFile, "--batch", "600"}, 0, "uploaded 2/2 parts"},
		{"export", []string{"asset", "export"}, 0, "AT-A0,SNA0,Dell"},
		{"contract", []string{"contract", "create", "--name", "Care", "--kind", "support", "--renewal", "2026-11-25", "--cost", "100", "--asset", "PC-1", "--asset", "AT-A0"}, 0, "Care"},
		{"licence import", []string{"licence", "import", lic}, 0, "1 rows imported: 1 created"},
		{"due", []string{"lifecycle", "due", "--days", "30"}, 0, "licence   Office"},
		{"due csv", []string{"lifecycle", "due", "--csv"}, 0, "kind,id,name,date,days_left,detail"},
		{"report", []string{"report", "assets"}, 0, "1831 assets, cost 30900.00"},
		{"report csv", []string{"report", "assets", "--csv"}, 0, "location,Lyon,30"},
		{"report warranties csv", []string{"report", "assets", "--csv", "--section", "warranties"}, 0, "id,name,warranty_end,days_left,model"},
		{"report bad section", []string{"report", "assets", "--csv", "--section", "x"}, 1, "section must be"},
		{"licence list", []string{"licence", "list"}, 0, "microsoft office"},
		{"compliance", []string{"licence", "compliance"}, 0, "1 licences: 1 compliant"},
		{"retire", []string{"lifecycle", "retire", "PC-1", "--reason", "lost"}, 0, "state: retire"},
		{"software title", []string{"software", "title", "Mozilla Firefox 120.0 (x64 en-US)"}, 0, "mozilla firefox"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			code, out, errOut := run(s.args...)
			if code != s.code || !strings.Contains(out+errOut, s.want) {
				t.Fatalf("exit %d, want %d with %q:\n%s\n%s", code, s.code, s.want, out, errOut)
			}
		})
	}
	if kvs, _ := st.Scan(context.Background(), store.Range{Prefix: []byte(lifecycle.PrefixUpload)}); len(kvs) != 0 {
		t.Errorf("%d upload parts left after the import", len(kvs))
	}
}

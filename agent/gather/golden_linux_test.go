package gather

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	parcv1 "parc/proto/parc/v1"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fakeStatfs gives every mount point the same size and usage.
func fakeStatfs(string) (uint64, uint64, error) { return 100 << 30, 25 << 30, nil }

// TestGoldenLinux gathers the fixture tree testdata/linux with a fake
// Source and Runner and compares the report with testdata/linux.golden.json.
func TestGoldenLinux(t *testing.T) {
	root := copyTree(t, "testdata/linux")
	env := &Env{Root: root, Source: fakeSource{}, Runner: fixtureRunner(t), Statfs: fakeStatfs}
	res := Run(context.Background(), env, Default())
	got := marshalResult(t, res)
	golden := filepath.Join("testdata", "linux.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("inventory differs from %s (rerun with -update after checking):\n%s", golden, got)
	}
}

// marshalResult renders a result as stable, indented JSON (protojson
// randomizes its whitespace on purpose).
func marshalResult(t *testing.T, res Result) []byte {
	t.Helper()
	b, err := protojson.Marshal(&parcv1.Report{Inventory: res.Inventory, Errors: res.Errors})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	var c bytes.Buffer
	if err := json.Compact(&c, b); err != nil {
		t.Fatal(err)
	}
	if err := json.Indent(&out, c.Bytes(), "", "  "); err != nil {
		t.Fatal(err)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// fixtureRunner answers the commands gatherers run from files in
// testdata/commands.
func fixtureRunner(t *testing.T) fakeRunner {
	t.Helper()
	return fakeRunner{}
}

package main

import (
	"bytes"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	parcv1 "parc/proto/parc/v1"
)

// TestInventoryPrintsAReport runs `parc-agent inventory` on this machine.
func TestInventoryPrintsAReport(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"inventory"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var r parcv1.Report
	if err := protojson.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if r.Kind != parcv1.Report_FULL || r.Inventory.GetSystem().GetHostname() == "" || len(r.SectionHashes) != 11 {
		t.Errorf("report = kind %v, system %v, %d hashes", r.Kind, r.Inventory.GetSystem(), len(r.SectionHashes))
	}
}

func TestBadFlagsExitTwo(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--jitter", "3", "--collector", "c:1", "--state-dir", t.TempDir()}, &out, &errb); code != 2 ||
		!strings.Contains(errb.String(), "jitter") {
		t.Errorf("exit %d: %s", code, errb.String())
	}
}

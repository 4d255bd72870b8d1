package lifecycle_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"parc/cmdb"
	"parc/cmdb/change"
	"parc/cmdb/incident"
	"parc/cmdb/licence"
	"parc/cmdb/lifecycle"
	"parc/cmdb/reconcile"
	"parc/cmdb/store"
	"parc/cmdb/store/teststore"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

const (
	idA = "01ASSET0000000000000000000"
	idB = "01ASSET000000000000000000B"
	idR = "01REPLACEMENT0000000000000"
	idC = "01CONTRACT0000000000000000"
)

func report(agent, host, vendor, serial string) *reconcile.Report {
	r := &reconcile.Report{AgentID: agent, BootID: "b1", Seq: 1, Kind: reconcile.Full, CollectedAt: t0,
		Sections: map[string]bool{reconcile.SecSystem: true, reconcile.SecFirmware: true, reconcile.SecCPU: true},
		Inventory: reconcile.Inventory{
			System:   reconcile.System{Hostname: host, OSName: "debian", MachineID: "mid-" + host},
			Firmware: reconcile.Firmware{Vendor: vendor, Product: "PowerEdge R650", Serial: serial},
			CPU:      reconcile.CPU{Model: "Xeon", Cores: 16},
		}}
	return r
}

// TestPlannedAssetMergesOnFirstReport creates an asset before discovery
// and applies the first matching agent report through the engine.
func TestPlannedAssetMergesOnFirstReport(t *testing.T) {
	st := teststore.Open(t)
	ctx := context.Background()
	s := lifecycle.New(st, lifecycle.Config{})
	ci, err := s.CreateAsset(ctx, lifecycle.AssetInput{State: "acquire", AssetTag: "AT-0042", Serial: "abc123", Vendor: "Dell",
		Model: "R650", Cost: 12000, PurchaseDate: "2026-01-15", Supplier: "Acme", OrderNumber: "PO-9", WarrantyEnd: "2029-01-15"}, "user:ann", t0, idA)
	if err != nil {
		t.Fatal(err)
	}
	if ci.State != "acquire" || ci.Identifiers["serial"][0] != "dell|ABC123" {
		t.Fatalf("created: %+v", ci)
	}
	if _, err := s.CreateAsset(ctx, lifecycle.AssetInput{AssetTag: "AT-0042"}, "user:ann", t0, idB); !errors.Is(err, cmdb.ErrConflict) {
		t.Errorf("duplicate asset tag: %v", err)
	}
	eng := reconcile.New(st, reconcile.Config{})
	res, err := eng.Apply(ctx, report("agent-1", "web-01", "Dell Inc.", "ABC123"), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if res.HostID != idA || res.Created || res.MatchedBy != reconcile.RuleSerial {
		t.Fatalf("report did not merge into the planned asset: %+v", res)
	}
	got, _ := s.Graph().CI(ctx, idA)
	if got.State != "use" {
		t.Errorf("state = %s, want use", got.State)
	}
	for attr, want := range map[string]any{"hostname": "web-01", "model": "PowerEdge R650", "cost": 12000.0, "supplier": "Acme", "order_number": "PO-9"} {
		if v := cmdb.Canon(got.Attr(attr)); v != want {
			t.Errorf("attr %s = %v (%T), want %v", attr, v, v, want)
		}
	}
	if got.Attrs["model"].Source != cmdb.SourceAgent || got.Attrs["cost"].Source != cmdb.SourceManual {
		t.Errorf("sources: model %s, cost %s", got.Attrs["model"].Source, got.Attrs["cost"].Source)
	}
	// A machine with no prior record starts in use.
	res, err = eng.Apply(ctx, report("agent-2", "web-02", "Dell Inc.", "XYZ999"), t0)
	if err != nil || !res.Created {
		t.Fatalf("new host: %+v %v", res, err)
	}
	if c, _ := s.Graph().CI(ctx, res.HostID); c.State != "use" {
		t.Errorf("discovered CI state = %s", c.State)
	}
}

func TestCreateAssetValidation(t *testing.T) {
	st := teststore.Open(t)
	s := lifecycle.New(st, lifecycle.Config{})
	keys0 := countKeys(t, st)
	tests := []struct {
		name string
		in   lifecycle.AssetInput
	}{
		{"no identity", lifecycle.AssetInput{Name: "x"}},
		{"serial without vendor", lifecycle.AssetInput{Serial: "S1"}},
		{"junk serial", lifecycle.AssetInput{Serial: "To be filled by O.E.M.", Vendor: "Dell"}},
		{"starts in use", lifecycle.AssetInput{AssetTag: "T", State: "use"}},
		{"bad date", lifecycle.AssetInput{AssetTag: "T", WarrantyEnd: "2026-13-01"}},
		{"bad class", lifecycle.AssetInput{AssetTag: "T", Class: "disk"}},
		{"negative cost", lifecycle.AssetInput{AssetTag: "T", Cost: -3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.CreateAsset(context.Background(), tt.in, "u", t0, idA); !errors.Is(err, cmdb.ErrInvalid) {
				t.Fatalf("want ErrInvalid, got %v", err)
			}
		})
	}
	if n := countKeys(t, st); n != keys0 {
		t.Errorf("invalid input wrote something (%d keys, had %d)", n, keys0)
	}
}

func newIncident(t *testing.T, st store.Store, ci string, cost float64) string {
	t.Helper()
	inc, err := incident.New(st).Create(context.Background(), "user:desk", t0, incident.NewIncident{
		ShortDescription: "disk errors", Category: "hardware", CIs: []string{ci}, SupportCost: cost})
	if err != nil {
		t.Fatal(err)
	}
	return inc.Number
}

func TestRetireBlockedByOpenIncident(t *testing.T) {
	st := teststore.Open(t)
	ctx := context.Background()
	s := lifecycle.New(st, lifecycle.Config{})
	if _, err := s.CreateAsset(ctx, lifecycle.AssetInput{AssetTag: "AT-1", State: "acquire"}, "u", t0, idA); err != nil {
		t.Fatal(err)
	}
	num := newIncident(t, st, idA, 0)
	_, err := s.Transition(ctx, idA, lifecycle.TransitionInput{To: "retire"}, "u", t0)
	if !errors.Is(err, cmdb.ErrForbidden) {
		t.Fatalf("retire with open incident %s: %v", num, err)
	}
	// Without blockers the same retirement goes through and keeps the CI.
	free := lifecycle.New(st, lifecycle.Config{Blockers: []lifecycle.Blocker{}})
	ci, err := free.Transition(ctx, "AT-1", lifecycle.TransitionInput{To: "retire", Reason: "broken"}, "u", t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if ci.State != "retire" || ci.AttrString("retire_reason") != "broken" {
		t.Errorf("retired CI: %+v", ci)
	}
	h, err := s.Graph().History(ctx, idA, cmdb.HistoryOptions{})
	if err != nil || len(h) < 2 {
		t.Fatalf("history kept: %d entries, %v", len(h), err)
	}
	if _, err := free.Transition(ctx, idA, lifecycle.TransitionInput{To: "use"}, "u", t0); !errors.Is(err, cmdb.ErrForbidden) {
		t.Errorf("retire is final: %v", err)
	}
}

func TestRenewAndMaintenance(t *testing.T) {
	st := teststore.Open(t)
	ctx := context.Background()
	s := lifecycle.New(st, lifecycle.Config{})
	if _, err := s.CreateAsset(ctx, lifecycle.AssetInput{AssetTag: "AT-1", Vendor: "HP", Model: "EliteBook", Owner: "ann", Location: "Lyon"}, "u", t0, idA); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{"acquire", "deploy", "use"} {
		if _, err := s.Transition(ctx, idA, lifecycle.TransitionInput{To: to}, "u", t0); err != nil {
			t.Fatalf("→ %s: %v", to, err)
		}
	}
	if _, err := s.Transition(ctx, idA, lifecycle.TransitionInput{To: "maintain"}, "u", t0); !errors.Is(err, cmdb.ErrInvalid) {
		t.Errorf("maintenance without kind: %v", err)
	}
	if _, err := s.Transition(ctx, idA, lifecycle.TransitionInput{To: "maintain", Maintenance: &lifecycle.MaintenanceInput{Kind: "reactive", Incident: "INC-404"}}, "u", t0); !errors.Is(err, cmdb.ErrInvalid) {
		t.Errorf("reactive maintenance with an unknown incident: %v", err)
	}
	num := newIncident(t, st, idA, 0)
	if _, err := s.Transition(ctx, idA, lifecycle.TransitionInput{To: "maintain", Maintenance: &lifecycle.MaintenanceInput{Kind: "reactive", Incident: num}}, "u", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Transition(ctx, idA, lifecycle.TransitionInput{To: "use"}, "u", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Transition(ctx, idA, lifecycle.TransitionInput{To: "maintain", Maintenance: &lifecycle.MaintenanceInput{Kind: "preventive", Scheduled: "2026-11-03", Description: "fan"}}, "u", t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	ms, err := s.MaintenanceOf(ctx, idA)
	if err != nil || len(ms) != 2 {
		t.Fatalf("maintenance records: %+v %v", ms, err)
	}
	if ms[0].Kind != "reactive" || ms[0].Incident != num || ms[0].Ended.IsZero() || ms[1].Kind != "preventive" || !ms[1].Ended.IsZero() {
		t.Errorf("maintenance records: %+v", ms)
	}
	free := lifecycle.New(st, lifecycle.Config{Blockers: []lifecycle.Blocker{}})
	old, repl, err := free.Renew(ctx, idA, lifecycle.RenewInput{Reason: "end of life", Replacement: lifecycle.AssetInput{Model: "EliteBook G11"}}, "u", t0, idR)
	if err != nil {
		t.Fatal(err)
	}
	if old.State != "retire" || repl.State != "plan" || repl.AttrString("owner") != "ann" || repl.AttrString("model") != "EliteBook G11" {
		t.Errorf("renew: old %s, replacement %+v", old.State, repl)
	}
	if ms, _ := s.MaintenanceOf(ctx, idA); ms[1].Ended.IsZero() {
		t.Error("retiring from maintain leaves the maintenance open")
	}
	edges, _ := s.Graph().Edges(ctx, idA)
	found := false
	for _, e := range edges {
		found = found || (e.Type == lifecycle.RelReplacedBy && e.Other == idR)
	}
	if !found {
		t.Errorf("no replaced_by edge: %+v", edges)
	}
}

func TestFinanceDueAndReport(t *testing.T) {
	st := teststore.Open(t)
	ctx := context.Background()
	s := lifecycle.New(st, lifecycle.Config{DepreciationYears: 5})
	if _, err := s.CreateAsset(ctx, lifecycle.AssetInput{AssetTag: "AT-1", Cost: 1000, PurchaseDate: "2024-11-02", DepreciationYears: 4,
		WarrantyEnd: "2026-11-20", Owner: "ann", Location: "Lyon"}, "u", t0, idA); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAsset(ctx, lifecycle.AssetInput{AssetTag: "AT-2", Cost: 500, PurchaseDate: "2025-11-02", WarrantyEnd: "2027-06-01"}, "u", t0, idB); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateContract(ctx, lifecycle.ContractInput{Name: "Support gold", Kind: "support", Renewal: "2026-11-30", Cost: 300, Assets: []string{"AT-1", "AT-2"}}, "u", t0, idC); err != nil {
		t.Fatal(err)
	}
	newIncident(t, st, idA, 45.5)
	f, err := s.Finance(ctx, "AT-1", t0)
	if err != nil {
		t.Fatal(err)
	}
	// Two years of four: half the cost is left.
	if f.BookValue < 499 || f.BookValue > 501 || f.ContractCost != 150 || f.SupportCost != 45.5 || f.TotalCost != 1195.5 {
		t.Errorf("finance: %+v", f)
	}
	if g, _ := s.Finance(ctx, "AT-2", t0); g.DepreciationYears != 5 || g.BookValue < 399 || g.BookValue > 401 {
		t.Errorf("default depreciation: %+v", g)
	}
	lic := licence.NewService(st, mustNormalizer(t))
	if _, err := lic.Create(ctx, licence.Input{Name: "Office", Product: "Microsoft Office", Seats: 10, Expiry: "2026-11-10"}, "u", t0, "01LIC00000000000000000000A"); err != nil {
		t.Fatal(err)
	}
	due, err := s.Due(ctx, t0, 30)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, d := range due {
		kinds = append(kinds, d.Kind+":"+d.Date)
	}
	want := []string{"licence:2026-11-10", "warranty:2026-11-20", "contract:2026-11-30"}
	if len(kinds) != 3 || kinds[0] != want[0] || kinds[1] != want[1] || kinds[2] != want[2] {
		t.Errorf("due = %v, want %v", kinds, want)
	}
	rep, err := s.Report(ctx, t0, 30)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Totals.Assets != 2 || rep.Totals.Cost != 1500 || len(rep.Warranties) != 1 || rep.ByState[0].Key != "plan" || rep.ByState[0].Assets != 2 {
		t.Errorf("report: %+v", rep)
	}
}

func mustNormalizer(t *testing.T) *licence.Normalizer {
	n, err := licence.DefaultNormalizer("")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRetireBlockedByOpenChange(t *testing.T) {
	st := teststore.Open(t)
	ctx := context.Background()
	s := lifecycle.New(st, lifecycle.Config{})
	if _, err := s.CreateAsset(ctx, lifecycle.AssetInput{AssetTag: "AT-9", State: "acquire"}, "u", t0, idA); err != nil {
		t.Fatal(err)
	}
	chg, err := change.New(cmdb.NewGraph(st), change.Config{}).Create(ctx, "user:cm", t0, change.Input{Type: change.Normal,
		Title: "replace disk", CIs: []string{idA}, Window: change.Window{Start: t0.Add(24 * time.Hour), End: t0.Add(26 * time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Transition(ctx, idA, lifecycle.TransitionInput{To: "retire"}, "u", t0)
	if !errors.Is(err, cmdb.ErrForbidden) || !strings.Contains(err.Error(), chg.Number) {
		t.Fatalf("retire with open change %s: %v", chg.Number, err)
	}
}

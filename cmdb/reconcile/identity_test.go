package reconcile_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"parc/cmdb"
	"parc/cmdb/reconcile"
	"parc/cmdb/store"
	"parc/cmdb/store/teststore"
)

// machine describes what one agent reports about its machine.
type machine struct {
	agent, boot, host   string
	vendor, serial      string
	uuid, mid           string
	macs                []string
	noDMI               bool
	seq                 uint64
	listen, connections []reconcile.Socket
	ip                  string
}

func (m machine) report() *reconcile.Report {
	boot := m.boot
	if boot == "" {
		boot = "boot-1"
	}
	seq := m.seq
	if seq == 0 {
		seq = 1
	}
	r := &reconcile.Report{
		AgentID: m.agent, BootID: boot, Seq: seq, Kind: reconcile.Full, CollectedAt: t0.Add(time.Duration(seq) * time.Minute),
		Sections: map[string]bool{reconcile.SecSystem: true, reconcile.SecNICs: true, reconcile.SecCPU: true},
		Inventory: reconcile.Inventory{
			System: reconcile.System{Hostname: m.host, OSName: "debian", MachineID: m.mid},
			CPU:    reconcile.CPU{Model: "Xeon", Cores: 4},
		},
	}
	if !m.noDMI {
		r.Sections[reconcile.SecFirmware] = true
		r.Inventory.Firmware = reconcile.Firmware{Vendor: m.vendor, Serial: m.serial, UUID: m.uuid}
	}
	ip := m.ip
	if ip == "" {
		ip = "10.1.0.9"
	}
	for i, mac := range m.macs {
		r.Inventory.NICs = append(r.Inventory.NICs, reconcile.NIC{Name: fmt.Sprintf("eth%d", i), MAC: mac, Addresses: []string{ip + "/24"}})
	}
	if m.listen != nil || m.connections != nil {
		r.Sections[reconcile.SecSockets] = true
		r.Inventory.Listening, r.Inventory.Connections = m.listen, m.connections
	}
	return r
}

// handEntered creates a computer CI the way an asset manager would, before
// any discovery.
func handEntered(t *testing.T, st store.Store, id, name, vendor, serial string) {
	t.Helper()
	_, err := st.Update(context.Background(), func(stx store.Txn) error {
		tx := cmdb.NewTx(context.Background(), stx, "user:alice", t0.Add(-24*time.Hour))
		ci := &cmdb.CI{ID: id, Class: cmdb.ClassComputer, Name: name, State: "acquire",
			Identifiers: map[string][]string{reconcile.IDSerial: {reconcile.SerialIdentifier(vendor, serial)}},
			Attrs:       map[string]cmdb.Attr{}}
		for k, v := range map[string]any{"owner": "alice", "location": "Lyon HQ", "cost": 1299.0, "serial": serial} {
			reconcile.SetAttr(reconcile.DefaultPrecedence(), ci, k, v, cmdb.SourceManual, tx.Now())
		}
		_, err := tx.PutCI(nil, ci)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func computers(t *testing.T, g *cmdb.Graph) []*cmdb.CI {
	t.Helper()
	cis, _, err := g.List(context.Background(), cmdb.ListOptions{Class: cmdb.ClassComputer, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return cis
}

func TestIdentification(t *testing.T) {
	dell := machine{agent: "a1", host: "pc-01", vendor: "Dell Inc.", serial: "7XK2Q93", uuid: "4c4c4544-0058-4b10-8032-b7c04f513933",
		mid: "0af1c2d3e4f5a6b7c8d9e0f1a2b3c4d5", macs: []string{"00:1a:2b:3c:4d:01"}}
	type step struct {
		m  machine
		at time.Duration
	}
	cases := []struct {
		name  string
		steps []step
		pre   func(t *testing.T, st store.Store)
		// hosts is how many computer CIs must exist at the end.
		hosts int
		check func(t *testing.T, g *cmdb.Graph, res []reconcile.Result)
	}{
		{
			name: "reimaged machine keeps its CI",
			steps: []step{{m: dell}, {m: func() machine {
				m := dell
				m.agent, m.mid, m.uuid = "a2", "ffee00112233445566778899aabbccdd", "" // new install, new agent
				return m
			}(), at: time.Hour}},
			hosts: 1,
			check: func(t *testing.T, g *cmdb.Graph, res []reconcile.Result) {
				if res[1].HostID != res[0].HostID || res[1].MatchedBy != reconcile.RuleSerial {
					t.Errorf("reimage: %+v after %+v", res[1], res[0])
				}
				ci, _ := g.CI(context.Background(), res[0].HostID)
				if got := ci.Identifiers[reconcile.IDMachineID]; !slices.Equal(got, []string{"ffee00112233445566778899aabbccdd"}) {
					t.Errorf("machine id = %v, want the new one", got)
				}
			},
		},
		{
			name:  "renamed host keeps its CI and the rename is in history",
			steps: []step{{m: dell}, {m: func() machine { m := dell; m.host, m.seq = "pc-01-renamed", 2; return m }(), at: time.Hour}},
			hosts: 1,
			check: func(t *testing.T, g *cmdb.Graph, res []reconcile.Result) {
				h, err := g.History(context.Background(), res[0].HostID, cmdb.HistoryOptions{})
				if err != nil {
					t.Fatal(err)
				}
				found := false
				for _, e := range h {
					for _, c := range e.Changes {
						if c.Field == "name" && c.Before == "pc-01" && c.After == "pc-01-renamed" && e.Actor == "agent:a1" {
							found = true
						}
					}
				}
				if !found {
					t.Errorf("no rename in history: %+v", h)
				}
			},
		},
		{
			name: "renamed host re-enrolled with a new agent keeps its CI",
			steps: []step{{m: machine{agent: "a1", host: "vm-7", mid: "11111111222233334444555566667777", macs: []string{"00:50:56:aa:00:01"}, noDMI: true}},
				{m: machine{agent: "a9", host: "vm-7b", mid: "11111111222233334444555566667777", macs: []string{"00:50:56:aa:00:01"}, noDMI: true}, at: time.Hour}},
			hosts: 1,
		},
		{
			name:  "replaced NIC keeps the CI",
			steps: []step{{m: dell}, {m: func() machine { m := dell; m.macs, m.seq = []string{"00:1a:2b:3c:4d:99"}, 2; return m }(), at: time.Hour}},
			hosts: 1,
			check: func(t *testing.T, g *cmdb.Graph, res []reconcile.Result) {
				ci, _ := g.CI(context.Background(), res[0].HostID)
				if got := ci.Identifiers[reconcile.IDMAC]; !slices.Equal(got, []string{"00:1a:2b:3c:4d:99"}) {
					t.Errorf("macs = %v", got)
				}
			},
		},
		{
			name: "replaced NIC with a new agent and no serial keeps the CI by machine id",
			steps: []step{{m: machine{agent: "a1", host: "srv", mid: "22222222222233334444555566667777", macs: []string{"00:1b:00:00:00:01"}, noDMI: true}},
				{m: machine{agent: "a2", host: "srv", mid: "22222222222233334444555566667777", macs: []string{"00:1b:00:00:00:02"}, noDMI: true}, at: time.Hour}},
			hosts: 1,
			check: func(t *testing.T, g *cmdb.Graph, res []reconcile.Result) {
				if res[1].MatchedBy != reconcile.RuleMachineID {
					t.Errorf("matched by %q", res[1].MatchedBy)
				}
			},
		},
		{
			name: "two live clones sharing a machine id stay two CIs, both flagged",
			steps: []step{{m: machine{agent: "a1", host: "clone-a", mid: "33333333222233334444555566667777", macs: []string{"00:1c:00:00:00:01"}, noDMI: true}},
				{m: machine{agent: "a2", host: "clone-b", mid: "33333333222233334444555566667777", macs: []string{"00:1c:00:00:00:02"}, noDMI: true}, at: time.Minute}},
			hosts: 2,
			check: func(t *testing.T, g *cmdb.Graph, res []reconcile.Result) {
				if res[0].HostID == res[1].HostID || !res[1].Duplicate {
					t.Fatalf("clones: %+v / %+v", res[0], res[1])
				}
				for _, id := range []string{res[0].HostID, res[1].HostID} {
					ci, _ := g.CI(context.Background(), id)
					if !ci.Flags[reconcile.FlagDuplicateIdentity] {
						t.Errorf("%s not flagged duplicate_identity: %v", ci.Name, ci.Flags)
					}
				}
			},
		},
		{
			name: "two live clones sharing an SMBIOS UUID stay two CIs",
			steps: []step{{m: machine{agent: "a1", host: "c1", vendor: "VMware, Inc.", uuid: "564d1111-2222-3333-4444-555566667777", mid: "aaaa0000000000000000000000000001", macs: []string{"00:50:56:00:00:01"}}},
				{m: machine{agent: "a2", host: "c2", vendor: "VMware, Inc.", uuid: "564d1111-2222-3333-4444-555566667777", mid: "aaaa0000000000000000000000000002", macs: []string{"00:50:56:00:00:02"}}, at: time.Minute}},
			hosts: 2,
			check: func(t *testing.T, g *cmdb.Graph, res []reconcile.Result) {
				if !res[1].Duplicate {
					t.Errorf("second clone not flagged: %+v", res[1])
				}
			},
		},
		{
			name: "a clone of a machine whose agent is long gone takes its CI over",
			steps: []step{{m: machine{agent: "a1", host: "old", mid: "44444444222233334444555566667777", macs: []string{"00:1d:00:00:00:01"}, noDMI: true}},
				{m: machine{agent: "a2", host: "new", mid: "44444444222233334444555566667777", macs: []string{"00:1d:00:00:00:02"}, noDMI: true}, at: 30 * 24 * time.Hour}},
			hosts: 1,
		},
		{
			name:  "VM without DMI data is identified by its machine id",
			steps: []step{{m: machine{agent: "a1", host: "vm-1", mid: "55555555222233334444555566667777", noDMI: true}}, {m: machine{agent: "a2", host: "vm-1", mid: "55555555222233334444555566667777", noDMI: true}, at: time.Hour}},
			hosts: 1,
			check: func(t *testing.T, g *cmdb.Graph, res []reconcile.Result) {
				if res[1].HostID != res[0].HostID || res[1].MatchedBy != reconcile.RuleMachineID {
					t.Errorf("second agent: %+v", res[1])
				}
			},
		},
		{
			name: "hand-entered asset is matched and enriched, not duplicated",
			pre: func(t *testing.T, st store.Store) {
				handEntered(t, st, "01HANDENTERED0000000000000", "Laptop for Alice", "DELL", "7xk2q93")
			},
			steps: []step{{m: dell}},
			hosts: 1,
			check: func(t *testing.T, g *cmdb.Graph, res []reconcile.Result) {
				if res[0].HostID != "01HANDENTERED0000000000000" || res[0].Created || res[0].MatchedBy != reconcile.RuleSerial {
					t.Fatalf("result = %+v", res[0])
				}
				ci, _ := g.CI(context.Background(), res[0].HostID)
				if ci.State != "use" || ci.Name != "pc-01" || ci.AttrString("os_name") != "debian" {
					t.Errorf("not enriched: state %s name %s attrs %v", ci.State, ci.Name, ci.Attrs)
				}
				if a := ci.Attrs["owner"]; a.Value != "alice" || a.Source != cmdb.SourceManual {
					t.Errorf("owner = %+v", a)
				}
				if a := ci.Attrs["location"]; a.Value != "Lyon HQ" || a.Source != cmdb.SourceManual {
					t.Errorf("location = %+v", a)
				}
			},
		},
		{
			name:  "junk serials never identify",
			steps: []step{{m: machine{agent: "a1", host: "j1", vendor: "System manufacturer", serial: "To be filled by O.E.M.", uuid: "03000200-0400-0500-0006-000700080009", mid: "66666666222233334444555566667771"}}, {m: machine{agent: "a2", host: "j2", vendor: "System manufacturer", serial: "To be filled by O.E.M.", uuid: "03000200-0400-0500-0006-000700080009", mid: "66666666222233334444555566667772"}, at: time.Minute}},
			hosts: 2,
			check: func(t *testing.T, g *cmdb.Graph, res []reconcile.Result) {
				if res[1].Duplicate {
					t.Error("junk UUID counted as a shared identity")
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := teststore.Open(t)
			e := reconcile.New(st, reconcile.Config{})
			g := cmdb.NewGraph(st)
			if tc.pre != nil {
				tc.pre(t, st)
			}
			var res []reconcile.Result
			for _, s := range tc.steps {
				res = append(res, apply(t, e, s.m.report(), t0.Add(s.at)))
			}
			if got := computers(t, g); len(got) != tc.hosts {
				names := []string{}
				for _, c := range got {
					names = append(names, c.Name)
				}
				t.Errorf("%d computer CIs %v, want %d", len(got), names, tc.hosts)
			}
			if tc.check != nil {
				tc.check(t, g, res)
			}
		})
	}
}

func TestDiscoveryNeverOverwritesBusinessFacts(t *testing.T) {
	p := reconcile.DefaultPrecedence()
	cases := []struct {
		attr, have, source string
		wantOverwrite      bool
	}{
		{"owner", cmdb.SourceManual, cmdb.SourceAgent, false},
		{"owner", cmdb.SourceManual, cmdb.SourcePlugin, false},
		{"owner", cmdb.SourceManual, cmdb.SourceImport, false},
		{"location", cmdb.SourceManual, cmdb.SourceAgent, false},
		{"cost", cmdb.SourceManual, cmdb.SourceAgent, false},
		{"cost", cmdb.SourceImport, cmdb.SourceManual, true},
		{"owner", cmdb.SourceAgent, cmdb.SourceManual, true},
		{"os_name", cmdb.SourceManual, cmdb.SourceAgent, true},
		{"os_name", cmdb.SourceAgent, cmdb.SourceManual, false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s set by %s, written by %s", tc.attr, tc.have, tc.source), func(t *testing.T) {
			ci := &cmdb.CI{}
			reconcile.SetAttr(p, ci, tc.attr, "before", tc.have, t0)
			reconcile.SetAttr(p, ci, tc.attr, "after", tc.source, t0.Add(time.Hour))
			a := ci.Attrs[tc.attr]
			if got := a.Value == "after"; got != tc.wantOverwrite {
				t.Errorf("overwritten = %v, want %v (attr %+v)", got, tc.wantOverwrite, a)
			}
			if tc.wantOverwrite && (a.Source != tc.source || !a.Updated.Equal(t0.Add(time.Hour))) {
				t.Errorf("source/updated not recorded: %+v", a)
			}
		})
	}
}

func TestReplayingASequenceChangesNothing(t *testing.T) {
	st := teststore.Open(t)
	e := reconcile.New(st, reconcile.Config{})
	m := machine{agent: "a1", host: "pc", mid: "77777777222233334444555566667777", macs: []string{"00:1e:00:00:00:01"}}
	var seq []*reconcile.Report
	for i := 1; i <= 4; i++ {
		m.seq = uint64(i)
		m.host = fmt.Sprintf("pc-%d", i)
		seq = append(seq, m.report())
	}
	for i, r := range seq {
		apply(t, e, r, t0.Add(time.Duration(i)*time.Minute))
	}
	rev, _ := st.Rev(context.Background())
	for i, r := range seq {
		res := apply(t, e, r, t0.Add(time.Hour+time.Duration(i)*time.Minute))
		if !res.Replayed {
			t.Errorf("report %d not recognised as a replay", r.Seq)
		}
	}
	if now, _ := st.Rev(context.Background()); now != rev {
		t.Errorf("replaying the sequence moved the store from rev %d to %d", rev, now)
	}
}

package agentsvc

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"parc/cmdb/reconcile"
	"parc/cmdb/store"
	"parc/cmdb/store/teststore"
	parcv1 "parc/proto/parc/v1"
)

func seedReports() []*parcv1.Report {
	full := &parcv1.Report{
		AgentId: "fuzz-agent", BootId: "b1", Sequence: 1, Kind: parcv1.Report_FULL, CollectedAt: 1700000000000,
		AgentVersion: "0.1.0",
		Inventory: &parcv1.Inventory{
			System:      &parcv1.System{Hostname: "web-01", OsName: "Debian", MachineId: "m1", Users: []string{"root"}},
			Firmware:    &parcv1.Firmware{SystemVendor: "Dell", Serial: "ABC123", Uuid: "4c4c4544-0000-1000-8000-000000000000"},
			Cpu:         &parcv1.CPU{Model: "Xeon", Cores: 8},
			Memory:      &parcv1.Memory{TotalBytes: 1 << 34},
			Disks:       &parcv1.Disks{Items: []*parcv1.Disk{{Name: "sda", Serial: "D1", SizeBytes: 1 << 40}}},
			Filesystems: &parcv1.Filesystems{Items: []*parcv1.Filesystem{{Device: "/dev/sda1", MountPoint: "/", SizeBytes: 100, UsedBytes: 99}}},
			Nics:        &parcv1.NICs{Items: []*parcv1.NIC{{Name: "eth0", Mac: "00:11:22:33:44:55", Addresses: []string{"10.0.0.5/24"}}}},
			Software:    &parcv1.SoftwareList{Items: []*parcv1.Software{{Name: "openssl", Version: "3.0", Source: "dpkg"}, {Name: "<script>", Version: "'; DROP"}}},
			Services:    &parcv1.Services{Items: []*parcv1.Service{{Name: "nginx", State: "active"}}},
			Sockets:     &parcv1.Sockets{Listening: []*parcv1.Socket{{Protocol: "tcp", LocalPort: 443, Process: "nginx"}}},
		},
		Events: []*parcv1.HealthEvent{{Kind: parcv1.HealthEvent_FILESYSTEM_FULL, Subject: "/", Value: 99}},
		Errors: []*parcv1.GatherError{{Gatherer: "gpu", Message: "none"}},
	}
	delta := &parcv1.Report{AgentId: "fuzz-agent", BootId: "b1", Sequence: 2, Kind: parcv1.Report_DELTA,
		Inventory: &parcv1.Inventory{Software: &parcv1.SoftwareList{}}}
	hb := &parcv1.Report{AgentId: "fuzz-agent", BootId: "b1", Sequence: 3, Kind: parcv1.Report_HEARTBEAT}
	bad := &parcv1.Report{AgentId: "a/b", Sequence: 0}
	return []*parcv1.Report{full, delta, hb, bad}
}

// FuzzDecodeApply feeds arbitrary bytes through the agent service's path:
// protobuf decode, conversion to the domain and the reconcile engine on a
// real store. It must never panic, and a report the engine refuses must
// write nothing.
func FuzzDecodeApply(f *testing.F) {
	for _, r := range seedReports() {
		b, err := proto.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	st := teststore.Open(f)
	engine := reconcile.New(st, reconcile.Config{})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		var m parcv1.Report
		if err := proto.Unmarshal(data, &m); err != nil {
			return
		}
		ctx := context.Background()
		before, err := st.Rev(ctx)
		if err != nil {
			t.Fatal(err)
		}
		r, err := fromProto(&m)
		if err != nil {
			t.Fatalf("fromProto of a decoded report: %v", err)
		}
		_, err = engine.Apply(ctx, r, now)
		if err == nil {
			return
		}
		if after, _ := st.Rev(ctx); after != before {
			t.Fatalf("a refused report (%v) moved the store revision %d → %d", err, before, after)
		}
		if errors.Is(err, store.ErrClosed) {
			t.Fatal(err)
		}
		_ = statusOf(err) // every engine error maps to a gRPC status
	})
}

package agentsvc

import (
	"bytes"
	"reflect"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"parc/agent/sim"
	"parc/cmdb/reconcile"
	parcv1 "parc/proto/parc/v1"
)

// viaCodec decodes b as the agent port does.
func viaCodec(b []byte) (*reconcile.Report, error) {
	var m parcv1.Report
	// Two buffers, as gRPC may hand a message over.
	half := len(b) / 2
	data := mem.BufferSlice{mem.SliceBuffer(append([]byte(nil), b[:half]...)), mem.SliceBuffer(append([]byte(nil), b[half:]...))}
	if err := (Codec{}).Unmarshal(data, &m); err != nil {
		return nil, err
	}
	return fromProto(&m)
}

// viaProto decodes b with plain protobuf.
func viaProto(b []byte) (*reconcile.Report, error) {
	var m parcv1.Report
	if err := proto.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return fromProto(&m)
}

// checkSame fails unless the codec and plain protobuf agree on b: the same
// report, or both refusing it.
func checkSame(t *testing.T, b []byte) {
	t.Helper()
	want, werr := viaProto(b)
	got, gerr := viaCodec(b)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("protobuf: %v, codec: %v", werr, gerr)
	}
	if werr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("codec decoded\n%+v\nprotobuf\n%+v", got.Inventory.Software, want.Inventory.Software)
	}
}

func TestCodecSetsSoftwareAside(t *testing.T) {
	f := sim.NewFleet(20, 300, "codec")
	for _, h := range f.Hosts {
		for _, r := range []*parcv1.Report{h.Full(), h.Delta(), h.Delta(), h.Heartbeat()} {
			b, err := proto.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			checkSame(t, b)
		}
	}
	full, _ := proto.Marshal(f.Hosts[0].Full())
	var m parcv1.Report
	if err := (Codec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(full)}, &m); err != nil {
		t.Fatal(err)
	}
	if m.GetInventory().GetSoftware() != nil || len(m.GetInventory().ProtoReflect().GetUnknown()) == 0 {
		t.Fatal("the software list was not set aside")
	}
}

func TestCodecOddShapes(t *testing.T) {
	sw := func(items ...*parcv1.Software) []byte {
		b, _ := proto.Marshal(&parcv1.Report{AgentId: "a", BootId: "b", Sequence: 1, Kind: parcv1.Report_DELTA,
			Inventory: &parcv1.Inventory{Software: &parcv1.SoftwareList{Items: items}}})
		return b
	}
	pkg := &parcv1.Software{Name: "bash", Version: "5.2", Arch: "amd64", Publisher: "Debian", Source: "dpkg", InstallDate: 1700000000}
	plain := sw(pkg, pkg, &parcv1.Software{Name: "zsh"})
	cases := map[string][]byte{
		"plain":       plain,
		"empty list":  sw(),
		"empty item":  sw(&parcv1.Software{}),
		"bad utf-8":   sw(&parcv1.Software{Name: "ba\xffsh"}),
		"two reports": append(append([]byte(nil), plain...), plain...), // two inventories: merged by protobuf
		// A newer agent's field in a package, and a repeated scalar
		// (the last wins).
		"unknown field": func() []byte {
			item := protowire.AppendTag(nil, 1, protowire.BytesType)
			item = protowire.AppendString(item, "first")
			item = protowire.AppendTag(item, 1, protowire.BytesType)
			item = protowire.AppendString(item, "last")
			item = protowire.AppendTag(item, 42, protowire.VarintType)
			item = protowire.AppendVarint(item, 7)
			item = protowire.AppendTag(item, 2, protowire.VarintType) // wrong wire type: unknown
			item = protowire.AppendVarint(item, 1)
			list := protowire.AppendTag(nil, 1, protowire.BytesType)
			list = protowire.AppendBytes(list, item)
			inv := protowire.AppendTag(nil, 9, protowire.BytesType)
			inv = protowire.AppendBytes(inv, list)
			r := protowire.AppendTag(nil, 2, protowire.BytesType)
			r = protowire.AppendString(r, "b")
			r = protowire.AppendTag(r, 8, protowire.BytesType)
			return protowire.AppendBytes(r, inv)
		}(),
		// An agent's own field 15 is unknown to protobuf and ignored,
		// garbage or a software list alike.
		"agent's field 15": []byte("\n\nfuzz-agent\x12\x02b1\x18\x01 \x01B\x11z\x0f000000000000000"),
		"agent's list in field 15": func() []byte {
			b := sw(pkg)
			b[bytes.IndexByte(b, 0x4a)] = 0x7a // field 9 → 15, as an agent could send it
			return b
		}(),
		"truncated item": func() []byte {
			list := protowire.AppendTag(nil, 1, protowire.BytesType)
			list = protowire.AppendBytes(list, []byte{0x0a, 0x05, 'a'})
			inv := protowire.AppendTag(nil, 9, protowire.BytesType)
			inv = protowire.AppendBytes(inv, list)
			r := protowire.AppendTag(nil, 8, protowire.BytesType)
			return protowire.AppendBytes(r, inv)
		}(),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) { checkSame(t, b) })
	}
}

// FuzzCodec: on any bytes, the agent port's codec and plain protobuf agree.
func FuzzCodec(f *testing.F) {
	for _, r := range seedReports() {
		b, _ := proto.Marshal(r)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkSame(t, b) })
}

// What the codec decodes does not share its recycled buffer: a report
// decoded earlier is intact after others reuse it.
func TestCodecDoesNotAlias(t *testing.T) {
	f := sim.NewFleet(3, 200, "alias")
	var ms [3]parcv1.Report
	var want [3]*reconcile.Report
	var first *reconcile.Report // converted at once: its packages view ms[0]
	for i, h := range f.Hosts {
		b, _ := proto.Marshal(h.Full())
		var err error
		if want[i], err = viaProto(b); err != nil {
			t.Fatal(err)
		}
		if err := (Codec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, &ms[i]); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if first, err = fromProto(&ms[0]); err != nil {
				t.Fatal(err)
			}
		}
		clear(b) // the caller's buffer, recycled by gRPC
	}
	if !reflect.DeepEqual(first, want[0]) {
		t.Fatal("packages decoded in place changed after later decodes")
	}
	for i := range ms {
		got, err := fromProto(&ms[i])
		if err != nil || !reflect.DeepEqual(got, want[i]) {
			t.Fatalf("report %d changed after later decodes (%v)", i, err)
		}
	}
}

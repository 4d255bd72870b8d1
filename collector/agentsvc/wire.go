package agentsvc

import (
	"errors"
	"fmt"
	"sync"
	"unicode/utf8"

	"google.golang.org/grpc/encoding"
	protoenc "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"parc/cmdb/reconcile"
	parcv1 "parc/proto/parc/v1"
)

// The software list is most of a full report: 800 packages are about 57 KB
// and 800 messages, which protobuf's generic decoder builds one by one only
// for fromProto to copy them into reconcile.Package values. The agent
// port's codec sets the list aside instead: in its private copy of a
// report it renumbers the inventory's software field to softwareAside
// (reserved in agent.proto for this), so that protobuf keeps the list as
// unknown bytes, and fromProto decodes those straight into packages. Any
// report of an unusual shape is left to protobuf whole.
const (
	fieldInventory = 8  // Report.inventory
	fieldSoftware  = 9  // Inventory.software
	softwareAside  = 15 // Inventory: reserved, the software list set aside
	fieldItems     = 1  // SoftwareList.items
)

// Codec is the agent port's gRPC codec: protobuf, with the software list
// of reports set aside (see above).
type Codec struct{}

var protoCodec = encoding.GetCodecV2(protoenc.Name)

// Name is the content subtype: the codec is protobuf on the wire.
func (Codec) Name() string { return protoenc.Name }

// Marshal encodes v with protobuf.
func (Codec) Marshal(v any) (mem.BufferSlice, error) { return protoCodec.Marshal(v) }

var wireBufs = sync.Pool{New: func() any { return new([]byte) }}

// Unmarshal decodes data into v, setting a report's software list aside.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*parcv1.Report)
	if !ok {
		return protoCodec.Unmarshal(data, v)
	}
	buf := wireBufs.Get().(*[]byte)
	b := (*buf)[:0]
	for _, x := range data {
		b = append(b, x.ReadOnlyData()...)
	}
	setSoftwareAside(b)
	err := proto.Unmarshal(b, m) // copies what it keeps
	if *buf = b; cap(b) <= 1<<20 {
		wireBufs.Put(buf)
	}
	if err != nil {
		return fmt.Errorf("decode report: %w", err)
	}
	return nil
}

// setSoftwareAside renumbers the software field of b's inventory in place
// when b has exactly one inventory holding exactly one software list.
func setSoftwareAside(b []byte) {
	inv, ok := onlyField(b, fieldInventory)
	if !ok || inv == nil {
		return
	}
	pos := -1
	for i := 0; i < len(inv); {
		num, typ, n := protowire.ConsumeTag(inv[i:])
		if n < 0 || num == softwareAside {
			return
		}
		if num == fieldSoftware && typ == protowire.BytesType {
			if pos >= 0 || n != 1 {
				return
			}
			pos = i
		}
		m := protowire.ConsumeFieldValue(num, typ, inv[i+n:])
		if m < 0 {
			return
		}
		i += n + m
	}
	if pos >= 0 {
		inv[pos] = byte(protowire.EncodeTag(softwareAside, protowire.BytesType))
	}
}

// onlyField returns the bytes of field num of message b (length-delimited),
// nil when absent; ok is false when b is malformed or has the field twice.
func onlyField(b []byte, num protowire.Number) (field []byte, ok bool) {
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return nil, false
		}
		b = b[l:]
		if n == num && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 || field != nil {
				return nil, false
			}
			field, b = v, b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(n, typ, b)
		if m < 0 {
			return nil, false
		}
		b = b[m:]
	}
	return field, true
}

var errBadSoftware = errors.New("bad software list")

// asideSoftware returns the software list the codec set aside in an
// inventory's unknown fields (ok false when there is none).
func asideSoftware(inv *parcv1.Inventory) (pkgs []reconcile.Package, ok bool, err error) {
	raw := inv.ProtoReflect().GetUnknown()
	if len(raw) == 0 {
		return nil, false, nil
	}
	list, _ := onlyField(raw, softwareAside)
	if list == nil {
		return nil, false, nil
	}
	pkgs = make([]reconcile.Package, 0, len(list)/64)
	for len(list) > 0 {
		num, typ, n := protowire.ConsumeTag(list)
		if n < 0 {
			return nil, false, errBadSoftware
		}
		list = list[n:]
		if num == fieldItems && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(list)
			if m < 0 {
				return nil, false, errBadSoftware
			}
			list = list[m:]
			var prev *reconcile.Package
			if len(pkgs) > 0 {
				prev = &pkgs[len(pkgs)-1]
			}
			p, err := decodePackage(v, prev)
			if err != nil {
				return nil, false, err
			}
			pkgs = append(pkgs, p)
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, list)
		if m < 0 {
			return nil, false, errBadSoftware
		}
		list = list[m:]
	}
	return pkgs, true, nil
}

// decodePackage decodes one Software message as protobuf would (the last
// of a repeated scalar wins; fields of an unexpected wire type are
// unknown), sharing the architecture, publisher and source strings with
// the previous package when they are equal.
func decodePackage(b []byte, prev *reconcile.Package) (reconcile.Package, error) {
	var p reconcile.Package
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return p, errBadSoftware
		}
		b = b[n:]
		switch {
		case num >= 1 && num <= 5 && typ == protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return p, errBadSoftware
			}
			b = b[m:]
			if !utf8.Valid(v) {
				return p, fmt.Errorf("%w: a package's field %d is not UTF-8", errBadSoftware, num)
			}
			switch num {
			case 1:
				p.Name = string(v)
			case 2:
				p.Version = string(v)
			case 3:
				p.Arch = reuse(v, prev, func(q *reconcile.Package) string { return q.Arch })
			case 4:
				p.Publisher = reuse(v, prev, func(q *reconcile.Package) string { return q.Publisher })
			case 5:
				p.Source = reuse(v, prev, func(q *reconcile.Package) string { return q.Source })
			}
		case num == 6 && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return p, errBadSoftware
			}
			b = b[m:]
			p.InstallDate = int64(v)
		default:
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return p, errBadSoftware
			}
			b = b[m:]
		}
	}
	return p, nil
}

// reuse returns prev's string when it spells v, else a new one.
func reuse(v []byte, prev *reconcile.Package, field func(*reconcile.Package) string) string {
	if prev != nil {
		if s := field(prev); s == string(v) {
			return s
		}
	}
	return string(v)
}

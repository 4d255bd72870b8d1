package agentsvc

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"
	"unicode/utf8"
	"unsafe"

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
// port's codec sets the list aside instead: in its own copy of a report it
// moves the inventory's software field to field softwareAside (reserved in
// agent.proto for this), behind a nonce of this process, so that protobuf
// keeps the list as unknown bytes, and fromProto decodes those straight
// into packages. A field softwareAside sent by an agent lacks the nonce and
// is ignored, as protobuf ignores any unknown field. A report of an
// unusual shape is left to protobuf whole.
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

// asideNonce marks the lists this process set aside.
var asideNonce = func() (n [8]byte) {
	if _, err := rand.Read(n[:]); err != nil {
		panic(err)
	}
	return n
}()

var wireBufs = sync.Pool{New: func() any { return new([]byte) }}

// Unmarshal decodes data into v, setting a report's software list aside.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*parcv1.Report)
	if !ok {
		return protoCodec.Unmarshal(data, v)
	}
	in, out := wireBufs.Get().(*[]byte), wireBufs.Get().(*[]byte)
	b := (*in)[:0]
	for _, x := range data {
		b = append(b, x.ReadOnlyData()...)
	}
	src := b
	if moved, ok := setSoftwareAside((*out)[:0], b); ok {
		*out, src = moved, moved
	}
	err := proto.Unmarshal(src, m) // copies what it keeps
	*in = b
	for _, p := range [...]*[]byte{in, out} { // distinct arrays: a shared one would be overwritten while read
		if cap(*p) <= 1<<20 {
			wireBufs.Put(p)
		}
	}
	if err != nil {
		return fmt.Errorf("decode report: %w", err)
	}
	return nil
}

// setSoftwareAside appends to dst report b with its inventory's software
// list moved to field softwareAside behind the nonce. ok is false (and
// dst unchanged) unless b has exactly one inventory holding exactly one
// software list and no field softwareAside.
func setSoftwareAside(dst, b []byte) ([]byte, bool) {
	it, iv, ie := findOnly(b, fieldInventory)
	if it < 0 {
		return dst, false
	}
	inv := b[iv:ie]
	st, sv, se := findOnly(inv, fieldSoftware)
	if at, _, _ := findOnly(inv, softwareAside); st < 0 || at != -1 {
		return dst, false
	}
	list := inv[sv:se]
	aside := len(asideNonce) + len(list)
	invLen := len(inv) - (se - st) + protowire.SizeTag(softwareAside) + protowire.SizeBytes(aside)
	dst = append(dst, b[:it]...)
	dst = protowire.AppendTag(dst, fieldInventory, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(invLen))
	dst = append(dst, inv[:st]...)
	dst = append(dst, inv[se:]...)
	dst = protowire.AppendTag(dst, softwareAside, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(aside))
	dst = append(dst, asideNonce[:]...)
	dst = append(dst, list...)
	return append(dst, b[ie:]...), true
}

// findOnly locates the one length-delimited field num of message b: where
// its tag starts and its value's bounds. tag is -1 when the field is
// absent, -2 when b is malformed or has the field twice.
func findOnly(b []byte, num protowire.Number) (tag, start, end int) {
	tag = -1
	for i := 0; i < len(b); {
		n, typ, l := protowire.ConsumeTag(b[i:])
		if l < 0 {
			return -2, 0, 0
		}
		m := protowire.ConsumeFieldValue(n, typ, b[i+l:])
		if m < 0 {
			return -2, 0, 0
		}
		if n == num && typ == protowire.BytesType {
			if tag != -1 {
				return -2, 0, 0
			}
			_, vl := protowire.ConsumeVarint(b[i+l:])
			tag, start, end = i, i+l+vl, i+l+m
		}
		i += l + m
	}
	return tag, start, end
}

var errBadSoftware = errors.New("bad software list")

// asideSoftware returns the software list the codec set aside in an
// inventory's unknown fields (ok false when there is none). The packages'
// strings view those bytes, which the message owns and nothing writes
// again (protobuf copied them out of the codec's buffer): 800 packages
// cost no string allocation, and the list stays alive while a package
// does. Whatever keeps a package string past the report must copy it (the
// title normalizer's cache does).
func asideSoftware(inv *parcv1.Inventory) (pkgs []reconcile.Package, ok bool, err error) {
	raw := inv.ProtoReflect().GetUnknown()
	if len(raw) == 0 {
		return nil, false, nil
	}
	var list []byte
	if tag, start, end := findOnly(raw, softwareAside); tag >= 0 {
		list = raw[start:end]
	}
	if len(list) < len(asideNonce) || !bytes.Equal(list[:len(asideNonce)], asideNonce[:]) {
		return nil, false, nil // none, or an agent's field: unknown, ignored
	}
	list = list[len(asideNonce):]
	pkgs = slices.Grow((*packageBufs.Get().(*[]reconcile.Package))[:0], countItems(list))
	if pkgs == nil {
		pkgs = []reconcile.Package{} // an empty list, not none
	}
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
			p, err := decodePackage(v)
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

// packageBufs recycles the package lists of reports: one is as long as a
// host's software, and its strings make the garbage collector scan it.
var packageBufs = sync.Pool{New: func() any { return new([]reconcile.Package) }}

// releasePackages recycles r's package list once nothing uses r.
func releasePackages(r *reconcile.Report) {
	l := r.Inventory.Software
	r.Inventory.Software = nil
	if cap(l) == 0 || cap(l) > 1<<14 {
		return
	}
	clear(l[:cap(l)])
	l = l[:0]
	packageBufs.Put(&l)
}

// countItems counts the packages of a software list (a guess when it is
// malformed, which decoding it then reports).
func countItems(list []byte) int {
	n := 0
	for len(list) > 0 {
		num, typ, l := protowire.ConsumeTag(list)
		if l < 0 {
			break
		}
		m := protowire.ConsumeFieldValue(num, typ, list[l:])
		if m < 0 {
			break
		}
		if num == fieldItems && typ == protowire.BytesType {
			n++
		}
		list = list[l+m:]
	}
	return n
}

// decodePackage decodes one Software message as protobuf would (the last
// of a repeated scalar wins; fields of an unexpected wire type are
// unknown), its strings viewing b.
func decodePackage(b []byte) (reconcile.Package, error) {
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
			str := unsafe.String(unsafe.SliceData(v), len(v))
			switch num {
			case 1:
				p.Name = str
			case 2:
				p.Version = str
			case 3:
				p.Arch = str
			case 4:
				p.Publisher = str
			case 5:
				p.Source = str
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

package cmdb

import (
	"encoding/binary"
	"errors"
	"unicode/utf8"
)

// Software records are the largest values and the most often decoded (by
// ingest, the title index, licence compliance and drift detection): a
// reflection-driven CBOR decoder spends most of its time per field. This
// decoder reads the exact shape Encode writes for a SoftwareRecord and
// gives up (the caller then uses the general decoder) on anything else.

var errSWShape = errors.New("not the software record shape")

// CBORReader reads the definite-length subset of CBOR that Encode writes,
// for decoders that walk a value without building it (software records
// here, licensed installs in the licence module). Its errors only say
// "not the expected shape": callers fall back to Decode.
type CBORReader struct {
	B []byte
	I int
}

// Head reads one data item head: its major type and argument.
func (r *CBORReader) Head() (major byte, arg uint64, err error) {
	if r.I >= len(r.B) {
		return 0, 0, errSWShape
	}
	ib := r.B[r.I]
	r.I++
	major, info := ib>>5, ib&0x1f
	switch {
	case info < 24:
		return major, uint64(info), nil
	case info == 24 && r.I+1 <= len(r.B):
		arg = uint64(r.B[r.I])
		r.I++
	case info == 25 && r.I+2 <= len(r.B):
		arg = uint64(binary.BigEndian.Uint16(r.B[r.I:]))
		r.I += 2
	case info == 26 && r.I+4 <= len(r.B):
		arg = uint64(binary.BigEndian.Uint32(r.B[r.I:]))
		r.I += 4
	case info == 27 && r.I+8 <= len(r.B):
		arg = binary.BigEndian.Uint64(r.B[r.I:])
		r.I += 8
	default:
		return 0, 0, errSWShape
	}
	return major, arg, nil
}

// Text reads a text string (valid UTF-8), as a slice of the input.
func (r *CBORReader) Text() ([]byte, error) {
	s, err := r.TextUnchecked()
	if err == nil && !utf8.Valid(s) {
		return nil, errSWShape // the general decoder says why
	}
	return s, err
}

// TextUnchecked reads a text string without checking its UTF-8, for
// callers that only compare it with valid strings.
func (r *CBORReader) TextUnchecked() ([]byte, error) {
	major, n, err := r.Head()
	if err != nil || major != 3 || n > uint64(len(r.B)-r.I) {
		return nil, errSWShape
	}
	s := r.B[r.I : r.I+int(n)]
	r.I += int(n)
	return s, nil
}

// Skip reads past one data item of the definite-length subset, nested
// items included (at most 64 deep).
func (r *CBORReader) Skip() error { return r.skip(64) }

func (r *CBORReader) skip(depth int) error {
	if depth == 0 {
		return errSWShape
	}
	major, n, err := r.Head()
	if err != nil {
		return err
	}
	switch major {
	case 0, 1, 7: // integers, simple values and floats: the head is all
		return nil
	case 2, 3:
		if n > uint64(len(r.B)-r.I) {
			return errSWShape
		}
		r.I += int(n)
		return nil
	case 4, 5:
		if n > uint64(len(r.B)-r.I) { // every item is a byte at least
			return errSWShape
		}
		if major == 5 {
			n *= 2
		}
		for range n {
			if err := r.skip(depth - 1); err != nil {
				return err
			}
		}
		return nil
	default: // 6, a tag: its item follows
		return r.skip(depth - 1)
	}
}

// End checks that the whole input was read.
func (r *CBORReader) End() error {
	if r.I != len(r.B) {
		return errSWShape
	}
	return nil
}

// decodeSoftware decodes the CBOR payload of a SoftwareRecord. Strings
// repeated from the previous package (architecture, publisher, source) and
// a title equal to the name share one allocation.
func decodeSoftware(p []byte, rec *SoftwareRecord) error {
	r := &CBORReader{B: p}
	major, n, err := r.Head()
	if err != nil || major != 5 || n > 1 {
		return errSWShape
	}
	rec.Items = nil
	if n == 0 {
		return r.End()
	}
	major, key, err := r.Head()
	if err != nil || major != 0 || key != 1 {
		return errSWShape
	}
	if r.I < len(r.B) && r.B[r.I] == 0xf6 { // null: no items
		r.I++
		return r.End()
	}
	major, items, err := r.Head()
	if err != nil || major != 4 || items > uint64(len(r.B)) {
		return errSWShape
	}
	out := make([]Installed, items)
	var prev Installed
	for k := range out {
		major, fields, err := r.Head()
		if err != nil || major != 5 {
			return errSWShape
		}
		it := &out[k]
		last := uint64(0)
		for range fields {
			major, key, err := r.Head()
			if err != nil || major != 0 || key <= last || key > 7 {
				return errSWShape
			}
			last = key
			if key == 7 {
				major, v, err := r.Head()
				switch {
				case err != nil || v > 1<<62:
					return errSWShape
				case major == 0:
					it.Installed = int64(v)
				case major == 1:
					it.Installed = -1 - int64(v)
				default:
					return errSWShape
				}
				continue
			}
			s, err := r.Text()
			if err != nil {
				return err
			}
			switch key {
			case 1:
				it.Title = string(s)
			case 2:
				if string(s) == it.Title {
					it.Name = it.Title
				} else {
					it.Name = string(s)
				}
			case 3:
				it.Version = string(s)
			case 4:
				it.Arch = reuse(s, prev.Arch)
			case 5:
				it.Publisher = reuse(s, prev.Publisher)
			case 6:
				it.Source = reuse(s, prev.Source)
			}
		}
		prev = *it
	}
	rec.Items = out
	return r.End()
}

// reuse returns old when s spells it, avoiding an allocation.
func reuse(s []byte, old string) string {
	if string(s) == old {
		return old
	}
	return string(s)
}

// swPkg is one package of a software record as the title index reads it:
// slices of the record's payload (or of copies, when the general decoder
// read it).
type swPkg struct {
	raw                                           []byte // the package's encoding; nil when decoded generally
	title, name, version, arch, publisher, source []byte
}

// scanSoftware reads the packages of the CBOR payload of a SoftwareRecord
// into out's storage, in the record's order, as slices of p: the shape
// decodeSoftware reads, without building strings or checking UTF-8. It
// gives up on anything else, and returns out's storage either way.
func scanSoftware(p []byte, out []swPkg) ([]swPkg, error) {
	out = out[:0]
	r := &CBORReader{B: p}
	items, err := softwareHead(r)
	if err != nil {
		return out, err
	}
	for range items {
		out = append(out, swPkg{})
		if err := scanPackage(r, &out[len(out)-1]); err != nil {
			return out, err
		}
	}
	return out, r.End()
}

// softwareHead reads what precedes the packages of a software record
// (its map and items key) and returns the number of packages.
func softwareHead(r *CBORReader) (uint64, error) {
	major, n, err := r.Head()
	if err != nil || major != 5 || n > 1 {
		return 0, errSWShape
	}
	if n == 0 {
		return 0, nil
	}
	major, key, err := r.Head()
	if err != nil || major != 0 || key != 1 {
		return 0, errSWShape
	}
	if r.I < len(r.B) && r.B[r.I] == 0xf6 { // null: no items
		r.I++
		return 0, nil
	}
	major, items, err := r.Head()
	if err != nil || major != 4 || items > uint64(len(r.B)) {
		return 0, errSWShape
	}
	return items, nil
}

// scanPackage reads one package of a software record into pkg.
func scanPackage(r *CBORReader, pkg *swPkg) error {
	p, start := r.B, r.I
	major, fields, err := r.Head()
	if err != nil || major != 5 {
		return errSWShape
	}
	*pkg = swPkg{}
	last := byte(0)
	for range fields {
		// Keys are one byte; so is the head of a string shorter than 24
		// bytes, and two that of one shorter than 256.
		if r.I >= len(p) {
			return errSWShape
		}
		key := p[r.I] // a key of 1 to 7, or no key of this shape
		if key <= last || key > 7 {
			return errSWShape
		}
		r.I++
		last = key
		if key == 7 {
			if major, v, err := r.Head(); err != nil || v > 1<<62 || major > 1 {
				return errSWShape
			}
			continue
		}
		var s []byte
		if r.I+1 < len(p) && (p[r.I]-0x60 < 24 || p[r.I] == 0x78) {
			n := int(p[r.I] - 0x60)
			if r.I++; n == 24 {
				n = int(p[r.I])
				r.I++
			}
			if n > len(p)-r.I {
				return errSWShape
			}
			s = p[r.I : r.I+n]
			r.I += n
		} else if s, err = r.TextUnchecked(); err != nil {
			return err
		}
		switch key {
		case 1:
			pkg.title = s
		case 2:
			pkg.name = s
		case 3:
			pkg.version = s
		case 4:
			pkg.arch = s
		case 5:
			pkg.publisher = s
		case 6:
			pkg.source = s
		}
	}
	pkg.raw = p[start:r.I]
	return nil
}

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

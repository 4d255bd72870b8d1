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

type swReader struct {
	b []byte
	i int
}

func (r *swReader) head() (major byte, arg uint64, err error) {
	if r.i >= len(r.b) {
		return 0, 0, errSWShape
	}
	ib := r.b[r.i]
	r.i++
	major, info := ib>>5, ib&0x1f
	switch {
	case info < 24:
		return major, uint64(info), nil
	case info == 24 && r.i+1 <= len(r.b):
		arg = uint64(r.b[r.i])
		r.i++
	case info == 25 && r.i+2 <= len(r.b):
		arg = uint64(binary.BigEndian.Uint16(r.b[r.i:]))
		r.i += 2
	case info == 26 && r.i+4 <= len(r.b):
		arg = uint64(binary.BigEndian.Uint32(r.b[r.i:]))
		r.i += 4
	case info == 27 && r.i+8 <= len(r.b):
		arg = binary.BigEndian.Uint64(r.b[r.i:])
		r.i += 8
	default:
		return 0, 0, errSWShape
	}
	return major, arg, nil
}

func (r *swReader) text() ([]byte, error) {
	major, n, err := r.head()
	if err != nil || major != 3 || n > uint64(len(r.b)-r.i) {
		return nil, errSWShape
	}
	s := r.b[r.i : r.i+int(n)]
	r.i += int(n)
	if !utf8.Valid(s) {
		return nil, errSWShape // the general decoder says why
	}
	return s, nil
}

// decodeSoftware decodes the CBOR payload of a SoftwareRecord. Strings
// repeated from the previous package (architecture, publisher, source) and
// a title equal to the name share one allocation.
func decodeSoftware(p []byte, rec *SoftwareRecord) error {
	r := &swReader{b: p}
	major, n, err := r.head()
	if err != nil || major != 5 || n > 1 {
		return errSWShape
	}
	rec.Items = nil
	if n == 0 {
		return r.end()
	}
	major, key, err := r.head()
	if err != nil || major != 0 || key != 1 {
		return errSWShape
	}
	if r.i < len(r.b) && r.b[r.i] == 0xf6 { // null: no items
		r.i++
		return r.end()
	}
	major, items, err := r.head()
	if err != nil || major != 4 || items > uint64(len(r.b)) {
		return errSWShape
	}
	out := make([]Installed, items)
	var prev Installed
	for k := range out {
		major, fields, err := r.head()
		if err != nil || major != 5 {
			return errSWShape
		}
		it := &out[k]
		last := uint64(0)
		for range fields {
			major, key, err := r.head()
			if err != nil || major != 0 || key <= last || key > 7 {
				return errSWShape
			}
			last = key
			if key == 7 {
				major, v, err := r.head()
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
			s, err := r.text()
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
	return r.end()
}

func (r *swReader) end() error {
	if r.i != len(r.b) {
		return errSWShape
	}
	return nil
}

// reuse returns old when s spells it, avoiding an allocation.
func reuse(s []byte, old string) string {
	if string(s) == old {
		return old
	}
	return string(s)
}

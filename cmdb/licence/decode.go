package licence

import (
	"encoding/binary"
	"errors"

	"parc/cmdb"
)

// errSlowPath makes scanInstalls give up on input it does not expect; the
// caller then decodes the record the ordinary way.
var errSlowPath = errors.New("unexpected encoding")

// licensedInstalls returns the installs of licensed titles in an encoded
// cmdb.SoftwareRecord. A full inventory holds hundreds of packages of
// which few are licensed, so it walks the CBOR without building the
// others: no allocation per unlicensed package. Input it does not
// recognise is decoded by cmdb.Decode instead.
func (c *Compliance) licensedInstalls(value []byte) ([]Install, error) {
	if items, err := c.scanInstalls(value); err == nil {
		return items, nil
	}
	var rec swRecord
	if err := cmdb.Decode(value, &rec); err != nil {
		return nil, err
	}
	return rec.Items, nil
}

// cborReader reads the definite-length subset of CBOR that cmdb.Encode
// writes for software records.
type cborReader struct {
	b []byte
	i int
}

func (r *cborReader) head() (major byte, arg uint64, err error) {
	if r.i >= len(r.b) {
		return 0, 0, errSlowPath
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
		return 0, 0, errSlowPath
	}
	return major, arg, nil
}

func (r *cborReader) text() ([]byte, error) {
	major, n, err := r.head()
	if err != nil || major != 3 || n > uint64(len(r.b)-r.i) {
		return nil, errSlowPath
	}
	s := r.b[r.i : r.i+int(n)]
	r.i += int(n)
	return s, nil
}

func (c *Compliance) scanInstalls(value []byte) ([]Install, error) {
	p, err := cmdb.Payload(value)
	if err != nil {
		return nil, errSlowPath
	}
	r := &cborReader{b: p}
	major, n, err := r.head()
	if err != nil || major != 5 {
		return nil, errSlowPath
	}
	var out []Install
	for range n {
		major, key, err := r.head()
		if err != nil || major != 0 {
			return nil, errSlowPath
		}
		if key != 1 {
			return nil, errSlowPath
		}
		major, items, err := r.head()
		if err == nil && major == 7 && items == 22 { // null: no items
			continue
		}
		if err != nil || major != 4 {
			return nil, errSlowPath
		}
		for range items {
			major, fields, err := r.head()
			if err != nil || major != 5 {
				return nil, errSlowPath
			}
			var title, version, publisher []byte
			for range fields {
				major, key, err := r.head()
				if err != nil || major != 0 {
					return nil, errSlowPath
				}
				switch key {
				case 1, 2, 3, 4, 5, 6:
					s, err := r.text()
					if err != nil {
						return nil, err
					}
					switch key {
					case 1:
						title = s
					case 3:
						version = s
					case 5:
						publisher = s
					}
				case 7:
					if major, _, err := r.head(); err != nil || (major != 0 && major != 1) {
						return nil, errSlowPath
					}
				default:
					return nil, errSlowPath
				}
			}
			if _, ok := c.byTitle[string(title)]; ok {
				out = append(out, Install{Title: string(title), Version: string(version), Publisher: string(publisher)})
			}
		}
	}
	if r.i != len(r.b) {
		return nil, errSlowPath
	}
	return out, nil
}

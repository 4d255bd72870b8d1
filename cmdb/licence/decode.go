package licence

import (
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
// recognise is decoded by cmdb.Decode instead. Without entitlements no
// title is licensed and the record is not read at all: the follower then
// costs nothing per software change (a new entitlement rebuilds c).
func (c *Compliance) licensedInstalls(value []byte) ([]Install, error) {
	if len(c.byTitle) == 0 {
		return nil, nil
	}
	if items, err := c.scanInstalls(value); err == nil {
		return items, nil
	}
	var rec swRecord
	if err := cmdb.Decode(value, &rec); err != nil {
		return nil, err
	}
	return rec.Items, nil
}

func (c *Compliance) scanInstalls(value []byte) (out []Install, err error) {
	err = cmdb.WithPayload(value, func(p []byte) error {
		out, err = c.scanPayload(p)
		return err
	})
	return out, err
}

func (c *Compliance) scanPayload(p []byte) ([]Install, error) {
	r := &cmdb.CBORReader{B: p}
	major, n, err := r.Head()
	if err != nil || major != 5 {
		return nil, errSlowPath
	}
	var out []Install
	for range n {
		major, key, err := r.Head()
		if err != nil || major != 0 {
			return nil, errSlowPath
		}
		if key != 1 {
			return nil, errSlowPath
		}
		major, items, err := r.Head()
		if err == nil && major == 7 && items == 22 { // null: no items
			continue
		}
		if err != nil || major != 4 {
			return nil, errSlowPath
		}
		for range items {
			major, fields, err := r.Head()
			if err != nil || major != 5 {
				return nil, errSlowPath
			}
			var title, version, publisher []byte
			for range fields {
				major, key, err := r.Head()
				if err != nil || major != 0 {
					return nil, errSlowPath
				}
				switch key {
				case 1, 2, 3, 4, 5, 6:
					s, err := r.TextUnchecked()
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
					if major, _, err := r.Head(); err != nil || (major != 0 && major != 1) {
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
	if r.End() != nil {
		return nil, errSlowPath
	}
	return out, nil
}

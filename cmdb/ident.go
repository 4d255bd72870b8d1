package cmdb

import (
	"context"
	"fmt"
	"strings"

	"parc/cmdb/store"
)

// FindIdentifier returns the ids of the CIs that carry identifier
// kind=value (at most 64), reading through r. Values are matched exactly as
// stored (hostnames and FQDNs are stored in lower case).
func FindIdentifier(ctx context.Context, r store.Reader, kind, value string) ([]string, error) {
	return findIdent(ctx, r, kind, value)
}

// FindSerial returns the ids of the CIs whose hardware serial is serial,
// whatever the vendor: serial identifiers are stored as "vendor|SERIAL", so
// it visits each vendor present in the index once (a skip scan) and looks
// the serial up under it.
func FindSerial(ctx context.Context, r store.Reader, serial string) ([]string, error) {
	serial = strings.ToUpper(strings.TrimSpace(serial))
	if serial == "" {
		return nil, nil
	}
	p := []byte(PrefixIdent + "serial/")
	var ids []string
	var after []byte
	for vendors := 0; vendors < 256; vendors++ {
		kvs, err := r.Scan(ctx, store.Range{Prefix: p, After: after, Limit: 1})
		if err != nil {
			return nil, fmt.Errorf("find serial %s: %w", serial, err)
		}
		if len(kvs) == 0 {
			break
		}
		rest := string(kvs[0].Key[len(p):])
		bar := strings.IndexByte(rest, '|')
		if bar < 0 {
			// Not a vendor|serial value: skip past this value.
			slash := strings.IndexByte(rest, '/')
			if slash < 0 {
				break
			}
			after = append(append([]byte(nil), p...), rest[:slash]+"/\xff"...)
			continue
		}
		vendor := rest[:bar]
		found, err := r.Scan(ctx, store.Range{Prefix: []byte(string(p) + vendor + "|" + escape(serial) + "/"), Limit: 64})
		if err != nil {
			return nil, fmt.Errorf("find serial %s: %w", serial, err)
		}
		for _, kv := range found {
			ids = append(ids, lastSegment(kv.Key))
		}
		after = append(append([]byte(nil), p...), vendor+"|\xff\xff\xff\xff"...)
	}
	return ids, nil
}

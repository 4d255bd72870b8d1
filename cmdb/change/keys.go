package change

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"parc/cmdb"
	"parc/cmdb/store"
)

// Prefix is the change module's key prefix: it writes nothing elsewhere.
const Prefix = "chg/"

var (
	keySeq    = []byte(Prefix + "seq")
	keyRules  = []byte(Prefix + "cfg/rules")
	keyFollow = []byte(Prefix + "follow")
)

const (
	prefixChange = Prefix + "c/"
	prefixSnap   = Prefix + "snap/"
	prefixByCI   = Prefix + "byci/"
	prefixTpl    = Prefix + "tpl/"
	prefixFreeze = Prefix + "frz/"
	prefixCtl    = Prefix + "ctl/"
	prefixDrift  = Prefix + "drift/"
	prefixOpen   = Prefix + "open/"
)

func changeKey(num string) []byte     { return []byte(prefixChange + num) }
func snapKey(num string) []byte       { return []byte(prefixSnap + num) }
func byCIKey(ci, num string) []byte   { return []byte(prefixByCI + ci + "/" + num) }
func byCIPrefix(ci string) []byte     { return []byte(prefixByCI + ci + "/") }
func templateKey(name string) []byte  { return []byte(prefixTpl + name) }
func freezeKey(id string) []byte      { return []byte(prefixFreeze + id) }
func controlKey(ci string) []byte     { return []byte(prefixCtl + ci) }
func driftKey(id string) []byte       { return []byte(prefixDrift + id) }
func openKey(num string) []byte       { return []byte(prefixOpen + num) }
func numberOf(seq int64) string       { return fmt.Sprintf("CHG-%06d", seq) }
func lastSegment(key []byte) string   { s := string(key); return s[strings.LastIndexByte(s, '/')+1:] }
func validSegment(s string) bool      { return s != "" && len(s) <= 128 && !strings.ContainsAny(s, "/\x00") }
func normalizeNumber(n string) string { return strings.ToUpper(strings.TrimSpace(n)) }

// get decodes the value at key into v; found is false when it is absent.
func get(ctx context.Context, r store.Reader, key []byte, v any) (found bool, err error) {
	raw, err := r.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := cmdb.Decode(raw, v); err != nil {
		return false, fmt.Errorf("%s: %w", key, err)
	}
	return true, nil
}

func put(tx store.Txn, key []byte, v any) error {
	raw, err := cmdb.Encode(v)
	if err != nil {
		return err
	}
	if err := tx.Put(key, raw); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

// Load returns change num read through r, or cmdb.ErrNotFound.
func Load(ctx context.Context, r store.Reader, num string) (*Change, error) {
	num = normalizeNumber(num)
	if !validSegment(num) {
		return nil, fmt.Errorf("change number %q: %w", num, cmdb.ErrInvalid)
	}
	c := &Change{}
	ok, err := get(ctx, r, changeKey(num), c)
	if err != nil {
		return nil, fmt.Errorf("load change %s: %w", num, err)
	}
	if !ok {
		return nil, fmt.Errorf("change %s: %w", num, cmdb.ErrNotFound)
	}
	return c, nil
}

// changesOnCI returns the changes that name ci, read through r.
func changesOnCI(ctx context.Context, r store.Reader, ci string) ([]*Change, error) {
	kvs, err := r.Scan(ctx, store.Range{Prefix: byCIPrefix(ci)})
	if err != nil {
		return nil, err
	}
	out := make([]*Change, 0, len(kvs))
	for _, kv := range kvs {
		c, err := Load(ctx, r, lastSegment(kv.Key))
		if errors.Is(err, cmdb.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// OpenOnCI returns the numbers of the changes naming ci that are not
// closed, rejected or cancelled.
func OpenOnCI(ctx context.Context, r store.Reader, ci string) ([]string, error) {
	cs, err := changesOnCI(ctx, r, ci)
	if err != nil {
		return nil, fmt.Errorf("changes on %s: %w", ci, err)
	}
	var out []string
	for _, c := range cs {
		if !c.State.Terminal() {
			out = append(out, c.Number)
		}
	}
	return out, nil
}

// openEntry is the small record of a change that is not closed, rejected
// or cancelled, kept under chg/open/ so that collision checks read one
// short range instead of an index entry per reached CI.
type openEntry struct {
	Number string   `cbor:"1,keyasint"`
	Title  string   `cbor:"2,keyasint"`
	State  State    `cbor:"3,keyasint"`
	Window Window   `cbor:"4,keyasint"`
	CIs    []string `cbor:"5,keyasint"`
}

// syncOpen keeps c's entry under chg/open/ in step with the change.
func syncOpen(tx store.Txn, c *Change) error {
	if c.State.Terminal() {
		return tx.Delete(openKey(c.Number))
	}
	return put(tx, openKey(c.Number), openEntry{Number: c.Number, Title: c.Title, State: c.State, Window: c.Window, CIs: c.CIs})
}

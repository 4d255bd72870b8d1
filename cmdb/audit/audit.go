// Package audit is the append-only audit log: every mutation (API call,
// ingest summary, import) appends one Entry inside the transaction that
// makes the change, so a change and its audit record commit together. No
// function here updates or deletes an entry.
package audit

import (
	"context"
	"fmt"
	"strings"
	"time"

	"parc/cmdb"
	"parc/cmdb/store"
)

// Prefix is the audit log's key prefix: au/<time>/<id>.
const Prefix = "au/"

// Entry is one audit record.
type Entry struct {
	ID     string    `cbor:"1,keyasint" json:"id"`
	At     time.Time `cbor:"2,keyasint" json:"at"`
	Actor  string    `cbor:"3,keyasint" json:"actor"`
	Action string    `cbor:"4,keyasint" json:"action"`
	Object string    `cbor:"5,keyasint" json:"object"`
	Before any       `cbor:"6,keyasint,omitempty" json:"before,omitempty"`
	After  any       `cbor:"7,keyasint,omitempty" json:"after,omitempty"`
	Detail string    `cbor:"8,keyasint,omitempty" json:"detail,omitempty"`
}

// Record appends e (its ID is assigned) in tx.
func Record(tx store.Txn, e Entry) error {
	if e.Actor == "" || e.Action == "" {
		return fmt.Errorf("audit entry needs an actor and an action: %w", cmdb.ErrInvalid)
	}
	if e.At.IsZero() {
		e.At = time.Now()
	}
	e.At = e.At.UTC()
	e.ID = cmdb.NewID()
	v, err := cmdb.Encode(e)
	if err != nil {
		return err
	}
	return store.PutNew(tx, key(e.At, e.ID), v) // a new key: e.ID is new
}

func key(at time.Time, id string) []byte {
	return []byte(fmt.Sprintf("%s%016x/%s", Prefix, at.UnixNano(), id))
}

// Filter selects entries. Empty fields match everything; Object and Actor
// match by prefix.
type Filter struct {
	Actor, Action, Object string
	Since, Until          time.Time
	// After is the cursor: the key of the last entry of the previous page.
	After string
	Limit int
}

// List returns entries oldest first and the cursor of the next page.
func List(ctx context.Context, r store.Reader, f Filter) ([]Entry, string, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	rg := store.Range{Prefix: []byte(Prefix), Limit: 500}
	if !f.Since.IsZero() {
		rg = store.Range{Start: key(f.Since, ""), End: store.PrefixEnd([]byte(Prefix)), Limit: 500}
	}
	if f.After != "" {
		rg.After = []byte(f.After)
	}
	var out []Entry
	for {
		kvs, err := r.Scan(ctx, rg)
		if err != nil {
			return nil, "", err
		}
		for _, kv := range kvs {
			var e Entry
			if err := cmdb.Decode(kv.Value, &e); err != nil {
				return nil, "", err
			}
			if !f.Until.IsZero() && e.At.After(f.Until) {
				return out, "", nil
			}
			if (f.Actor == "" || strings.HasPrefix(e.Actor, f.Actor)) && (f.Action == "" || e.Action == f.Action) &&
				(f.Object == "" || strings.HasPrefix(e.Object, f.Object)) {
				out = append(out, e)
				if len(out) == f.Limit {
					return out, string(kv.Key), nil
				}
			}
		}
		if len(kvs) < rg.Limit {
			return out, "", nil
		}
		rg.After = kvs[len(kvs)-1].Key
	}
}

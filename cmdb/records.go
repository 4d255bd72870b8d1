package cmdb

import (
	"context"
	"errors"

	"parc/cmdb/store"
)

// PutRecord encodes v and writes it at key in tx.
func PutRecord(tx store.Txn, key []byte, v any) error {
	b, err := Encode(v)
	if err != nil {
		return err
	}
	return tx.Put(key, b)
}

// GetRecord reads and decodes the record at key into v; ErrNotFound when
// the key is absent.
func GetRecord(ctx context.Context, r store.Reader, key []byte, v any) error {
	b, err := r.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	return Decode(b, v)
}

// ScanPrefix calls fn with the value of every key under prefix, in key
// order, reading in pages so that no single scan is unbounded.
func ScanPrefix(ctx context.Context, r store.Reader, prefix string, fn func(v []byte) error) error {
	rg := store.Range{Prefix: []byte(prefix), Limit: 500}
	for {
		kvs, err := r.Scan(ctx, rg)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			if err := fn(kv.Value); err != nil {
				return err
			}
		}
		if len(kvs) < rg.Limit {
			return nil
		}
		rg.After = kvs[len(kvs)-1].Key
	}
}

package store

import "fmt"

// TxnSize counts what a transaction has written so far against MaxTxnOps
// and MaxTxnBytes, the limits every backend enforces the same way.
type TxnSize struct {
	ops, bytes int
}

// Add accounts for a write of vlen value bytes to key. pending says the
// transaction already holds a write of prevLen value bytes to key, which
// this one replaces. Over a limit it returns ErrTooLarge and counts
// nothing.
func (s *TxnSize) Add(key []byte, vlen int, pending bool, prevLen int) error {
	ops, size := s.ops, s.bytes+vlen
	if pending {
		size -= prevLen
	} else {
		size += len(key)
		ops++
	}
	if ops > MaxTxnOps {
		return fmt.Errorf("more than %d writes: %w", MaxTxnOps, ErrTooLarge)
	}
	if size > MaxTxnBytes {
		return fmt.Errorf("transaction over %d bytes: %w", MaxTxnBytes, ErrTooLarge)
	}
	s.ops, s.bytes = ops, size
	return nil
}

package store

import "fmt"

// Limits bound what one transaction may write.
type Limits struct {
	// Ops is the most writes (puts and deletes).
	Ops int
	// Bytes is the most key and value bytes.
	Bytes int
}

// Portable are the limits every backend accepts (MaxTxnOps, MaxTxnBytes).
var Portable = Limits{Ops: MaxTxnOps, Bytes: MaxTxnBytes}

// Wide is implemented by a store that also accepts transactions of a
// second shape: more writes within fewer bytes. Code that must run on
// every backend keeps to Portable; code that sizes its batches to the store
// it runs on (group commit) asks LimitsOf.
type Wide interface {
	WideLimits() Limits
}

// LimitsOf returns the largest batch shape s accepts: its wide limits, or
// Portable.
func LimitsOf(s any) Limits {
	if w, ok := s.(Wide); ok {
		if l := w.WideLimits(); l.Ops > 0 && l.Bytes > 0 {
			return l
		}
	}
	return Portable
}

// TxnSize counts what a transaction has written so far. A transaction fits
// when it is within Portable, or within Wide when that is set.
type TxnSize struct {
	// Wide is the store's second accepted shape (zero: none).
	Wide       Limits
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
	if ops <= MaxTxnOps && size <= MaxTxnBytes || ops <= s.Wide.Ops && size <= s.Wide.Bytes {
		s.ops, s.bytes = ops, size
		return nil
	}
	if s.Wide.Ops > 0 {
		return fmt.Errorf("%d writes of %d bytes: over %d writes or %d bytes, and over %d writes or %d bytes: %w",
			ops, size, MaxTxnOps, MaxTxnBytes, s.Wide.Ops, s.Wide.Bytes, ErrTooLarge)
	}
	if ops > MaxTxnOps {
		return fmt.Errorf("more than %d writes: %w", MaxTxnOps, ErrTooLarge)
	}
	return fmt.Errorf("transaction over %d bytes: %w", MaxTxnBytes, ErrTooLarge)
}

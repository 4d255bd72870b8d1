package store

import "errors"

var (
	// ErrNotFound is returned by Get when the key does not exist.
	ErrNotFound = errors.New("store: key not found")
	// ErrConflict is returned when an optimistic transaction's read set was
	// changed by another commit and the retries ran out.
	ErrConflict = errors.New("store: transaction conflict")
	// ErrTooLarge is returned when a value or a transaction exceeds the
	// limits in this package (MaxValueSize, MaxTxnOps, MaxTxnBytes).
	ErrTooLarge = errors.New("store: value or transaction too large")
	// ErrCompacted is delivered by Watch when the requested revision is no
	// longer in the feed.
	ErrCompacted = errors.New("store: revision compacted")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("store: closed")
	// ErrBadKey is returned for an empty key or a key in the reserved
	// internal range (starting with 0x00).
	ErrBadKey = errors.New("store: invalid key")
)

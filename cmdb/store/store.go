package store

import (
	"context"
	"time"
)

// Limits every backend enforces, so that code written against Badger keeps
// working on etcd (whose defaults these are).
const (
	// MaxTxnOps is the most writes (puts and deletes) one transaction may hold.
	MaxTxnOps = 128
	// MaxValueSize is the largest value accepted.
	MaxValueSize = 1 << 20
	// MaxTxnBytes is the most key and value bytes one transaction may write.
	// It stays 128 KiB under etcd's default --max-request-bytes (1.5 MiB),
	// which also counts key prefixes, compares and message overhead.
	MaxTxnBytes = 3<<19 - 128<<10
)

// KV is one key and its value.
type KV struct {
	Key   []byte
	Value []byte
	// ModRev is the revision of the transaction that last wrote the key.
	ModRev int64
}

// Range selects keys for a scan: all keys with Prefix, or the keys in
// [Start, End) when Prefix is nil. After, when set, skips keys up to and
// including it (the cursor of the previous page); in a Reverse scan it skips
// keys from it upward. Limit 0 means no limit.
type Range struct {
	Prefix  []byte
	Start   []byte
	End     []byte
	After   []byte
	Limit   int
	Reverse bool
}

// Reader reads the store at one consistent point.
type Reader interface {
	// Get returns the value of key, or ErrNotFound. The value must not be
	// modified.
	Get(ctx context.Context, key []byte) ([]byte, error)
	// Scan returns keys in order (or reverse order) within r. The returned
	// slices must not be modified.
	Scan(ctx context.Context, r Range) ([]KV, error)
}

// Txn is a read-write transaction. Reads made through it form the read set:
// if any key read (or found absent) was written by another transaction
// before this one commits, the commit fails with ErrConflict and Update
// runs the function again. The keys a Scan returns are read keys; whether a
// key inserted into a scanned range by another transaction conflicts is
// backend-specific. Reads see the transaction's own writes (with ModRev 0).
// Limits count distinct keys written; a Put or Delete that fails a limit
// also fails the commit, even if fn ignores its error.
type Txn interface {
	Reader
	// Put sets key to value. Values over MaxValueSize fail with ErrTooLarge.
	Put(key, value []byte) error
	// Delete removes key; deleting an absent key is not an error.
	Delete(key []byte) error
}

// NewPutter is implemented by a Txn that can write a key without first
// reading it (see PutNew).
type NewPutter interface {
	PutNew(key, value []byte) error
}

// PutNew writes key, which the caller knows to be new (a unique key, as
// history and audit entries have), through tx. A backend that reads every
// written key's previous value for the change feed (Badger) skips that
// read; should the key exist after all, it is overwritten and watchers see
// no previous value. Other backends Put.
func PutNew(tx Txn, key, value []byte) error {
	if p, ok := tx.(NewPutter); ok {
		return p.PutNew(key, value)
	}
	return tx.Put(key, value)
}

// Store is the key-value interface under the whole CMDB. Keys are ordered
// byte strings. Every backend passes the storetest conformance suite.
type Store interface {
	Reader
	// View runs fn on a consistent read-only snapshot.
	View(ctx context.Context, fn func(Reader) error) error
	// Update runs fn in a transaction and commits it atomically. On
	// ErrConflict it retries fn (with a fresh transaction) a bounded number
	// of times. An error from fn aborts the transaction: nothing is written.
	// It returns the revision the commit produced, or the current revision
	// when fn wrote nothing.
	Update(ctx context.Context, fn func(Txn) error) (int64, error)
	// Watch streams every change under prefix with a revision greater than
	// fromRev, in revision order, until ctx is done. Events of one
	// transaction arrive together, in key order; the last of them has Last
	// set. If fromRev is older than the retained feed, the channel delivers
	// one event with Err set to ErrCompacted and closes.
	Watch(ctx context.Context, prefix []byte, fromRev int64) (<-chan Event, error)
	// Rev returns the revision of the last committed transaction.
	// Revisions only grow; they may grow by more than one per commit
	// (etcd's are cluster-wide).
	Rev(ctx context.Context) (int64, error)
	// Close releases the store.
	Close() error
}

// EventType says what happened to a key.
type EventType int

const (
	EventPut EventType = iota + 1
	EventDelete
)

// Event is one change from the feed.
type Event struct {
	Type  EventType
	Key   []byte
	Value []byte
	// Prev is the value before this change (nil if the key was absent).
	Prev []byte
	Rev  int64
	// Last is true on the last event of its revision within the watched
	// prefix.
	Last bool
	// Err, when set, ends the stream (ErrCompacted, or a backend failure).
	Err error
}

// Locker is the optional ability of a store to elect a leader for a
// singleton job. Backends shared by several collectors (etcd) implement it;
// an embedded store implements it trivially.
type Locker interface {
	// Campaign blocks until this process leads name (or ctx ends). The
	// returned Leadership's Done channel closes when leadership is lost.
	Campaign(ctx context.Context, name string, ttl time.Duration) (Leadership, error)
}

// Leadership is held by the elected leader of a singleton job.
type Leadership interface {
	// Done is closed when leadership is lost.
	Done() <-chan struct{}
	// Rev is the store revision at which leadership was won: the fencing
	// token that writes of the job may check.
	Rev() int64
	// Resign gives leadership up.
	Resign(ctx context.Context) error
}

// PrefixEnd returns the first key after every key with prefix p.
func PrefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // p is all 0xff: no upper bound
}

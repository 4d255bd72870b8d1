package store

import (
	"context"
	"errors"
)

// ErrFenced is returned by Update when the context is fenced by a
// leadership (WithFence) that has been lost: nothing was written.
var ErrFenced = errors.New("store: leadership lost, write fenced off")

type fenceKey struct{}

// WithFence returns a context whose Updates commit only while l still
// leads. Backends check it atomically with the commit where they can (etcd
// compares the election key's creation revision, l.Rev(), in the same Txn),
// so a leader that stalled past its lease cannot write after a successor
// took over. Singleton jobs run with such a context.
func WithFence(ctx context.Context, l Leadership) context.Context {
	return context.WithValue(ctx, fenceKey{}, l)
}

// FenceOf returns the leadership fencing ctx, or nil.
func FenceOf(ctx context.Context) Leadership {
	l, _ := ctx.Value(fenceKey{}).(Leadership)
	return l
}

// CheckFence returns ErrFenced when ctx is fenced by a lost leadership.
func CheckFence(ctx context.Context) error {
	if l := FenceOf(ctx); l != nil {
		select {
		case <-l.Done():
			return ErrFenced
		default:
		}
	}
	return nil
}

package badgerstore

import (
	"context"
	"sync"
	"time"

	"parc/cmdb/store"
)

// Campaign makes this process the leader of name. Badger is used by one
// process only, so leadership is an in-process lock per name; ttl is
// ignored. Leadership ends on Resign or Close.
func (s *Store) Campaign(ctx context.Context, name string, ttl time.Duration) (store.Leadership, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	s.lockMu.Lock()
	sem, ok := s.locks[name]
	if !ok {
		sem = make(chan struct{}, 1)
		s.locks[name] = sem
	}
	s.lockMu.Unlock()
	s.leave() // do not hold up Close while waiting
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.done:
		return nil, store.ErrClosed
	}
	l := &leadership{sem: sem, done: make(chan struct{}), rev: s.currentRev(), s: s}
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	select {
	case <-s.done:
		<-sem
		return nil, store.ErrClosed
	default:
	}
	s.leads[l] = struct{}{}
	return l, nil
}

type leadership struct {
	s    *Store
	sem  chan struct{}
	done chan struct{}
	rev  int64
	once sync.Once
}

func (l *leadership) Done() <-chan struct{} { return l.done }
func (l *leadership) Rev() int64            { return l.rev }

// Resign releases the lock.
func (l *leadership) Resign(ctx context.Context) error {
	l.s.lockMu.Lock()
	defer l.s.lockMu.Unlock()
	l.end()
	return nil
}

// end releases the lock once; called with s.lockMu held.
func (l *leadership) end() {
	l.once.Do(func() {
		delete(l.s.leads, l)
		close(l.done)
		<-l.sem
	})
}

package etcdstore

import (
	"context"
	"fmt"
	"math"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"parc/cmdb/store"
)

// Campaign blocks until this process leads name, using an etcd election
// under the reserved key range of the namespace and a session lease of ttl
// (rounded up to whole seconds). Leadership is lost when the lease expires
// (the process stalls or loses the cluster for ttl), when ctx ends, or
// when the store closes.
func (s *Store) Campaign(ctx context.Context, name string, ttl time.Duration) (store.Leadership, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	secs := max(int(math.Ceil(ttl.Seconds())), 1)
	// The session (its lease and keep-alives) lives as long as ctx.
	sess, err := concurrency.NewSession(s.cli, concurrency.WithTTL(secs), concurrency.WithContext(ctx))
	if err != nil {
		return nil, s.mapErr(err)
	}
	e := concurrency.NewElection(sess, s.pfx+"\x00elect/"+name)
	host, _ := os.Hostname()
	// Election.Campaign, when ctx ends, resigns with the client's own
	// context, which blocks while the cluster is unreachable; do not wait
	// for it then (closing the store ends it).
	errc := make(chan error, 1)
	go func() { errc <- e.Campaign(ctx, fmt.Sprintf("%s/%d", host, os.Getpid())) }()
	select {
	case err = <-errc:
	case <-ctx.Done():
		go func() { <-errc; sess.Close() }()
		return nil, ctx.Err()
	}
	if err != nil {
		sess.Close()
		return nil, s.mapErr(err)
	}
	return &leadership{s: s, sess: sess, e: e}, nil
}

type leadership struct {
	s    *Store
	sess *concurrency.Session
	e    *concurrency.Election
}

// cmp is the fence of a write made under this leadership (store.WithFence):
// the election key still exists with the creation revision it was won at.
// A successor's key has another creation revision, and an expired lease
// deletes the key, so a stalled leader's commit fails.
func (l *leadership) cmp() clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(l.e.Key()), "=", l.e.Rev())
}

// check tells a failed fence (store.ErrFenced) from a read-set conflict.
func (l *leadership) check(ctx context.Context) error {
	resp, err := l.s.cli.Get(ctx, l.e.Key())
	if err != nil {
		return l.s.mapErr(err)
	}
	if len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != l.e.Rev() {
		return store.ErrFenced
	}
	return nil
}

func (l *leadership) Done() <-chan struct{} { return l.sess.Done() }

// Rev is the creation revision of the leader key.
func (l *leadership) Rev() int64 { return l.e.Rev() }

func (l *leadership) Resign(ctx context.Context) error {
	err := l.e.Resign(ctx)
	if cerr := l.sess.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("etcdstore: resign: %w", err)
	}
	return nil
}

package etcdstore

import (
	"context"
	"fmt"
	"math"
	"os"
	"time"

	"go.etcd.io/etcd/client/v3/concurrency"

	"parc/cmdb/store"
)

// Campaign blocks until this process leads name, using an etcd election
// under the reserved key range of the namespace and a session lease of ttl
// (rounded up to whole seconds). Leadership is lost when the lease expires
// (the process stalls or loses the cluster for ttl) or the store closes.
func (s *Store) Campaign(ctx context.Context, name string, ttl time.Duration) (store.Leadership, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	secs := max(int(math.Ceil(ttl.Seconds())), 1)
	sess, err := concurrency.NewSession(s.cli, concurrency.WithTTL(secs))
	if err != nil {
		return nil, s.mapErr(err)
	}
	e := concurrency.NewElection(sess, s.pfx+"\x00elect/"+name)
	host, _ := os.Hostname()
	if err := e.Campaign(ctx, fmt.Sprintf("%s/%d", host, os.Getpid())); err != nil {
		sess.Close()
		return nil, s.mapErr(err)
	}
	return &leadership{sess: sess, e: e}, nil
}

type leadership struct {
	sess *concurrency.Session
	e    *concurrency.Election
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

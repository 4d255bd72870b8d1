package etcdstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"parc/cmdb/store"
)

// MaxCompares is the most compares a commit sends; beyond it the read set
// is folded into range compares (see the package comment). It equals
// etcd's default --max-txn-ops.
const MaxCompares = 128

const (
	defaultMaxRetries  = 50
	defaultDialTimeout = 5 * time.Second
)

// Store is a store.Store on etcd. It also implements store.Locker.
type Store struct {
	cli        *clientv3.Client
	pfx        string
	endAll     string // etcd range end of the whole namespace
	log        *slog.Logger
	maxRetries int

	closed    atomic.Bool
	closeOnce sync.Once
	done      chan struct{}
	wg        sync.WaitGroup // watch goroutines
}

var (
	_ store.Store  = (*Store)(nil)
	_ store.Locker = (*Store)(nil)
)

// Open connects to the cluster and checks that it answers.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("etcdstore: no endpoints")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = defaultMaxRetries
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = defaultDialTimeout
	}
	tlsCfg := cfg.TLS
	if tlsCfg == nil && (cfg.CertFile != "" || cfg.KeyFile != "" || cfg.CAFile != "") {
		info := transport.TLSInfo{CertFile: cfg.CertFile, KeyFile: cfg.KeyFile, TrustedCAFile: cfg.CAFile}
		var err error
		if tlsCfg, err = info.ClientConfig(); err != nil {
			return nil, fmt.Errorf("etcdstore: tls: %w", err)
		}
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.Endpoints,
		DialTimeout: cfg.DialTimeout,
		TLS:         tlsCfg,
		Logger:      zap.NewNop(),
		// Let oversized requests reach the server, whose limit error maps
		// to ErrTooLarge.
		MaxCallSendMsgSize: 16 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("etcdstore: connect %v: %w", cfg.Endpoints, err)
	}
	s := &Store{
		cli:        cli,
		pfx:        cfg.Prefix,
		endAll:     "\x00",
		log:        cfg.Logger,
		maxRetries: cfg.MaxRetries,
		done:       make(chan struct{}),
	}
	if e := store.PrefixEnd([]byte(cfg.Prefix)); e != nil {
		s.endAll = string(e)
	}
	pctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	if _, err := s.Rev(pctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("etcdstore: connect %v: %w", cfg.Endpoints, err)
	}
	return s, nil
}

// Client returns the underlying etcd client.
func (s *Store) Client() *clientv3.Client { return s.cli }

// Close stops watches and closes the client. Closing twice is harmless.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.done)
		s.wg.Wait()
		err = s.cli.Close()
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("etcdstore: close: %w", err)
	}
	return nil
}

func (s *Store) check() error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return nil
}

// errStale is returned by reads whose snapshot revision was compacted
// during the transaction; Update retries.
var errStale = fmt.Errorf("etcdstore: snapshot revision compacted: %w", store.ErrConflict)

// errRetry marks a failed commit compare.
var errRetry = errors.New("etcdstore: read set changed")

func (s *Store) mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case s.closed.Load():
		return store.ErrClosed
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, rpctypes.ErrCompacted):
		return errStale
	case errors.Is(err, rpctypes.ErrRequestTooLarge), errors.Is(err, rpctypes.ErrTooManyOps):
		return fmt.Errorf("etcdstore: %v: %w", err, store.ErrTooLarge)
	}
	if st, ok := status.FromError(err); ok && st.Code() == codes.ResourceExhausted {
		return fmt.Errorf("etcdstore: %v: %w", err, store.ErrTooLarge)
	}
	return fmt.Errorf("etcdstore: %w", err)
}

func (s *Store) key(k []byte) string { return s.pfx + string(k) }

// Rev returns the cluster's current revision.
func (s *Store) Rev(ctx context.Context) (int64, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	resp, err := s.cli.Get(ctx, s.pfx+"\x00", clientv3.WithCountOnly())
	if err != nil {
		return 0, s.mapErr(err)
	}
	return resp.Header.Revision, nil
}

// Get returns the value of key.
func (s *Store) Get(ctx context.Context, key []byte) ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return (&reader{s: s}).Get(ctx, key)
}

// Scan returns the keys in r.
func (s *Store) Scan(ctx context.Context, r store.Range) ([]store.KV, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return (&reader{s: s}).Scan(ctx, r)
}

// View runs fn at one snapshot revision (that of its first read).
func (s *Store) View(ctx context.Context, fn func(store.Reader) error) error {
	if err := s.check(); err != nil {
		return err
	}
	return fn(&reader{s: s})
}

// Update runs fn in an optimistic transaction, retrying on conflicts.
func (s *Store) Update(ctx context.Context, fn func(store.Txn) error) (int64, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	backoff := time.Millisecond
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		rev, err := s.try(ctx, fn)
		if !errors.Is(err, errRetry) && !errors.Is(err, errStale) {
			return rev, err
		}
		if attempt >= s.maxRetries {
			return 0, store.ErrConflict
		}
		d := backoff/2 + rand.N(backoff)
		backoff = min(2*backoff, 50*time.Millisecond)
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

func (s *Store) try(ctx context.Context, fn func(store.Txn) error) (int64, error) {
	if err := store.CheckFence(ctx); err != nil {
		return 0, err
	}
	t := &txn{reader: reader{s: s}, reads: make(map[string]int64), writes: make(map[string]*write)}
	t.reader.txn = t
	if err := fn(t); err != nil {
		return 0, err
	}
	if t.err != nil {
		return 0, t.err
	}
	if len(t.writes) == 0 {
		return s.Rev(ctx)
	}
	ws := make([]*write, 0, len(t.writes))
	for _, w := range t.writes {
		ws = append(ws, w)
	}
	sort.Slice(ws, func(i, j int) bool { return bytes.Compare(ws[i].key, ws[j].key) < 0 })
	ops := make([]clientv3.Op, len(ws))
	for i, w := range ws {
		if w.del {
			ops[i] = clientv3.OpDelete(s.key(w.key))
		} else {
			ops[i] = clientv3.OpPut(s.key(w.key), string(w.value))
		}
	}
	fence, _ := store.FenceOf(ctx).(*leadership)
	var cmps []clientv3.Cmp
	if fence != nil {
		cmps = append(t.compares(MaxCompares-1), fence.cmp())
	} else {
		cmps = t.compares(MaxCompares)
	}
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return 0, s.mapErr(err)
	}
	if !resp.Succeeded {
		if fence != nil {
			if err := fence.check(ctx); err != nil {
				return 0, err
			}
		}
		return 0, errRetry
	}
	return resp.Header.Revision, nil
}

func validKey(k []byte) error {
	if len(k) == 0 || k[0] == 0 {
		return store.ErrBadKey
	}
	return nil
}

// reader reads at one revision: that of its first read.
type reader struct {
	s   *Store
	rev int64
	txn *txn // nil outside Update
}

func (r *reader) opts(o ...clientv3.OpOption) []clientv3.OpOption {
	if r.rev > 0 {
		o = append(o, clientv3.WithRev(r.rev))
	}
	return o
}

func (r *reader) Get(ctx context.Context, key []byte) ([]byte, error) {
	if err := validKey(key); err != nil {
		return nil, err
	}
	if r.txn != nil {
		if w, ok := r.txn.writes[string(key)]; ok {
			if w.del {
				return nil, store.ErrNotFound
			}
			return w.value, nil
		}
	}
	resp, err := r.s.cli.Get(ctx, r.s.key(key), r.opts()...)
	if err != nil {
		return nil, r.s.mapErr(err)
	}
	if r.rev == 0 {
		r.rev = resp.Header.Revision
	}
	var modRev int64
	if len(resp.Kvs) > 0 {
		modRev = resp.Kvs[0].ModRevision
	}
	if r.txn != nil {
		if _, seen := r.txn.reads[string(key)]; !seen {
			r.txn.reads[string(key)] = modRev
		}
	}
	if len(resp.Kvs) == 0 {
		return nil, store.ErrNotFound
	}
	return nonNil(resp.Kvs[0].Value), nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// bounds turns a Range into user keys [lo, hi) (hi nil: unbounded),
// clamped to the user key space and narrowed by the cursor.
func bounds(r store.Range) (lo, hi []byte, err error) {
	if len(r.Prefix) > 0 {
		if r.Prefix[0] == 0 {
			return nil, nil, store.ErrBadKey
		}
		lo, hi = r.Prefix, store.PrefixEnd(r.Prefix)
	} else {
		lo, hi = r.Start, r.End
	}
	if bytes.Compare(lo, []byte{1}) < 0 {
		lo = []byte{1}
	}
	if r.After != nil {
		if r.Reverse {
			if hi == nil || bytes.Compare(r.After, hi) < 0 {
				hi = r.After
			}
		} else if a := append(append([]byte(nil), r.After...), 0); bytes.Compare(a, lo) > 0 {
			lo = a
		}
	}
	return lo, hi, nil
}

func (s *Store) rangeEnd(hi []byte) string {
	if hi == nil {
		return s.endAll
	}
	return s.key(hi)
}

func (r *reader) Scan(ctx context.Context, rg store.Range) ([]store.KV, error) {
	lo, hi, err := bounds(rg)
	if err != nil {
		return nil, err
	}
	if hi != nil && bytes.Compare(lo, hi) >= 0 {
		return []store.KV{}, nil
	}
	inRange := func(k []byte) bool {
		return bytes.Compare(k, lo) >= 0 && (hi == nil || bytes.Compare(k, hi) < 0)
	}
	// Buffered writes in range replace what etcd has; fetch that many more
	// so the merged page is still full.
	var pending []*write
	if r.txn != nil {
		for _, w := range r.txn.writes {
			if inRange(w.key) {
				pending = append(pending, w)
			}
		}
	}
	o := []clientv3.OpOption{clientv3.WithRange(r.s.rangeEnd(hi))}
	if rg.Limit > 0 {
		o = append(o, clientv3.WithLimit(int64(rg.Limit+len(pending))))
	}
	if rg.Reverse {
		o = append(o, clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
	}
	resp, err := r.s.cli.Get(ctx, r.s.key(lo), r.opts(o...)...)
	if err != nil {
		return nil, r.s.mapErr(err)
	}
	if r.rev == 0 {
		r.rev = resp.Header.Revision
	}
	kvs := make([]store.KV, 0, len(resp.Kvs)+len(pending))
	for _, kv := range resp.Kvs {
		k := kv.Key[len(r.s.pfx):]
		if r.txn != nil {
			if _, ok := r.txn.writes[string(k)]; ok {
				continue
			}
		}
		kvs = append(kvs, store.KV{Key: k, Value: nonNil(kv.Value), ModRev: kv.ModRevision})
		if r.txn != nil {
			if _, seen := r.txn.reads[string(k)]; !seen {
				r.txn.reads[string(k)] = kv.ModRevision
			}
		}
	}
	if r.txn != nil {
		// Record the range read: up to the last key fetched if cut short.
		rlo, rhi := lo, hi
		if resp.More && len(resp.Kvs) > 0 {
			last := resp.Kvs[len(resp.Kvs)-1].Key[len(r.s.pfx):]
			if rg.Reverse {
				rlo = last
			} else {
				rhi = append(append([]byte(nil), last...), 0)
			}
		}
		r.txn.ranges = append(r.txn.ranges, interval{rlo, rhi})
	}
	if len(pending) > 0 {
		for _, w := range pending {
			if !w.del {
				kvs = append(kvs, store.KV{Key: w.key, Value: w.value})
			}
		}
		sort.Slice(kvs, func(i, j int) bool {
			c := bytes.Compare(kvs[i].Key, kvs[j].Key)
			if rg.Reverse {
				return c > 0
			}
			return c < 0
		})
	}
	if rg.Limit > 0 && len(kvs) > rg.Limit {
		kvs = kvs[:rg.Limit]
	}
	return kvs, nil
}

// interval is a user key range [lo, hi); hi nil is unbounded.
type interval struct{ lo, hi []byte }

type write struct {
	key   []byte
	del   bool
	value []byte
}

// txn buffers writes and records the read set.
type txn struct {
	reader
	reads  map[string]int64 // key -> ModRevision read (0: absent)
	ranges []interval
	writes map[string]*write
	size   store.TxnSize
	err    error // sticky limit error
}

func (t *txn) fail(err error) error {
	if t.err == nil {
		t.err = err
	}
	return err
}

func (t *txn) Put(key, value []byte) error {
	if len(value) > store.MaxValueSize {
		return t.fail(fmt.Errorf("put %d bytes: %w", len(value), store.ErrTooLarge))
	}
	w, err := t.touch(key, len(value))
	if err != nil {
		return err
	}
	w.del, w.value = false, append([]byte{}, value...)
	return nil
}

func (t *txn) Delete(key []byte) error {
	w, err := t.touch(key, 0)
	if err != nil {
		return err
	}
	w.del, w.value = true, nil
	return nil
}

func (t *txn) touch(key []byte, vlen int) (*write, error) {
	if err := validKey(key); err != nil {
		return nil, t.fail(err)
	}
	w, ok := t.writes[string(key)]
	prevLen := 0
	if ok {
		prevLen = len(w.value)
	}
	if err := t.size.Add(key, vlen, ok, prevLen); err != nil {
		return nil, t.fail(err)
	}
	if !ok {
		w = &write{key: append([]byte(nil), key...)}
		t.writes[string(key)] = w
	}
	return w, nil
}

// compares turns the read set into the commit's compares.
func (t *txn) compares(limit int) []clientv3.Cmp {
	s := t.s
	rangeCmp := func(iv interval) clientv3.Cmp {
		return clientv3.Compare(clientv3.ModRevision(s.key(iv.lo)).WithRange(s.rangeEnd(iv.hi)), "<", t.rev+1)
	}
	var cmps []clientv3.Cmp
	if len(t.reads)+len(t.ranges) <= limit {
		for k, rev := range t.reads {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(s.key([]byte(k))), "=", rev))
		}
		for _, iv := range t.ranges {
			cmps = append(cmps, rangeCmp(iv))
		}
		return cmps
	}
	// Fold: sort all read intervals and cover consecutive groups by their
	// hull.
	ivs := append([]interval(nil), t.ranges...)
	for k := range t.reads {
		ivs = append(ivs, interval{[]byte(k), append([]byte(k), 0)})
	}
	sort.Slice(ivs, func(i, j int) bool { return bytes.Compare(ivs[i].lo, ivs[j].lo) < 0 })
	per := (len(ivs) + limit - 1) / limit
	for i := 0; i < len(ivs); i += per {
		hull := ivs[i]
		for _, iv := range ivs[i:min(i+per, len(ivs))] {
			if hull.hi != nil && (iv.hi == nil || bytes.Compare(iv.hi, hull.hi) > 0) {
				hull.hi = iv.hi
			}
		}
		cmps = append(cmps, rangeCmp(hull))
	}
	return cmps
}

// Watch streams changes under prefix after fromRev using an etcd watch
// with prev_kv.
func (s *Store) Watch(ctx context.Context, prefix []byte, fromRev int64) (<-chan store.Event, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if len(prefix) > 0 && prefix[0] == 0 {
		return nil, store.ErrBadKey
	}
	key, end := s.key([]byte{1}), s.endAll
	if len(prefix) > 0 {
		key, end = s.key(prefix), s.rangeEnd(store.PrefixEnd(prefix))
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	// Start at fromRev itself (and drop its events): etcd then reports
	// compaction unless fromRev's state is kept, which Prev of the next
	// revision needs.
	wch := s.cli.Watch(wctx, key, clientv3.WithRange(end), clientv3.WithRev(max(fromRev, 1)), clientv3.WithPrevKV())
	out := make(chan store.Event, 64)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(out)
		defer cancel()
		send := func(ev store.Event) bool {
			select {
			case out <- ev:
				return true
			case <-ctx.Done():
			case <-s.done:
			}
			return false
		}
		for {
			var resp clientv3.WatchResponse
			var ok bool
			select {
			case resp, ok = <-wch:
			case <-ctx.Done():
				return
			case <-s.done:
				return
			}
			if !ok {
				if ctx.Err() == nil {
					send(store.Event{Err: fmt.Errorf("etcdstore: watch ended: %w", store.ErrClosed)})
				}
				return
			}
			if resp.CompactRevision != 0 {
				send(store.Event{Err: store.ErrCompacted})
				return
			}
			if err := resp.Err(); err != nil {
				if ctx.Err() == nil {
					send(store.Event{Err: s.mapErr(err)})
				}
				return
			}
			for i, e := range resp.Events {
				if e.Kv.ModRevision <= fromRev {
					continue
				}
				ev := store.Event{
					Key: e.Kv.Key[len(s.pfx):],
					Rev: e.Kv.ModRevision,
				}
				if e.Type == mvccpb.PUT {
					ev.Type, ev.Value = store.EventPut, nonNil(e.Kv.Value)
				} else {
					ev.Type = store.EventDelete
				}
				if e.PrevKv != nil {
					ev.Prev = nonNil(e.PrevKv.Value)
				}
				ev.Last = i == len(resp.Events)-1 || resp.Events[i+1].Kv.ModRevision != ev.Rev
				if !send(ev) {
					return
				}
			}
		}
	}()
	return out, nil
}

// Compact drops history before rev, cluster-wide (etcd compaction is not
// per prefix): Watch from rev or later still works (the state at rev gives
// the next changes their Prev), from earlier gets ErrCompacted.
func (s *Store) Compact(ctx context.Context, rev int64) error {
	if err := s.check(); err != nil {
		return err
	}
	if _, err := s.cli.Compact(ctx, rev); err != nil {
		return s.mapErr(err)
	}
	return nil
}

package cmdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"parc/cmdb/store"
)

// keyIndexSync is the key a graph index writes when the store's revision
// moved with nothing in the feed to show for it (etcd counts revisions of
// the whole cluster, leader elections included): the write's own event
// then proves the index has seen everything before it.
var keyIndexSync = []byte("meta/graph-index/sync")

// IndexOptions tune Graph.RunIndex.
type IndexOptions struct {
	Logger *slog.Logger
	// MaxWait bounds how long a traversal waits for the index to apply
	// the store's latest revision before it walks the store instead
	// (default 100ms).
	MaxWait time.Duration
	// PageSize is the number of keys per read of the build scan (default
	// 4096).
	PageSize int
}

// IndexStats describes a graph index.
type IndexStats struct {
	// State is "off" (no RunIndex), "building" or "ready".
	State string `json:"state"`
	// Rev is the last store revision applied.
	Rev int64 `json:"rev"`
	// Nodes counts the CIs and relationship ends held, Relationships the
	// relationships.
	Nodes         int `json:"nodes"`
	Relationships int `json:"relationships"`
	// Bytes estimates the memory held.
	Bytes     int64         `json:"bytes"`
	Builds    int64         `json:"builds"`
	BuildTime time.Duration `json:"build_time"`
	// Hits counts reads (traversals, heads) answered from the index;
	// Fallbacks those that read the store instead (index building or
	// behind, or a CI it cannot show); Barriers the sync writes it made.
	Hits      int64 `json:"hits"`
	Fallbacks int64 `json:"fallbacks"`
	Barriers  int64 `json:"barriers"`
}

// graphIndex keeps an adjIndex in step with the store's change feed and
// answers traversals from it once it has applied the store's current
// revision.
type graphIndex struct {
	st   store.Store
	log  *slog.Logger
	opts IndexOptions

	// mu guards adj, applied and validFrom: the feed applies one or more
	// whole revisions under the write lock, so a reader sees the graph at
	// one revision.
	mu  sync.RWMutex
	adj *adjIndex // nil while building
	// applied is the last revision applied; the index shows the graph at
	// that revision once applied ≥ validFrom (the revision read after the
	// build scan, whose snapshot lies between the watch start and it).
	applied, validFrom int64

	// progress mirrors applied for waiters; wake closes at each advance.
	progress  atomic.Int64
	wakeMu    sync.Mutex
	wake      chan struct{}
	lastEvent atomic.Int64 // unix nanoseconds of the last feed event
	barrier   chan struct{}

	builds, hits, fallbacks, barriers, buildTime atomic.Int64
}

// barrierQuiet is how long a waiting traversal lets the feed stay silent
// before it asks for a sync write.
const barrierQuiet = 10 * time.Millisecond

// RunIndex keeps an in-memory index of every CI's head and of the stored
// relationships until ctx ends, and Impact answers from it: it scans the
// graph at a revision, then follows the store's change feed from there.
// Before answering, a traversal waits (at most IndexOptions.MaxWait) until
// the index has applied the store's current revision, so it never shows a
// graph older than a write that committed before it started; while the
// index builds, lags or is rebuilt, traversals walk the store as before.
// When the feed was compacted past the index, it rebuilds. Run one per
// process (it is per Graph); it returns nil when ctx ends, and other
// errors (the store closed or failing) for the caller to restart it.
func (g *Graph) RunIndex(ctx context.Context, o IndexOptions) error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 100 * time.Millisecond
	}
	if o.PageSize <= 0 {
		o.PageSize = 4096
	}
	x := &graphIndex{st: g.st, log: o.Logger.With("component", "graph-index"), opts: o,
		wake: make(chan struct{}), barrier: make(chan struct{}, 1)}
	if !g.index.CompareAndSwap(nil, x) {
		return fmt.Errorf("graph index already running: %w", ErrConflict)
	}
	defer g.index.CompareAndSwap(x, nil)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { x.syncWrites(ctx) })
	for {
		err := x.run(ctx)
		x.reset()
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errIndexLimit) {
			x.log.Error("graph index off: traversals read the store", "err", err)
			<-ctx.Done()
			return nil
		}
		if !errors.Is(err, store.ErrCompacted) {
			return err
		}
		x.log.Warn("change feed compacted past the graph index: rebuilding")
	}
}

// IndexStats describes the graph index (State "off" when none runs).
func (g *Graph) IndexStats() IndexStats {
	x := g.index.Load()
	if x == nil {
		return IndexStats{State: "off"}
	}
	s := IndexStats{State: "building", Builds: x.builds.Load(), BuildTime: time.Duration(x.buildTime.Load()),
		Hits: x.hits.Load(), Fallbacks: x.fallbacks.Load(), Barriers: x.barriers.Load()}
	x.mu.RLock()
	defer x.mu.RUnlock()
	s.Rev = x.applied
	if x.adj != nil {
		s.State = "ready"
		s.Nodes, s.Relationships, s.Bytes = len(x.adj.ids), x.adj.rels, x.adj.bytes()
	}
	return s
}

// run builds the index and follows the feed until an error or ctx ends.
func (x *graphIndex) run(ctx context.Context) error {
	t := time.Now()
	from, err := x.st.Rev(ctx)
	if err != nil {
		return err
	}
	adj, err := buildIndex(ctx, x.st, x.opts.PageSize)
	if err != nil {
		return fmt.Errorf("build graph index: %w", err)
	}
	upto, err := x.st.Rev(ctx)
	if err != nil {
		return err
	}
	ch, err := x.st.Watch(ctx, nil, from)
	if err != nil {
		return err
	}
	x.mu.Lock()
	x.adj, x.applied, x.validFrom = adj, from, upto
	x.mu.Unlock()
	x.advance(from)
	took := time.Since(t)
	x.builds.Add(1)
	x.buildTime.Store(int64(took))
	x.log.Info("graph index built", "rev", upto, "nodes", len(adj.ids), "relationships", adj.rels,
		"bytes", adj.bytes(), "took", took.Round(time.Millisecond))
	return x.follow(ctx, ch)
}

// buildIndex reads every CI record and relationship in one snapshot.
func buildIndex(ctx context.Context, st store.Store, page int) (*adjIndex, error) {
	x := newAdjIndex()
	var edges []rawEdge
	err := st.View(ctx, func(rd store.Reader) error {
		err := scanPages(ctx, rd, PrefixCI, page, func(kv store.KV) error {
			return x.setHead(kv.Key[len(PrefixCI):], kv.Value)
		})
		if err != nil {
			return err
		}
		x.sorted = uint32(len(x.ids))
		var last []byte // keys come grouped by their source: look it up once
		var f uint32
		return scanPages(ctx, rd, PrefixRelOut, page, func(kv store.KV) error {
			from, typ, to, ok := splitRel(kv.Key[len(PrefixRelOut):])
			if !ok {
				return nil
			}
			if last == nil || !bytes.Equal(from, last) {
				var err error
				if f, err = x.intern(from); err != nil {
					return err
				}
				last = from
			}
			t, err := x.intern(to)
			if err != nil {
				return err
			}
			edges = append(edges, rawEdge{from: f, to: t, typ: x.typeCode(typ)})
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	x.addRows(edges)
	return x, x.err()
}

func scanPages(ctx context.Context, rd store.Reader, prefix string, page int, fn func(store.KV) error) error {
	r := store.Range{Prefix: []byte(prefix), Limit: page}
	for {
		kvs, err := rd.Scan(ctx, r)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			if err := fn(kv); err != nil {
				return err
			}
		}
		if len(kvs) < page {
			return nil
		}
		r.After = kvs[len(kvs)-1].Key
	}
}

// follow applies the feed: whole revisions at a time, several when they
// queue up.
func (x *graphIndex) follow(ctx context.Context, ch <-chan store.Event) error {
	var batch []store.Event
	for ev := range ch {
		if ev.Err != nil {
			return ev.Err
		}
		x.lastEvent.Store(time.Now().UnixNano())
		if hasPrefix(ev.Key, PrefixCI) || hasPrefix(ev.Key, PrefixRelOut) {
			batch = append(batch, ev)
		}
		if !ev.Last || (len(ch) > 0 && len(batch) < 1024) {
			continue
		}
		if err := x.apply(batch, ev.Rev); err != nil {
			return err
		}
		clear(batch)
		batch = batch[:0]
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return fmt.Errorf("graph index: change feed ended: %w", store.ErrClosed)
}

func hasPrefix(k []byte, p string) bool { return len(k) >= len(p) && string(k[:len(p)]) == p }

func (x *graphIndex) apply(evs []store.Event, rev int64) error {
	x.mu.Lock()
	for _, ev := range evs {
		if err := x.adj.apply(ev); err != nil {
			x.mu.Unlock()
			return err
		}
	}
	x.adj.maybeCompact()
	x.applied = rev
	err := x.adj.err()
	x.mu.Unlock()
	x.advance(rev)
	return err
}

// apply applies one event under ci/ or ro/.
func (x *adjIndex) apply(ev store.Event) error {
	if hasPrefix(ev.Key, PrefixCI) {
		id := ev.Key[len(PrefixCI):]
		if ev.Type == store.EventDelete {
			x.dropHead(id)
			return nil
		}
		return x.setHead(id, ev.Value)
	}
	from, typ, to, ok := splitRel(ev.Key[len(PrefixRelOut):])
	if !ok {
		return nil
	}
	if ev.Type == store.EventDelete {
		x.dropRel(from, typ, to)
		return nil
	}
	return x.addRel(from, typ, to)
}

// advance publishes rev as applied and wakes the waiters.
func (x *graphIndex) advance(rev int64) {
	x.progress.Store(rev)
	x.wakeMu.Lock()
	close(x.wake)
	x.wake = make(chan struct{})
	x.wakeMu.Unlock()
}

// reset drops the index (traversals walk the store until it is rebuilt).
func (x *graphIndex) reset() {
	x.mu.Lock()
	x.adj, x.applied, x.validFrom = nil, 0, 0
	x.mu.Unlock()
	x.advance(0)
}

func (x *graphIndex) wakeChan() <-chan struct{} {
	x.wakeMu.Lock()
	defer x.wakeMu.Unlock()
	return x.wake
}

// read runs fn on the index once it has applied the store's current
// revision, under the read lock. It reports false (without running fn, or
// when fn returns errIndexMiss) for the caller to read the store instead.
func (x *graphIndex) read(ctx context.Context, fn func(*adjIndex) error) (bool, error) {
	x.mu.RLock()
	ready, validFrom := x.adj != nil, x.validFrom
	x.mu.RUnlock()
	if !ready {
		x.fallbacks.Add(1)
		return false, nil
	}
	q, err := x.st.Rev(ctx)
	if err != nil {
		return false, nil // the store read reports the store's error
	}
	need := max(q, validFrom)
	if !x.await(ctx, need) {
		x.fallbacks.Add(1)
		return false, nil
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.adj == nil || x.applied < max(need, x.validFrom) {
		x.fallbacks.Add(1)
		return false, nil
	}
	if err := fn(x.adj); errors.Is(err, errIndexMiss) {
		x.fallbacks.Add(1)
		return false, nil
	} else if err != nil {
		return true, err
	}
	x.hits.Add(1)
	return true, nil
}

// await waits until the index has applied rev need, at most MaxWait. When
// the feed stays silent meanwhile, it asks for a sync write: the revision
// moved without an event the index could see.
func (x *graphIndex) await(ctx context.Context, need int64) bool {
	if x.progress.Load() >= need {
		return true
	}
	limit := time.NewTimer(x.opts.MaxWait)
	defer limit.Stop()
	quiet := time.NewTicker(barrierQuiet)
	defer quiet.Stop()
	for {
		wake := x.wakeChan()
		if x.progress.Load() >= need {
			return true
		}
		select {
		case <-wake:
		case <-quiet.C:
			if time.Since(time.Unix(0, x.lastEvent.Load())) >= barrierQuiet {
				select {
				case x.barrier <- struct{}{}:
				default:
				}
			}
		case <-limit.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// syncWrites makes the sync writes waiting traversals ask for, at most
// one every 50ms.
func (x *graphIndex) syncWrites(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-x.barrier:
		}
		_, err := x.st.Update(ctx, func(tx store.Txn) error {
			return tx.Put(keyIndexSync, strconv.AppendInt(nil, time.Now().UnixNano(), 10))
		})
		if err != nil && ctx.Err() == nil {
			x.log.Warn("graph index sync write failed", "err", err)
		}
		x.barriers.Add(1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

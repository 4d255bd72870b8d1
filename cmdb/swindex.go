package cmdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"parc/cmdb/store"
)

// keySWIndexRev records the last revision of the software feed folded into
// the title index.
var keySWIndexRev = []byte("meta/swindex/rev")

// TitleIndexer keeps software title CIs and the title → hosts index (sh/)
// in step with the hosts' software records, following the change feed in
// bounded batches so that no transaction exceeds the store's limits. It is
// a singleton job: run one per cluster.
type TitleIndexer struct {
	st   store.Store
	log  *slog.Logger
	done atomic.Int64
	// seen is the revision of the newest software change received.
	seen atomic.Int64
	// BatchOps caps the writes per transaction (default 100).
	BatchOps int
	// known holds title CIs known to exist (Run's goroutine only).
	known map[string]bool
}

// NewTitleIndexer returns an indexer over st.
func NewTitleIndexer(st store.Store, log *slog.Logger) *TitleIndexer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &TitleIndexer{st: st, log: log.With("component", "title-indexer"), BatchOps: 100}
}

// Done returns the last store revision folded into the index.
func (x *TitleIndexer) Done() int64 { return x.done.Load() }

// Pending returns the revision distance between the newest software change
// the indexer has received and the last one it folded in: 0 when caught up.
func (x *TitleIndexer) Pending() int64 { return max(0, x.seen.Load()-x.done.Load()) }

type titleOp struct {
	title, host string
	item        *Installed // nil: delete the index entry
}

// Run follows the feed until ctx ends.
func (x *TitleIndexer) Run(ctx context.Context) error {
	from, err := x.progress(ctx)
	if err != nil {
		return err
	}
	x.done.Store(from)
	for {
		err := x.follow(ctx, from)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, store.ErrCompacted) {
			x.log.Warn("software feed compacted; rebuilding the title index from the records")
			if from, err = x.rebuild(ctx); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
	}
}

func (x *TitleIndexer) progress(ctx context.Context) (int64, error) {
	v, err := x.st.Get(ctx, keySWIndexRev)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(string(v), 10, 64)
}

func (x *TitleIndexer) follow(ctx context.Context, from int64) error {
	ch, err := x.st.Watch(ctx, []byte(PrefixSoftware), from)
	if err != nil {
		return err
	}
	var ops []titleOp
	var doneRev int64
	for ev := range ch {
		if ev.Err != nil {
			return ev.Err
		}
		host := string(ev.Key[len(PrefixSoftware):])
		var before, after SoftwareRecord
		if ev.Prev != nil {
			if err := Decode(ev.Prev, &before); err != nil {
				return err
			}
		}
		if ev.Type == store.EventPut {
			if err := Decode(ev.Value, &after); err != nil {
				return err
			}
		}
		ops = append(ops, titleOps(host, before.Items, after.Items)...)
		x.seen.Store(ev.Rev)
		if ev.Last {
			doneRev = ev.Rev
			if len(ch) == 0 || len(ops) >= 2*flushParallel*x.BatchOps {
				if err := x.flush(ctx, ops, doneRev); err != nil {
					return err
				}
				ops = ops[:0]
			}
		}
	}
	return ctx.Err()
}

// titleOps lists the index changes from one software record to the next.
func titleOps(host string, before, after []Installed) []titleOp {
	old := make(map[string]Installed, len(before))
	for _, it := range before {
		if _, dup := old[it.Title]; !dup {
			old[it.Title] = it
		}
	}
	var ops []titleOp
	seen := make(map[string]bool, len(after))
	for i := range after {
		it := after[i]
		if seen[it.Title] {
			continue // one index entry per title and host: the first package
		}
		seen[it.Title] = true
		if o, ok := old[it.Title]; ok && o == it {
			continue
		}
		ops = append(ops, titleOp{title: it.Title, host: host, item: &after[i]})
	}
	for t := range old {
		if !seen[t] {
			ops = append(ops, titleOp{title: t, host: host})
		}
	}
	return ops
}

// flushParallel is how many index transactions flush keeps in flight:
// the store commits (and fsyncs) them together.
const flushParallel = 8

// flush writes ops, the last one recording rev as done: first the title
// CIs seen for the first time, then the index entries in transactions of
// at most BatchOps blind writes, several in flight at once, and last the
// progress record.
func (x *TitleIndexer) flush(ctx context.Context, ops []titleOp, rev int64) error {
	if x.known == nil {
		x.known = map[string]bool{}
	}
	if len(x.known) > 200_000 {
		clear(x.known) // a bound on memory; titles are re-checked after
	}
	// One entry per key, the last op winning: batches commit in any order.
	last := make(map[string]int, len(ops))
	for i, op := range ops {
		last[op.title+"\x00"+op.host] = i
	}
	entries := make([]titleOp, 0, len(last))
	var fresh []titleOp
	queued := map[string]bool{}
	for i, op := range ops {
		if last[op.title+"\x00"+op.host] != i {
			continue
		}
		entries = append(entries, op)
		if id := TitleID(op.title); op.item != nil && !x.known[id] && !queued[id] {
			queued[id] = true
			fresh = append(fresh, op)
		}
	}
	if err := x.createTitles(ctx, fresh); err != nil {
		return err
	}
	per := max(1, x.BatchOps-1)
	errs := make(chan error, flushParallel)
	inFlight := 0
	var first error
	for len(entries) > 0 && first == nil {
		n := min(per, len(entries))
		batch := entries[:n]
		entries = entries[n:]
		if inFlight == flushParallel {
			if err := <-errs; err != nil && first == nil {
				first = err
			}
			inFlight--
		}
		inFlight++
		go func() { errs <- x.writeEntries(ctx, batch) }()
	}
	for ; inFlight > 0; inFlight-- {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return first
	}
	if rev > 0 {
		if _, err := x.st.Update(ctx, func(stx store.Txn) error {
			return stx.Put(keySWIndexRev, []byte(strconv.FormatInt(rev, 10)))
		}); err != nil {
			return fmt.Errorf("title index progress: %w", err)
		}
		x.done.Store(rev)
	}
	return nil
}

// createTitles makes the title CIs of ops that do not exist yet, a few
// per transaction (a new CI is about five writes).
func (x *TitleIndexer) createTitles(ctx context.Context, ops []titleOp) error {
	per := max(1, (x.BatchOps-1)/5)
	for len(ops) > 0 {
		batch := ops[:min(per, len(ops))]
		ops = ops[len(batch):]
		_, err := x.st.Update(ctx, func(stx store.Txn) error {
			tx := NewTx(ctx, stx, "system:title-indexer", time.Now())
			for _, op := range batch {
				id := TitleID(op.title)
				if _, err := tx.CI(id); !errors.Is(err, ErrNotFound) {
					if err != nil {
						return err
					}
					continue
				}
				title := &CI{ID: id, Class: ClassSoftware, Name: op.title, State: "use"}
				if op.item.Publisher != "" {
					title.Attrs = map[string]Attr{"publisher": {Value: op.item.Publisher, Source: SourceAgent, Updated: tx.Now()}}
				}
				if _, err := tx.PutCI(nil, title); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("title CIs: %w", err)
		}
		for _, op := range batch {
			x.known[TitleID(op.title)] = true
		}
	}
	return nil
}

// writeEntries writes one transaction of index entries. The writes are
// blind: only this job writes the index, and nobody watches it for
// previous values. The entry keeps what an installed_on edge shows
// (package, version, arch, source): the title is the key, and the
// publisher lives on the title CI.
func (x *TitleIndexer) writeEntries(ctx context.Context, ops []titleOp) error {
	_, err := x.st.Update(ctx, func(stx store.Txn) error {
		for _, op := range ops {
			key := titleHostKey(TitleID(op.title), op.host)
			if op.item == nil {
				if err := store.DeleteBlind(stx, key); err != nil {
					return err
				}
				continue
			}
			v, err := Encode(Installed{Name: op.item.Name, Version: op.item.Version, Arch: op.item.Arch, Source: op.item.Source})
			if err != nil {
				return err
			}
			if err := store.PutBlind(stx, key, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("title index batch: %w", err)
	}
	return nil
}

// rebuild folds every software record into the index again and returns
// the revision it read them at.
func (x *TitleIndexer) rebuild(ctx context.Context) (int64, error) {
	rev, err := x.st.Rev(ctx)
	if err != nil {
		return 0, err
	}
	var after []byte
	for {
		kvs, err := x.st.Scan(ctx, store.Range{Prefix: []byte(PrefixSoftware), After: after, Limit: 100})
		if err != nil {
			return 0, err
		}
		if len(kvs) == 0 {
			break
		}
		for _, kv := range kvs {
			var rec SoftwareRecord
			if err := Decode(kv.Value, &rec); err != nil {
				return 0, err
			}
			if err := x.flush(ctx, titleOps(string(kv.Key[len(PrefixSoftware):]), nil, rec.Items), 0); err != nil {
				return 0, err
			}
		}
		after = kvs[len(kvs)-1].Key
	}
	return rev, x.flush(ctx, nil, rev)
}

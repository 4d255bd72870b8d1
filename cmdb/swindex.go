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
			if len(ch) == 0 || len(ops) >= 4*x.BatchOps {
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

// flush writes ops in transactions of at most BatchOps writes (an index
// entry is one write; a title seen for the first time adds its CI, four
// more), the last one recording rev as done.
func (x *TitleIndexer) flush(ctx context.Context, ops []titleOp, rev int64) error {
	if x.known == nil {
		x.known = map[string]bool{}
	}
	for len(ops) > 0 || rev > 0 {
		used := 0
		var created []string
		_, err := x.st.Update(ctx, func(stx store.Txn) error {
			used, created = 0, created[:0]
			writes := 0
			tx := NewTx(ctx, stx, "system:title-indexer", time.Now())
			for used < len(ops) && writes+5 <= max(5, x.BatchOps-1) {
				op := ops[used]
				used++
				id := TitleID(op.title)
				writes++
				if op.item == nil {
					if err := stx.Delete(titleHostKey(id, op.host)); err != nil {
						return err
					}
					continue
				}
				if !x.known[id] {
					if _, err := tx.CI(id); errors.Is(err, ErrNotFound) {
						title := &CI{ID: id, Class: ClassSoftware, Name: op.title, State: "use",
							Attrs: map[string]Attr{"publisher": {Value: op.item.Publisher, Source: SourceAgent, Updated: tx.Now()}}}
						if op.item.Publisher == "" {
							title.Attrs = nil
						}
						if _, err := tx.PutCI(nil, title); err != nil {
							return err
						}
						writes += 4
					} else if err != nil {
						return err
					}
					created = append(created, id)
				}
				// The index entry keeps what an installed_on edge shows
				// (package, version, arch, source): the title is the key,
				// and the publisher lives on the title CI.
				v, err := Encode(Installed{Name: op.item.Name, Version: op.item.Version, Arch: op.item.Arch, Source: op.item.Source})
				if err != nil {
					return err
				}
				if err := stx.Put(titleHostKey(id, op.host), v); err != nil {
					return err
				}
			}
			if used == len(ops) && rev > 0 {
				return stx.Put(keySWIndexRev, []byte(strconv.FormatInt(rev, 10)))
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("title index batch: %w", err)
		}
		if len(x.known) > 200_000 {
			clear(x.known) // a bound on memory; titles are re-checked after
		}
		for _, id := range created {
			x.known[id] = true
		}
		ops = ops[used:]
		if len(ops) == 0 {
			if rev > 0 {
				x.done.Store(rev)
			}
			return nil
		}
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

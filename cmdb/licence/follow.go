package licence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"parc/cmdb"
	"parc/cmdb/store"
)

// swRecord decodes only what compliance needs of a cmdb.SoftwareRecord.
type swRecord struct {
	Items []Install `cbor:"1,keyasint"`
}

// loadFacts reads the licence facts of a host CI (a host without a CI
// counts as one core and its own user).
func loadFacts(ctx context.Context, r store.Reader, host string) (HostFacts, error) {
	v, err := r.Get(ctx, []byte(cmdb.PrefixCI+host))
	if errors.Is(err, store.ErrNotFound) {
		return HostFacts{Name: host, Cores: 1}, nil
	}
	if err != nil {
		return HostFacts{}, err
	}
	var ci cmdb.CI
	if err := cmdb.Decode(v, &ci); err != nil {
		return HostFacts{}, fmt.Errorf("host %s: %w", host, err)
	}
	return FactsOf(&ci), nil
}

// Full builds the compliance of every entitlement from every host's
// software record in r.
func Full(ctx context.Context, r store.Reader) (*Compliance, error) {
	ents, err := List(ctx, r)
	if err != nil {
		return nil, err
	}
	c := NewCompliance(ents)
	if len(ents) == 0 {
		return c, nil
	}
	rg := store.Range{Prefix: []byte(cmdb.PrefixSoftware), Limit: 256}
	for {
		kvs, err := r.Scan(ctx, rg)
		if err != nil {
			return nil, err
		}
		for _, kv := range kvs {
			if err := c.apply(ctx, r, string(kv.Key[len(cmdb.PrefixSoftware):]), kv.Value, false); err != nil {
				return nil, err
			}
		}
		if len(kvs) < rg.Limit {
			return c, nil
		}
		rg.After = kvs[len(kvs)-1].Key
	}
}

// apply folds one host's software record (nil: deleted) into c. With
// check, a host whose licensed installs did not change is skipped without
// reading its CI.
func (c *Compliance) apply(ctx context.Context, r store.Reader, host string, value []byte, check bool) error {
	var all []Install
	if value != nil {
		var err error
		if all, err = c.licensedInstalls(value); err != nil {
			return fmt.Errorf("software of %s: %w", host, err)
		}
	}
	items := c.Filter(all)
	if check && c.Unchanged(host, items) {
		return nil
	}
	var facts HostFacts
	if len(items) > 0 {
		var err error
		if facts, err = loadFacts(ctx, r, host); err != nil {
			return err
		}
		if facts.Retired {
			items = nil
		}
	}
	c.setFiltered(host, facts, items)
	return nil
}

// ApplyEvent folds one change of the software feed into c, reading the
// host's facts from r when its licensed installs changed.
func (c *Compliance) ApplyEvent(ctx context.Context, r store.Reader, ev store.Event) error {
	host := string(ev.Key[len(cmdb.PrefixSoftware):])
	if ev.Type == store.EventDelete {
		return c.apply(ctx, r, host, nil, true)
	}
	return c.apply(ctx, r, host, ev.Value, true)
}

// Compute builds the compliance report from the store now.
func Compute(ctx context.Context, st store.Store, now time.Time, limit int) (*Report, error) {
	rev, err := st.Rev(ctx)
	if err != nil {
		return nil, err
	}
	var rep *Report
	err = st.View(ctx, func(r store.Reader) error {
		c, err := Full(ctx, r)
		if err != nil {
			return err
		}
		rep = c.Report(now, limit)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("licence compliance: %w", err)
	}
	rep.Rev = rev
	return rep, nil
}

// LoadReport returns the report the follower last stored, or
// cmdb.ErrNotFound.
func LoadReport(ctx context.Context, r store.Reader) (*Report, error) {
	v, err := r.Get(ctx, []byte(KeyReport))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("licence compliance report: %w", cmdb.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	rep := &Report{}
	return rep, cmdb.Decode(v, rep)
}

// Follower keeps the compliance report up to date: a full computation at
// start, on every entitlement change and every RecomputeEvery, and
// incremental updates from the software feed in between. It stores the
// report under KeyReport at most every FlushEvery. Run it as a singleton
// job.
type Follower struct {
	st  store.Store
	log *slog.Logger
	// Now gives the time reports are judged at (time.Now by default).
	Now func() time.Time
	// FlushEvery is the longest a changed report waits to be stored (1s).
	FlushEvery time.Duration
	// RecomputeEvery refreshes host facts (cores, owner, retirement) that
	// the feed of software records does not carry (1h).
	RecomputeEvery time.Duration
	// ReportLimit caps the unlicensed installs listed in the stored report
	// (1000), keeping it well under the store's value limit.
	ReportLimit int

	done atomic.Int64
}

// NewFollower returns a Follower over st.
func NewFollower(st store.Store, log *slog.Logger) *Follower {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Follower{st: st, log: log.With("component", "licence-compliance"), Now: time.Now,
		FlushEvery: time.Second, RecomputeEvery: time.Hour, ReportLimit: 1000}
}

// Done returns the last store revision reflected in the stored report.
func (f *Follower) Done() int64 { return f.done.Load() }

var errRebuild = errors.New("rebuild")

// Run follows the feeds until ctx ends.
func (f *Follower) Run(ctx context.Context) error {
	for {
		rev, err := f.st.Rev(ctx)
		if err != nil {
			return err
		}
		var c *Compliance
		err = f.st.View(ctx, func(r store.Reader) error {
			var err error
			c, err = Full(ctx, r)
			return err
		})
		if err != nil {
			return fmt.Errorf("licence compliance: %w", err)
		}
		if err := f.publish(ctx, c, rev); err != nil {
			return err
		}
		err = f.follow(ctx, c, rev)
		if ctx.Err() != nil {
			return nil
		}
		if !errors.Is(err, errRebuild) {
			return err
		}
	}
}

func (f *Follower) follow(ctx context.Context, c *Compliance, rev int64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sw, err := f.st.Watch(ctx, []byte(cmdb.PrefixSoftware), rev)
	if err != nil {
		return err
	}
	ents, err := f.st.Watch(ctx, []byte(PrefixEntitlement), rev)
	if err != nil {
		return err
	}
	every, again := f.FlushEvery, f.RecomputeEvery
	if every <= 0 {
		every = time.Hour // publish after every transaction instead
	}
	if again <= 0 {
		again = 24 * time.Hour
	}
	flush := time.NewTicker(every)
	defer flush.Stop()
	recompute := time.NewTimer(again)
	defer recompute.Stop()
	dirty, last, rebuild := false, rev, false
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-sw:
			if !ok {
				return ctx.Err()
			}
			if ev.Err != nil {
				if errors.Is(ev.Err, store.ErrCompacted) {
					f.log.Warn("software feed compacted; recomputing")
					return errRebuild
				}
				return ev.Err
			}
			if err := c.ApplyEvent(ctx, f.st, ev); err != nil {
				return err
			}
			dirty, last = true, ev.Rev
			if ev.Last && len(sw) == 0 && f.FlushEvery <= 0 {
				if err := f.publish(ctx, c, last); err != nil {
					return err
				}
				dirty = false
			}
		case ev, ok := <-ents:
			if !ok {
				return ctx.Err()
			}
			if ev.Err != nil && !errors.Is(ev.Err, store.ErrCompacted) {
				return ev.Err
			}
			// Entitlements change the products followed: recompute, once
			// per flush period however many change (an import).
			if f.FlushEvery <= 0 {
				return errRebuild
			}
			rebuild = true
		case <-flush.C:
			if rebuild {
				return errRebuild
			}
			if dirty {
				if err := f.publish(ctx, c, last); err != nil {
					return err
				}
				dirty = false
			}
		case <-recompute.C:
			return errRebuild
		}
	}
}

// publish stores c's report as of rev.
func (f *Follower) publish(ctx context.Context, c *Compliance, rev int64) error {
	rep := c.Report(f.Now(), f.ReportLimit)
	rep.Rev = rev
	v, err := cmdb.Encode(rep)
	if err != nil {
		return err
	}
	if _, err := f.st.Update(ctx, func(tx store.Txn) error { return tx.Put([]byte(KeyReport), v) }); err != nil {
		return fmt.Errorf("store compliance report: %w", err)
	}
	f.done.Store(rev)
	return nil
}

package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"parc/cmdb"
	"parc/cmdb/audit"
	"parc/cmdb/store"
)

// Staleness defaults.
const (
	DefaultStaleAfter  = 7 * 24 * time.Hour
	DefaultRetireAfter = 30 * 24 * time.Hour
	// DefaultSweepEvery is how often the sweeper runs.
	DefaultSweepEvery = 10 * time.Minute
)

// Host flags the engine and the sweeper set.
const (
	FlagStale              = "stale"
	FlagRetirementProposed = "retirement_proposed"
	FlagDuplicateIdentity  = "duplicate_identity"
)

// revive clears the stale flags of a host that sent a heartbeat.
func (e *Engine) revive(tx *cmdb.Tx, host *cmdb.CI, res *Result) (*cmdb.CI, error) {
	if !host.Flags[FlagStale] && !host.Flags[FlagRetirementProposed] {
		return host, nil
	}
	host, err := tx.Whole(host)
	if err != nil {
		return nil, err
	}
	next := cloneCI(host)
	delete(next.Flags, FlagStale)
	delete(next.Flags, FlagRetirementProposed)
	if len(next.Flags) == 0 {
		next.Flags = nil
	}
	if _, err := tx.PutCI(host, next); err != nil {
		return nil, err
	}
	res.Revived = true
	res.Changed++
	return next, nil
}

// Sweeper marks hosts whose agents went quiet: stale after StaleAfter,
// proposed for retirement after RetireAfter. It never deletes anything.
// Marking a host stale also records a host_stale condition under ev/
// (OK=false) that the incident module follows; the host's next report
// clears the flags and records the condition OK again. Run it as a
// singleton job.
type Sweeper struct {
	st  store.Store
	log *slog.Logger
	// StaleAfter, RetireAfter and Every default to the Default* constants.
	StaleAfter  time.Duration
	RetireAfter time.Duration
	Every       time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// NewSweeper returns a sweeper over st.
func NewSweeper(st store.Store, log *slog.Logger) *Sweeper {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sweeper{st: st, log: log.With("component", "stale-sweeper"), StaleAfter: DefaultStaleAfter,
		RetireAfter: DefaultRetireAfter, Every: DefaultSweepEvery, Now: time.Now}
}

// Validate checks the sweeper's settings.
func (s *Sweeper) Validate() error {
	if s.StaleAfter <= 0 || s.RetireAfter <= s.StaleAfter {
		return fmt.Errorf("stale-after %v and retire-after %v: want 0 < stale-after < retire-after: %w", s.StaleAfter, s.RetireAfter, cmdb.ErrInvalid)
	}
	return nil
}

// Run sweeps every Every until ctx ends.
func (s *Sweeper) Run(ctx context.Context) error {
	if err := s.Validate(); err != nil {
		return err
	}
	t := time.NewTicker(s.Every)
	defer t.Stop()
	for {
		if res, err := s.Sweep(ctx, s.Now()); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.log.Warn("sweep failed", "err", err)
		} else if res.Stale+res.Proposed > 0 {
			s.log.Info("sweep", "stale", res.Stale, "retirement_proposed", res.Proposed)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// SweepResult counts what one sweep marked.
type SweepResult struct {
	Hosts    int
	Stale    int
	Proposed int
}

// Sweep marks, as of now, every host whose newest agent report is older
// than StaleAfter (RetireAfter). A host reported by several agents (a
// reimaged machine) counts as seen when any of them reported.
func (s *Sweeper) Sweep(ctx context.Context, now time.Time) (SweepResult, error) {
	var res SweepResult
	last := map[string]time.Time{}
	var after []byte
	for {
		kvs, err := s.st.Scan(ctx, store.Range{Prefix: []byte(PrefixAgent), After: after, Limit: 1000})
		if err != nil {
			return res, fmt.Errorf("sweep: scan agents: %w", err)
		}
		for _, kv := range kvs {
			var rec AgentRecord
			if err := cmdb.Decode(kv.Value, &rec); err != nil {
				return res, err
			}
			if rec.HostID != "" && rec.LastSeen.After(last[rec.HostID]) {
				last[rec.HostID] = rec.LastSeen
			}
		}
		if len(kvs) < 1000 {
			break
		}
		after = kvs[len(kvs)-1].Key
	}
	res.Hosts = len(last)
	var batch []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		n, p, err := s.mark(ctx, batch, last, now)
		res.Stale += n
		res.Proposed += p
		batch = batch[:0]
		return err
	}
	for host, seen := range last {
		if now.Sub(seen) < s.StaleAfter {
			continue
		}
		batch = append(batch, host)
		if len(batch) == 20 { // ≤ 5 writes a host: well under store.MaxTxnOps
			if err := flush(); err != nil {
				return res, err
			}
		}
	}
	return res, flush()
}

// mark flags the hosts in one transaction.
func (s *Sweeper) mark(ctx context.Context, hosts []string, last map[string]time.Time, now time.Time) (stale, proposed int, err error) {
	_, err = s.st.Update(ctx, func(stx store.Txn) error {
		stale, proposed = 0, 0
		tx := cmdb.NewTx(ctx, stx, "system:stale-sweeper", now)
		for _, id := range hosts {
			ci, err := tx.CI(id)
			if errors.Is(err, cmdb.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			age := now.Sub(last[id])
			next := cloneCI(ci)
			next.Flags[FlagStale] = true
			if age >= s.RetireAfter {
				next.Flags[FlagRetirementProposed] = true
			}
			changed, err := tx.PutCI(ci, next)
			if err != nil || !changed {
				return err
			}
			action := "ci.mark_stale"
			if !ci.Flags[FlagStale] {
				stale++
				ev := EventRecord{Host: id, Kind: EventHostStale, Subject: "agent", OK: false, Count: 1, At: now.UTC(),
					Message: fmt.Sprintf("no report since %s", last[id].UTC().Format(time.RFC3339))}
				v, err := cmdb.Encode(ev)
				if err != nil {
					return err
				}
				if err := stx.Put(EventKey(id, EventHostStale, "agent"), v); err != nil {
					return err
				}
			}
			if next.Flags[FlagRetirementProposed] && !ci.Flags[FlagRetirementProposed] {
				proposed++
				action = "ci.propose_retirement"
			}
			if err := audit.Record(stx, audit.Entry{At: now, Actor: "system:stale-sweeper", Action: action, Object: "ci/" + id,
				Before: ci.Flags, After: next.Flags, Detail: "last report " + last[id].UTC().Format(time.RFC3339)}); err != nil {
				return err
			}
		}
		return nil
	})
	return stale, proposed, err
}

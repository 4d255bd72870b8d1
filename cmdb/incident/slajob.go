package incident

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"parc/cmdb/audit"
	"parc/cmdb/store"
)

// SLAActor is the actor the SLA job records.
const SLAActor = "system:incident-sla"

// SweepSLA recomputes the SLA clocks of every open incident at now and
// stores the breach and near-breach flags that changed, a bounded batch
// per transaction. It returns how many incidents changed.
func (s *Service) SweepSLA(ctx context.Context, now time.Time) (int, error) {
	now = now.UTC()
	cfg, err := LoadConfig(ctx, s.st)
	if err != nil {
		return 0, err
	}
	cal, err := cfg.Calendar.compile()
	if err != nil {
		return 0, err
	}
	prefix := idxPrefix("open", "1")
	var after []byte
	changed := 0
	for {
		kvs, err := s.st.Scan(ctx, store.Range{Prefix: prefix, After: after, Limit: 500})
		if err != nil {
			return changed, err
		}
		var due []int64
		for _, kv := range kvs {
			seq, err := seqOfKey(kv.Key)
			if err != nil {
				continue
			}
			in, _, err := load(ctx, s.st, seq)
			if err != nil {
				continue
			}
			if flags(in, cfg, cal, now) != in.SLA.clean() {
				due = append(due, seq)
			}
		}
		for len(due) > 0 {
			batch := due[:min(20, len(due))]
			due = due[len(batch):]
			n, err := s.flagBatch(ctx, batch, now)
			changed += n
			if err != nil {
				return changed, err
			}
		}
		if len(kvs) < 500 {
			return changed, nil
		}
		after = kvs[len(kvs)-1].Key
	}
}

func (f SLAFlags) clean() SLAFlags { f.Checked = time.Time{}; return f }

func flags(in *Incident, cfg Config, cal *calendar, now time.Time) SLAFlags {
	st := slaWith(in, cfg, cal, now)
	return SLAFlags{ResponseBreached: st.ResponseBreached, ResolutionBreached: st.ResolutionBreached, NearBreach: st.NearBreach}
}

func (s *Service) flagBatch(ctx context.Context, seqs []int64, now time.Time) (int, error) {
	n := 0
	_, err := s.st.Update(ctx, func(tx store.Txn) error {
		n = 0
		cfg, err := LoadConfig(ctx, tx)
		if err != nil {
			return err
		}
		cal, err := cfg.Calendar.compile()
		if err != nil {
			return err
		}
		for _, seq := range seqs {
			cur, _, err := load(ctx, tx, seq)
			if err != nil {
				return err
			}
			if !IsOpen(cur.Status) {
				continue
			}
			f := flags(cur, cfg, cal, now)
			if f == cur.SLA.clean() {
				continue
			}
			next := cur.clone()
			f.Checked = now
			next.SLA = f
			var what []string
			if f.ResponseBreached && !cur.SLA.ResponseBreached {
				what = append(what, "response SLA breached")
			}
			if f.ResolutionBreached && !cur.SLA.ResolutionBreached {
				what = append(what, "resolution SLA breached")
			}
			if f.NearBreach && !cur.SLA.NearBreach {
				what = append(what, "SLA near breach")
			}
			for _, w := range what {
				addEntry(next, Entry{At: now, Actor: SLAActor, Kind: EntrySLA, Text: w})
			}
			if err := write(tx, cur, next); err != nil {
				return err
			}
			if err := audit.Record(tx, audit.Entry{At: now, Actor: SLAActor, Action: "incident.sla", Object: "incident/" + cur.Number,
				Before: cur.SLA, After: next.SLA}); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// SLAJob runs SweepSLA every Every (default one minute). It is a
// singleton job.
type SLAJob struct {
	S     *Service
	Every time.Duration
	Now   func() time.Time
	Log   *slog.Logger
}

// Run sweeps until ctx ends.
func (j *SLAJob) Run(ctx context.Context) error {
	every, now, log := j.Every, j.Now, j.Log
	if every <= 0 {
		every = time.Minute
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := j.S.SweepSLA(ctx, now())
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("SLA sweep: %w", err)
		}
		if n > 0 {
			log.Info("SLA flags updated", "incidents", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

package collector

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"parc/cmdb/store"
)

// Job is a background job of the collector.
type Job struct {
	Name string
	// Singleton jobs run on one collector of a cluster only: the leader
	// elected through the store (fenced by the leadership revision).
	Singleton bool
	// Run runs until ctx ends; leadership loss cancels ctx.
	Run func(ctx context.Context) error
}

// LeaseTTL is how long a dead leader holds a singleton job.
const LeaseTTL = 10 * time.Second

// runJob runs j until ctx ends, restarting it after an error, and for
// singleton jobs only while this collector leads it.
func runJob(ctx context.Context, st store.Store, j Job, log *slog.Logger) {
	log = log.With("job", j.Name)
	locker, _ := st.(store.Locker)
	for ctx.Err() == nil {
		jctx, cancel := context.WithCancel(ctx)
		if j.Singleton && locker != nil {
			lead, err := locker.Campaign(ctx, "job/"+j.Name, LeaseTTL)
			if err != nil {
				cancel()
				if ctx.Err() == nil {
					log.Warn("campaign failed", "err", err)
					sleep(ctx, time.Second)
				}
				continue
			}
			log.Info("leading job", "fence_rev", lead.Rev())
			go func() {
				select {
				case <-lead.Done():
					log.Warn("leadership lost")
				case <-jctx.Done():
				}
				cancel()
			}()
			err = j.Run(jctx)
			cancel()
			_ = lead.Resign(context.Background())
			if err != nil && !errors.Is(err, context.Canceled) {
				log.Error("job failed; restarting", "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		err := j.Run(jctx)
		cancel()
		if err != nil && !errors.Is(err, context.Canceled) {
			log.Error("job failed; restarting", "err", err)
			sleep(ctx, time.Second)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

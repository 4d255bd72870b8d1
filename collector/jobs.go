package collector

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"parc/cmdb/store"
)

// Job is a background job of the collector.
type Job struct {
	Name string
	// Singleton jobs run on one collector of a cluster only: the leader
	// elected through the store. Their context is fenced by the leadership
	// (store.WithFence): once it is lost, their Updates fail with
	// store.ErrFenced instead of committing, checked by etcd in the commit.
	Singleton bool
	// Run runs until ctx ends; leadership loss cancels ctx. Run must make
	// its writes with ctx (or a context derived from it) to be fenced.
	Run func(ctx context.Context) error
}

// LeaseTTL is how long a dead leader holds a singleton job: a collector
// killed while leading is replaced by another within about this time.
const LeaseTTL = 10 * time.Second

// runJob runs j until ctx ends, restarting it after an error, and for
// singleton jobs only while this collector leads it. leading, when set,
// is 1 for the job while this collector runs it.
func runJob(ctx context.Context, st store.Store, j Job, log *slog.Logger, leading *prometheus.GaugeVec) {
	log = log.With("job", j.Name)
	locker, _ := st.(store.Locker)
	setLeading := func(v float64) {
		if leading != nil {
			leading.WithLabelValues(j.Name).Set(v)
		}
	}
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
			setLeading(1)
			go func() {
				select {
				case <-lead.Done():
					log.Warn("leadership lost")
				case <-jctx.Done():
				}
				cancel()
			}()
			err = j.Run(store.WithFence(jctx, lead))
			cancel()
			setLeading(0)
			resign(lead)
			switch {
			case errors.Is(err, store.ErrFenced):
				log.Warn("job fenced off: leadership lost")
			case err != nil && !errors.Is(err, context.Canceled):
				log.Error("job failed; restarting", "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		setLeading(1)
		err := j.Run(jctx)
		cancel()
		setLeading(0)
		if err != nil && !errors.Is(err, context.Canceled) {
			log.Error("job failed; restarting", "err", err)
			sleep(ctx, time.Second)
		}
	}
}

// resign gives lead up, waiting at most 5s: with the store unreachable
// (etcd down while the collector stops) the lease simply expires.
func resign(lead store.Leadership) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { _ = lead.Resign(ctx); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
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

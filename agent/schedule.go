package agent

import (
	"context"
	"time"

	"parc/agent/gather"
)

// gatherRun is the one place the runtime gathers.
func gatherRun(ctx context.Context, a *agent) gather.Result {
	return gather.Run(ctx, a.env, a.gatherers)
}

// schedule runs one cycle now (FULL) and then one per jittered heartbeat
// interval, FULL again whenever the jittered full interval has passed. Cycles
// run one after the other in this goroutine, so a run never overlaps the
// previous one, and the next wait starts only when a cycle is over.
func (a *agent) schedule(ctx context.Context) {
	nextFull := time.Now()
	for {
		now := time.Now()
		full := !now.Before(nextFull)
		if full {
			nextFull = now.Add(jittered(a.cfg.FullInterval, a.cfg.Jitter))
		}
		a.cycle(ctx, full)
		t := time.NewTimer(jittered(a.cfg.HeartbeatInterval, a.cfg.Jitter))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-a.cycleNow:
			t.Stop()
		}
	}
}

package agent

import (
	"context"
	"errors"
	"time"

	"parc/agent/spool"
	"parc/agent/uplink"
)

// drain sends spooled reports in order over one stream, removing each once
// acknowledged, reconnecting with jittered exponential backoff. With
// until != 0 it returns nil once the report at that index has left the
// spool; otherwise it runs until ctx ends and returns ctx's error with the
// last delivery error.
func (a *agent) drain(ctx context.Context, until uint64) error {
	var st *uplink.Stream
	defer func() {
		if st != nil {
			st.Close()
		}
	}()
	attempt := 0
	var last error
	wait := func() error {
		d := backoff(attempt, a.cfg.RetryMin, a.cfg.RetryMax)
		if a.cfg.Once {
			d = backoff(attempt, min(a.cfg.RetryMin, 250*time.Millisecond), 2*time.Second)
		}
		attempt++
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), last)
		case <-t.C:
			a.client.ResetBackoff()
			return nil
		}
	}
	for {
		if until != 0 && !a.spool.Contains(until) {
			return nil
		}
		idx, r, err := a.spool.Peek()
		if errors.Is(err, spool.ErrEmpty) {
			if until != 0 {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-a.wake:
			}
			continue
		}
		if st == nil {
			if st, err = a.client.Open(ctx); err != nil {
				st, last = nil, err
				a.log.Debug("collector unreachable", "attempt", attempt, "err", err)
				if err := wait(); err != nil {
					return err
				}
				continue
			}
		}
		dctx, cancel := context.WithTimeout(ctx, deliverTimeout)
		ack, err := st.Deliver(dctx, r)
		cancel()
		if err != nil {
			st.Close()
			st, last = nil, err
			a.log.Info("delivery failed; will retry", "sequence", r.Sequence, "attempt", attempt, "err", err)
			if err := wait(); err != nil {
				return err
			}
			continue
		}
		attempt = 0
		if err := a.spool.Remove(idx); err != nil {
			a.log.Error("cannot remove acknowledged report", "err", err)
		}
		a.softwareChanges.Store(ack.GetSoftwareChanges())
		resync := ack.GetResync()
		if r.GetSoftwareChanges() != nil && !ack.GetSoftwareChanges() {
			// Spooled for a collector that applied package changes, taken
			// by one that does not: it ignored them, so restate all.
			a.log.Info("collector does not apply package changes: sending a full report")
			resync = true
		}
		if resync {
			if ack.GetResync() {
				a.log.Info("collector asked for a full report")
			}
			a.forceFull.Store(true)
			select {
			case a.cycleNow <- struct{}{}:
			default:
			}
		}
	}
}

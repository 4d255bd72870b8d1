package agent

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	parcv1 "parc/proto/parc/v1"
)

// cycle gathers the machine, builds the next report and spools it. It
// returns the spool index, or false when nothing was spooled: a heartbeat
// skipped while a backlog is waiting, or a spool failure (err, also
// logged).
func (a *agent) cycle(ctx context.Context, full bool) (idx uint64, spooled bool, err error) {
	defer debug.FreeOSMemory() // give the gather's garbage back before idling
	start := time.Now()
	res := gatherRun(ctx, a)
	full = a.forceFull.Swap(false) || full
	a.tracker.SoftwareChanges = a.softwareChanges.Load()
	p := a.tracker.Next(res.Inventory, full)
	if p.Kind == parcv1.Report_FULL {
		a.monitor.Reset() // a FULL report restates every open problem
	}
	events := a.monitor.Check(ctx, a.tracker.Current(), time.Now())

	errs := res.Errors
	if a.dropped > 0 {
		errs = append(errs, &parcv1.GatherError{Gatherer: "spool", Message: fmt.Sprintf(
			"dropped %d unacknowledged reports, oldest first: spool over its %d byte cap", a.dropped, a.cfg.SpoolMaxBytes)})
	}
	errKey := errorsKey(errs)
	sendErrs := p.Kind == parcv1.Report_FULL || errKey != a.lastErrs
	if p.Kind == parcv1.Report_HEARTBEAT && len(events) == 0 && !sendErrs && a.spool.Len() > 0 {
		// A heartbeat says nothing a report already waiting will not.
		return 0, false, nil
	}
	a.seq++
	r := &parcv1.Report{
		AgentId:       a.agentID,
		BootId:        a.bootID,
		Sequence:      a.seq,
		Kind:          p.Kind,
		CollectedAt:   start.UnixMilli(),
		AgentVersion:  Version,
		SectionHashes: p.Hashes,
		Inventory:     p.Inventory,
		Events:        events,
		// Package changes instead of a changed software list, when the
		// collector applies them.
		SoftwareChanges: p.SoftwareChanges,
	}
	if sendErrs {
		r.Errors = errs
	}
	idx, dropped, err := a.spool.Put(r)
	if dropped > 0 {
		a.log.Warn("spool full: dropped oldest reports", "dropped", dropped, "total_dropped", a.spool.Dropped())
		if r.Kind != parcv1.Report_FULL {
			// Deltas left in the spool may build on a dropped report: send
			// a FULL one next so the collector can rebuild.
			a.forceFull.Store(true)
		}
	}
	if err != nil {
		a.dropped += dropped
		a.forceFull.Store(true)
		a.log.Error("report lost: cannot spool it", "sequence", r.Sequence, "err", err)
		return 0, false, err
	}
	a.lastErrs = errKey
	a.dropped = dropped // announced in the next report
	a.log.Debug("report spooled", "sequence", r.Sequence, "kind", r.Kind, "changed", p.Changed,
		"events", len(events), "took", time.Since(start))
	select {
	case a.wake <- struct{}{}:
	default:
	}
	return idx, true, nil
}

func errorsKey(errs []*parcv1.GatherError) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString(e.Gatherer)
		b.WriteByte(0)
		b.WriteString(e.Message)
		b.WriteByte(0)
	}
	return b.String()
}

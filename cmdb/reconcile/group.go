package reconcile

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"parc/cmdb"
	"parc/cmdb/store"
)

// Group commit: a report arriving while another goroutine commits waits in
// a queue; the committing goroutine then applies the queued reports
// together, in one store transaction, before it returns. Many small reports
// (heartbeats, deltas) so share one commit (and one fsync). A batch is
// bounded by an estimate of its writes and bytes; if it breaks a store
// limit or any report in it fails, each of its reports is applied alone,
// so one bad report never fails the others.

// pendingReport is a report waiting for its batch.
type pendingReport struct {
	ctx  context.Context
	r    *Report
	now  time.Time
	res  Result
	err  error
	done chan struct{}
}

// batchMax is the most reports in one batch. The store's limits
// (store.LimitsOf: Badger takes wide transactions, etcd the portable
// ones) bound it further, through an estimate of each report's writes and
// bytes; the fallback covers a wrong guess.
const batchMax = 64

// batchMin is the fewest reports a batch takes from a long queue (see
// takeBatch).
const batchMin = 8

// pkgBytes estimates the bytes a package adds to a transaction: its share of
// the software record, which is smaller compressed but never larger.
const pkgBytes = 64

// maxCommitters is how many batches are prepared at once: while one
// commits, another applies its reports on the other core.
var maxCommitters = max(2, runtime.GOMAXPROCS(0))

// cost estimates the writes and bytes of applying r.
func cost(r *Report) (writes, bytes int) {
	switch {
	case r.Kind == Heartbeat:
		return 3, 512
	case r.Kind == Full:
		return 64, 4096 + pkgBytes*len(r.Inventory.Software)
	}
	writes, bytes = 4, 1024
	for s := range r.Sections {
		switch s {
		case SecSoftware:
			writes, bytes = writes+3, bytes+pkgBytes*len(r.Inventory.Software)
		case SecSockets:
			writes += 8
		case SecSystem, SecFirmware, SecCPU, SecDisks, SecNICs, SecDevices:
			writes += 12
		default:
			writes++
		}
	}
	return writes, bytes
}

func (e *Engine) applyGrouped(ctx context.Context, r *Report, now time.Time) (Result, error) {
	p := &pendingReport{ctx: ctx, r: r, now: now, done: make(chan struct{})}
	e.gmu.Lock()
	e.queue = append(e.queue, p)
	if e.committers >= maxCommitters {
		e.gmu.Unlock()
		select {
		case <-p.done:
			return p.res, p.err
		case <-ctx.Done():
			// The batch may still commit it: the agent resends and the
			// replay is recognised.
			return Result{}, fmt.Errorf("apply report %s/%s#%d: %w", r.AgentID, r.BootID, r.Seq, ctx.Err())
		}
	}
	e.committers++
	for {
		batch := e.takeBatch()
		e.gmu.Unlock()
		e.commitBatch(batch)
		e.gmu.Lock()
		if len(e.queue) == 0 {
			e.committers--
			e.gmu.Unlock()
			break
		}
	}
	<-p.done
	return p.res, p.err
}

// takeBatch removes the next batch from the queue (e.gmu held): reports
// of distinct agents, in arrival order, within the estimates.
func (e *Engine) takeBatch() []*pendingReport {
	var batch, rest []*pendingReport
	agents := map[string]bool{}
	writes, bytes := 0, 0
	maxWrites, maxBytes := e.limits.Ops-8, e.limits.Bytes/2
	// A share of a long queue, so that the other committers apply the
	// rest at the same time instead of one applying it all while they
	// wait.
	most := min(batchMax, max(batchMin, (len(e.queue)+maxCommitters-1)/maxCommitters))
	for i, p := range e.queue {
		w, b := cost(p.r)
		if len(batch) > 0 && (len(batch) >= most || writes+w > maxWrites || bytes+b > maxBytes) {
			rest = append(rest, e.queue[i:]...)
			break
		}
		if agents[p.r.AgentID] || p.ctx.Err() != nil {
			if p.ctx.Err() == nil {
				rest = append(rest, p) // the same agent's next report: a later batch
			} else {
				p.err = fmt.Errorf("apply report %s/%s#%d: %w", p.r.AgentID, p.r.BootID, p.r.Seq, p.ctx.Err())
				close(p.done)
			}
			continue
		}
		agents[p.r.AgentID] = true
		writes, bytes = writes+w, bytes+b
		batch = append(batch, p)
	}
	e.queue = rest
	return batch
}

// commitBatch applies the batch in one transaction, or each report alone
// when the batch fails.
func (e *Engine) commitBatch(batch []*pendingReport) {
	if len(batch) == 0 {
		return
	}
	if len(batch) == 1 {
		p := batch[0]
		p.res, p.err = e.applyOne(p.ctx, p.r, p.now)
		close(p.done)
		return
	}
	// The batch outlives any one caller's context: bound it on its own.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rev, err := e.st.Update(ctx, func(stx store.Txn) error {
		for _, p := range batch {
			p.res = Result{}
			// Counted per report: each has its own WriteBudget.
			ct := &countingTxn{Txn: stx}
			tx := cmdb.NewTx(ctx, ct, "agent:"+p.r.AgentID, p.now)
			if err := e.apply(ctx, tx, p.r, &p.res); err != nil {
				return err
			}
			p.res.Writes = ct.n
		}
		return nil
	})
	if err != nil {
		for _, p := range batch {
			p.res, p.err = e.applyOne(p.ctx, p.r, p.now)
			close(p.done)
		}
		return
	}
	for _, p := range batch {
		p.res.Rev = rev
		close(p.done)
	}
}

package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"parc/agent/delta"
	"parc/agent/gather"
	"parc/agent/uplink"
	parcv1 "parc/proto/parc/v1"
)

// agent is one run of the runtime.
type agent struct {
	cfg       Config
	log       *slog.Logger
	env       *gather.Env
	gatherers map[string]gather.Gatherer
	agentID   string
	bootID    string
	seq       uint64
	tracker   delta.Tracker
}

func newAgent(cfg Config) (*agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	id, err := loadOrCreateAgentID(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	a := &agent{
		cfg:       cfg,
		log:       log.With("component", "agent"),
		env:       NewEnv(cfg.Root, cfg.Source, cfg.Runner, log),
		gatherers: cfg.Gatherers,
		agentID:   id,
		bootID:    newID(),
	}
	if a.gatherers == nil {
		a.gatherers = gather.Default()
	}
	return a, nil
}

// NewEnv returns the gather environment of root, with the real Source and
// Runner unless replaced.
func NewEnv(root string, src gather.Source, run gather.Runner, log *slog.Logger) *gather.Env {
	if root == "" {
		root = "/"
	}
	if src == nil {
		src = gather.NewSource(root)
	}
	if run == nil {
		run = gather.ExecRunner{}
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &gather.Env{Root: root, Source: src, Runner: run, Logger: log.With("component", "gather")}
}

// Run runs the agent until ctx ends, or, with cfg.Once, until one FULL
// report is acknowledged.
func Run(ctx context.Context, cfg Config) error {
	a, err := newAgent(cfg)
	if err != nil {
		return err
	}
	a.log.Info("agent starting", "agent_id", a.agentID, "boot_id", a.bootID, "collector", cfg.Collector)
	if cfg.Once {
		return a.once(ctx)
	}
	return a.loop(ctx)
}

// nextReport gathers the machine and builds the next report.
func (a *agent) nextReport(ctx context.Context, full bool) *parcv1.Report {
	res := gather.Run(ctx, a.env, a.gatherers)
	p := a.tracker.Next(res.Inventory, full)
	a.seq++
	return &parcv1.Report{
		AgentId:       a.agentID,
		BootId:        a.bootID,
		Sequence:      a.seq,
		Kind:          p.Kind,
		CollectedAt:   time.Now().UnixMilli(),
		AgentVersion:  Version,
		SectionHashes: p.Hashes,
		Inventory:     p.Inventory,
		Errors:        res.Errors,
	}
}

func (a *agent) dial() (*uplink.Client, error) {
	return uplink.Dial(uplink.Config{Target: a.cfg.Collector, Credentials: a.cfg.Credentials, DialOptions: a.cfg.DialOptions})
}

// once delivers one FULL report, retrying until cfg.Timeout.
func (a *agent) once(ctx context.Context) error {
	r := a.nextReport(ctx, true)
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	c, err := a.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	var last error
	for attempt := 0; ; attempt++ {
		err := a.deliver(ctx, c, r)
		if err == nil {
			a.log.Info("report acknowledged", "sequence", r.Sequence, "kind", r.Kind)
			return nil
		}
		last = err
		a.log.Debug("delivery failed", "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s within %s: %w", ErrUnreachable, a.cfg.Collector, a.cfg.Timeout, last)
		case <-time.After(backoff(attempt, 250*time.Millisecond, 2*time.Second)):
		}
	}
}

func (a *agent) deliver(ctx context.Context, c *uplink.Client, r *parcv1.Report) error {
	st, err := c.Open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	_, err = st.Deliver(ctx, r)
	return err
}

// loop sends a FULL report and then one report per heartbeat interval.
func (a *agent) loop(ctx context.Context) error {
	c, err := a.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	full := true
	for {
		r := a.nextReport(ctx, full)
		if err := a.deliver(ctx, c, r); err != nil {
			a.log.Warn("delivery failed", "err", err)
		} else {
			full = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(jittered(a.cfg.HeartbeatInterval, a.cfg.Jitter)):
		}
	}
}

// InventoryReport wraps a gather result in a FULL report without identity,
// for `parc-agent inventory`.
func InventoryReport(res gather.Result) *parcv1.Report {
	return &parcv1.Report{
		Kind:          parcv1.Report_FULL,
		CollectedAt:   time.Now().UnixMilli(),
		AgentVersion:  Version,
		SectionHashes: delta.HashAll(res.Inventory),
		Inventory:     res.Inventory,
		Errors:        res.Errors,
	}
}

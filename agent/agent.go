package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"parc/agent/delta"
	"parc/agent/gather"
	"parc/agent/health"
	"parc/agent/spool"
	"parc/agent/uplink"
	parcv1 "parc/proto/parc/v1"
)

// agent is one run of the runtime. The scheduler goroutine owns tracker,
// monitor, seq and lastErrs; the sender goroutine owns the stream; they
// share the spool, forceFull and the wake channels.
type agent struct {
	cfg       Config
	log       *slog.Logger
	env       *gather.Env
	gatherers map[string]gather.Gatherer
	agentID   string
	bootID    string
	spool     *spool.Spool
	client    *uplink.Client

	seq      uint64
	tracker  delta.Tracker
	monitor  health.Monitor
	lastErrs string
	dropped  int

	forceFull atomic.Bool
	// softwareChanges follows the collector's last Ack: it applies
	// package changes (Report.software_changes).
	softwareChanges atomic.Bool
	wake            chan struct{} // a report was spooled
	cycleNow        chan struct{} // the collector asked for a resync
}

// deliverTimeout bounds the wait for one Ack.
const deliverTimeout = time.Minute

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
	sp, err := spool.Open(filepath.Join(cfg.StateDir, "spool"), cfg.SpoolMaxBytes)
	if err != nil {
		return nil, err
	}
	client, err := uplink.Dial(uplink.Config{Target: cfg.Collector, Credentials: cfg.Credentials, DialOptions: cfg.DialOptions})
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
		spool:     sp,
		client:    client,
		wake:      make(chan struct{}, 1),
		cycleNow:  make(chan struct{}, 1),
	}
	a.monitor.FSThresholdPercent = cfg.FSThresholdPercent
	if cfg.SMART {
		a.monitor.Runner = a.env.Runner
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
// report (and every report spooled before it) is acknowledged.
func Run(ctx context.Context, cfg Config) error {
	a, err := newAgent(cfg)
	if err != nil {
		return err
	}
	defer a.client.Close()
	a.log.Info("agent starting", "agent_id", a.agentID, "boot_id", a.bootID,
		"collector", cfg.Collector, "spooled", a.spool.Len())
	if cfg.Once {
		return a.once(ctx)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.drain(ctx, 0)
	}()
	a.schedule(ctx)
	<-done
	return nil
}

// once spools one FULL report and drains the spool up to it.
func (a *agent) once(ctx context.Context) error {
	idx, _, err := a.cycle(ctx, true)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	if err := a.drain(ctx, idx); err != nil {
		return fmt.Errorf("%w: %s within %s (the report stays spooled for the next run): %w",
			ErrUnreachable, a.cfg.Collector, a.cfg.Timeout, err)
	}
	a.log.Info("report acknowledged", "kind", "FULL")
	return nil
}

// InventoryJSON gathers the machine under root and returns the full report
// as indented JSON, for `parc-agent inventory`.
func InventoryJSON(ctx context.Context, root string, log *slog.Logger) ([]byte, error) {
	res := gather.Run(ctx, NewEnv(root, nil, nil, log), gather.Default())
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(InventoryReport(res))
	if err != nil {
		return nil, fmt.Errorf("encode inventory: %w", err)
	}
	return append(b, '\n'), nil
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

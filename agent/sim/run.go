package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	parcv1 "parc/proto/parc/v1"
)

// Config drives a simulation.
type Config struct {
	// Target is the collector's agent port (plaintext: --insecure-dev).
	Target string
	// Agents is the fleet size, Packages the packages per host.
	Agents, Packages int
	// Concurrency is how many reports are in flight at once.
	Concurrency int
	// AgentsPerConn shares one TCP connection between that many agents
	// (1: one connection per agent, as a real fleet).
	AgentsPerConn int
	// RunID makes agent ids unique per run.
	RunID string
	// DeltaMix weighs the kinds of delta (DefaultDeltaMix when zero).
	DeltaMix DeltaMix
	// Dial opens an agent's connection (nil: TCP to Target; tests: a
	// bufconn listener).
	Dial Dialer
	// CollectorPID, when set (Linux, collector on this machine), makes
	// each phase report the CPU time the collector used for it.
	CollectorPID int
}

// Validate fills defaults and checks the configuration.
func (c *Config) Validate() error {
	if c.Target == "" {
		return errors.New("sim: a collector address is required")
	}
	if c.Agents <= 0 || c.Packages < 0 {
		return fmt.Errorf("sim: agents %d, packages %d: want agents > 0", c.Agents, c.Packages)
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 32
	}
	if c.AgentsPerConn <= 0 {
		c.AgentsPerConn = 1
	}
	if c.RunID == "" {
		c.RunID = fmt.Sprintf("%x", time.Now().UnixNano()&0xffffff)
	}
	return nil
}

// Runner holds the fleet and its open connections.
type Runner struct {
	cfg   Config
	Fleet *Fleet
	conns []*wireConn
}

// Stats summarise one phase.
type Stats struct {
	Phase    string
	Reports  int
	Errors   int
	Resyncs  int
	Took     time.Duration
	P50, P99 time.Duration
	FirstErr error
	// CollectorCPU is the CPU time the collector used during the phase
	// (0 when unknown).
	CollectorCPU time.Duration
	// SimCPU is the CPU time the simulator itself used during the phase:
	// on a shared machine, what the collector could not have.
	SimCPU time.Duration
	// CollectorWrites is the bytes the collector had written to storage
	// during the phase (-1 when unknown).
	CollectorWrites int64
}

// Rate is reports per second.
func (s Stats) Rate() float64 { return float64(s.Reports) / s.Took.Seconds() }

func (s Stats) String() string {
	out := fmt.Sprintf("phase=%s reports=%d errors=%d resyncs=%d seconds=%.2f rate=%.0f/s p50=%s p99=%s",
		s.Phase, s.Reports, s.Errors, s.Resyncs, s.Took.Seconds(), s.Rate(), s.P50.Round(time.Microsecond), s.P99.Round(time.Microsecond))
	if s.CollectorCPU > 0 {
		// Reports per CPU-second of the collector, and what two dedicated
		// cores would sustain at that cost.
		per := float64(s.Reports) / s.CollectorCPU.Seconds()
		out += fmt.Sprintf(" collector_cpu_s=%.2f per_cpu_s=%.0f two_core_capacity=%.0f/s", s.CollectorCPU.Seconds(), per, 2*per)
	}
	if s.SimCPU > 0 {
		out += fmt.Sprintf(" sim_cpu_s=%.2f", s.SimCPU.Seconds())
	}
	if s.CollectorWrites >= 0 && s.Reports > 0 {
		out += fmt.Sprintf(" collector_write_mb=%.1f write_kb_per_report=%.1f", float64(s.CollectorWrites)/1e6, float64(s.CollectorWrites)/1e3/float64(s.Reports))
	}
	return out
}

// ProcessCPU returns the user+system CPU time of process pid (Linux; 0
// when unknown).
func ProcessCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) in parens.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// ProcessWrites returns the bytes process pid caused to be written to
// storage (write_bytes in /proc/PID/io: pages it dirtied, whether written
// by write or through a mapping; Linux), or -1 when unknown.
func ProcessWrites(pid int) int64 {
	if pid <= 0 {
		return -1
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				return n
			}
		}
	}
	return -1
}

// New builds the fleet (no network yet).
func New(cfg Config) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	f := NewFleet(cfg.Agents, cfg.Packages, cfg.RunID)
	f.Mix = cfg.DeltaMix
	return &Runner{cfg: cfg, Fleet: f}, nil
}

// Connect opens every agent's connection to the collector (64 dials at a
// time, each bounded to 30 s). Agents then deliver with Submit, one report
// at a time, as the real agent does; the connections stay open until
// Close.
func (r *Runner) Connect(ctx context.Context) error {
	n := (len(r.Fleet.Hosts) + r.cfg.AgentsPerConn - 1) / r.cfg.AgentsPerConn
	r.conns = make([]*wireConn, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range min(64, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				c, err := dialWire(dctx, r.cfg.Target, r.cfg.Dial)
				cancel()
				mu.Lock()
				if err != nil && first == nil {
					first = fmt.Errorf("connect agent %d: %w", i*r.cfg.AgentsPerConn, err)
				}
				r.conns[i] = c
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// Phase sends one report per agent, made by mk, with Concurrency reports
// in flight, and waits for every acknowledgement.
func (r *Runner) Phase(ctx context.Context, name string, mk func(h *Host) *parcv1.Report) Stats {
	n := len(r.Fleet.Hosts)
	// Build and encode the reports before timing (a real agent does that
	// on its own machine): the simulator shares the CPU with the
	// collector, so the clock should run for delivery only.
	reports := make([]rawReport, n)
	seqs := make([]uint64, n)
	for i, h := range r.Fleet.Hosts {
		rep := mk(h)
		seqs[i] = rep.GetSequence()
		b, err := proto.Marshal(rep)
		if err != nil {
			return Stats{Phase: name, Errors: n, FirstErr: fmt.Errorf("encode report %d: %w", i, err)}
		}
		reports[i] = b
	}
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var errs, resyncs atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	var cpu0 time.Duration
	w0 := ProcessWrites(r.cfg.CollectorPID)
	if r.cfg.CollectorPID > 0 {
		cpu0 = ProcessCPU(r.cfg.CollectorPID)
	}
	sim0 := ProcessCPU(os.Getpid())
	start := time.Now()
	for range min(r.cfg.Concurrency, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				t := time.Now()
				ack, err := deliver(ctx, r.conns[i/r.cfg.AgentsPerConn], reports[i], seqs[i])
				lat[i] = time.Since(t)
				reports[i] = nil
				if err != nil {
					errs.Add(1)
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("agent %d: %w", i, err)
					}
					mu.Unlock()
					continue
				}
				if ack.GetResync() {
					resyncs.Add(1)
				}
				r.Fleet.Hosts[i].SoftwareChanges = ack.GetSoftwareChanges()
			}
		}()
	}
	wg.Wait()
	st := Stats{Phase: name, Reports: n - int(errs.Load()), Errors: int(errs.Load()), Resyncs: int(resyncs.Load()),
		Took: time.Since(start), FirstErr: first, CollectorWrites: -1}
	if r.cfg.CollectorPID > 0 {
		st.CollectorCPU = ProcessCPU(r.cfg.CollectorPID) - cpu0
	}
	if w1 := ProcessWrites(r.cfg.CollectorPID); w0 >= 0 && w1 >= 0 {
		st.CollectorWrites = w1 - w0
	}
	st.SimCPU = ProcessCPU(os.Getpid()) - sim0
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	st.P50, st.P99 = lat[n/2], lat[min(n-1, n*99/100)]
	return st
}

// rawReport is a Report already encoded.
type rawReport []byte

// deliver submits one encoded report on c and checks its acknowledgement.
func deliver(ctx context.Context, c *wireConn, rep rawReport, seq uint64) (*parcv1.Ack, error) {
	b, err := c.Submit(ctx, rep)
	if err != nil {
		return nil, err
	}
	ack := new(parcv1.Ack)
	if err := proto.Unmarshal(b, ack); err != nil {
		return nil, fmt.Errorf("acknowledgement of report %d: %w", seq, err)
	}
	if ack.GetSequence() != seq {
		return ack, fmt.Errorf("ack of %d for report %d", ack.GetSequence(), seq)
	}
	return ack, nil
}

// Close closes every connection.
func (r *Runner) Close() {
	for _, c := range r.conns {
		if c != nil {
			c.Close()
		}
	}
}

// Command parc-sim drives a fleet of simulated agents against a collector
// over the real gRPC protocol: one full report per agent, then rounds of
// deltas, then (optionally) holds every stream open with heartbeats so the
// collector's memory can be measured with the fleet connected. The
// collector must accept plaintext agents (--insecure-dev).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"parc/agent/sim"
)

func main() {
	var cfg sim.Config
	flag.StringVar(&cfg.Target, "collector", "127.0.0.1:7443", "collector agent port (plaintext)")
	flag.IntVar(&cfg.Agents, "agents", 1000, "simulated agents")
	flag.IntVar(&cfg.Packages, "packages", 800, "packages per host")
	flag.IntVar(&cfg.Concurrency, "concurrency", 32, "reports in flight")
	flag.IntVar(&cfg.AgentsPerConn, "agents-per-conn", 1, "agents sharing one TCP connection (1: like a real fleet)")
	flag.StringVar(&cfg.RunID, "run-id", "", "suffix of agent ids (default: random, so each run is a new fleet)")
	flag.IntVar(&cfg.CollectorPID, "collector-pid", 0, "collector process id on this machine: report its CPU time per phase (Linux)")
	deltas := flag.Int("deltas", 3, "rounds of one delta per agent after the full reports")
	hold := flag.Duration("hold", 0, "keep every stream open this long after the deltas (heartbeats every --heartbeat)")
	heartbeat := flag.Duration("heartbeat", time.Minute, "heartbeat interval while holding")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, *deltas, *hold, *heartbeat); err != nil {
		fmt.Fprintf(os.Stderr, "parc-sim: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg sim.Config, deltas int, hold, heartbeat time.Duration) error {
	t := time.Now()
	r, err := sim.New(cfg)
	if err != nil {
		return err
	}
	defer r.Close()
	fmt.Printf("fleet agents=%d packages=%d built_in=%s\n", cfg.Agents, cfg.Packages, time.Since(t).Round(time.Millisecond))
	t = time.Now()
	if err := r.Connect(ctx); err != nil {
		return err
	}
	fmt.Printf("connected agents=%d in=%s\n", cfg.Agents, time.Since(t).Round(time.Millisecond))
	report := func(s sim.Stats) error {
		fmt.Println(s)
		if s.Errors > 0 {
			return fmt.Errorf("%s: %d reports failed, first: %v", s.Phase, s.Errors, s.FirstErr)
		}
		return nil
	}
	if err := report(r.Phase(ctx, "full", (*sim.Host).Full)); err != nil {
		return err
	}
	for i := range deltas {
		if err := report(r.Phase(ctx, fmt.Sprintf("delta%d", i+1), (*sim.Host).Delta)); err != nil {
			return err
		}
	}
	if hold <= 0 {
		return nil
	}
	fmt.Printf("holding agents=%d for=%s\n", cfg.Agents, hold)
	end := time.After(hold)
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-end:
			return nil
		case <-tick.C:
			if err := report(r.Phase(ctx, "heartbeat", (*sim.Host).Heartbeat)); err != nil {
				return err
			}
		}
	}
}

// Command parc-sim drives a fleet of simulated agents against a collector
// over gRPC (its wire protocol spoken directly, see agent/sim): one full
// report per agent, then rounds of deltas, then (optionally) holds every
// connection open with heartbeats so the collector's memory can be
// measured with the fleet connected. The collector must accept plaintext
// agents (--insecure-dev).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"parc/agent/sim"
	"parc/collector/agentsvc"
)

func main() {
	if os.Getenv("GOGC") == "" {
		// The simulator holds a phase's encoded reports (half a gigabyte
		// for 10,000 full reports) and shares the CPU with the collector
		// it measures: collect garbage less often than by default.
		debug.SetGCPercent(400)
	}
	var cfg sim.Config
	flag.StringVar(&cfg.Target, "collector", "127.0.0.1:7443", "collector agent port (plaintext)")
	flag.IntVar(&cfg.Agents, "agents", 1000, "simulated agents")
	flag.IntVar(&cfg.Packages, "packages", 800, "packages per host")
	flag.IntVar(&cfg.Concurrency, "concurrency", 32, "reports in flight")
	flag.IntVar(&cfg.AgentsPerConn, "agents-per-conn", 1, "agents sharing one TCP connection, one call at a time (1: like a real fleet)")
	flag.StringVar(&cfg.RunID, "run-id", "", "suffix of agent ids (default: random, so each run is a new fleet)")
	flag.IntVar(&cfg.CollectorPID, "collector-pid", 0, "collector process id on this machine: report its CPU time per phase (Linux)")
	deltas := flag.Int("deltas", 3, "rounds of one delta per agent after the full reports")
	hold := flag.Duration("hold", 0, "keep every connection open this long after the deltas (heartbeats every --heartbeat)")
	heartbeat := flag.Duration("heartbeat", time.Minute, "heartbeat interval while holding")
	settle := flag.String("settle", "", "collector metrics URL: after the full reports, wait until its software title index has caught up (and report how long that took)")
	settleMax := flag.Duration("settle-max", 5*time.Minute, "longest wait for the title index")
	cpuprofile := flag.String("cpuprofile", "", "write the simulator's own CPU profile to this file")
	mix := flag.String("delta-mix", sim.DefaultDeltaMix.String(), "weights of the kinds of delta: filesystems, sockets, services, software (kinds not named weigh 0)")
	floor := flag.String("serve-floor", "", "serve, on this address, an agent port that acknowledges reports without applying them (the transport floor of make bench-ingest), instead of simulating")
	flag.Parse()
	m, err := sim.ParseDeltaMix(*mix)
	if err != nil {
		fmt.Fprintf(os.Stderr, "parc-sim: %v\n", err)
		os.Exit(2)
	}
	cfg.DeltaMix = m
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "parc-sim: %v\n", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *floor != "" {
		ready := func(a net.Addr) { fmt.Printf("serving the transport floor on %s\n", a) }
		if err := agentsvc.ServeFloor(ctx, *floor, ready); err != nil {
			fmt.Fprintf(os.Stderr, "parc-sim: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, cfg, *deltas, *hold, *heartbeat, *settle, *settleMax); err != nil {
		fmt.Fprintf(os.Stderr, "parc-sim: %v\n", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg sim.Config, deltas int, hold, heartbeat time.Duration, settle string, settleMax time.Duration) error {
	t := time.Now()
	r, err := sim.New(cfg)
	if err != nil {
		return err
	}
	defer r.Close()
	fmt.Printf("fleet agents=%d packages=%d delta_mix=%s built_in=%s\n", cfg.Agents, cfg.Packages, cfg.DeltaMix, time.Since(t).Round(time.Millisecond))
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
	if settle != "" {
		t := time.Now()
		cpu0 := sim.ProcessCPU(cfg.CollectorPID)
		caught := "caught_up_in"
		if err := waitIndexed(ctx, settle, settleMax); err != nil {
			if ctx.Err() != nil {
				return err
			}
			caught = "not_caught_up_after" // measure the deltas anyway, with the index still busy
		}
		fmt.Printf("settled title_index_%s=%.2fs collector_cpu_s=%.2f\n", caught, time.Since(t).Seconds(), (sim.ProcessCPU(cfg.CollectorPID) - cpu0).Seconds())
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

// waitIndexed polls the collector's metrics until the software title index
// has no revisions left to fold in.
func waitIndexed(ctx context.Context, url string, limit time.Duration) error {
	// The gauge is the store revision minus the last software revision
	// indexed, so the index's own commits keep it above zero: caught up
	// means it no longer moves.
	deadline := time.Now().Add(limit)
	last, still := -1.0, 0
	for time.Now().Before(deadline) {
		n, err := pendingRevisions(ctx, url)
		switch {
		case err != nil:
			still = 0
		case n == last:
			still++
		default:
			last, still = n, 0
		}
		if still >= 4 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return fmt.Errorf("the title index did not catch up within %s", limit)
}

func pendingRevisions(ctx context.Context, url string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return 0, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "parc_software_index_pending_revisions "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("no parc_software_index_pending_revisions in %s", url)
}

// Command parc-agent inventories this machine and reports it to a Parc
// collector.
//
//	parc-agent --collector HOST:PORT --enroll-token TOKEN --state-dir DIR [--once] [--config FILE]
//	parc-agent --collector HOST:PORT --state-dir DIR [--once]   (enrolled: the state dir alone)
//	parc-agent inventory [--root DIR]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"parc/agent"
	agentenroll "parc/agent/enroll"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "inventory" {
		return inventory(args[1:], stdout, stderr)
	}
	return daemon(args, stderr)
}

func inventory(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("parc-agent inventory", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", "/", "filesystem root to inventory")
	verbose := fs.Bool("v", false, "log each gatherer's duration on stderr")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx := context.Background()
	var log *slog.Logger
	if *verbose {
		log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	b, err := agent.InventoryJSON(ctx, *root, log)
	if err != nil {
		fmt.Fprintln(stderr, "parc-agent:", err)
		return 1
	}
	stdout.Write(b)
	return 0
}

func daemon(args []string, stderr io.Writer) int {
	cfg := agent.DefaultConfig()
	fs := flag.NewFlagSet("parc-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: parc-agent --collector HOST:PORT [--enroll-token TOKEN] --state-dir DIR [--once] [--config FILE]\n       parc-agent inventory [--root DIR]")
		fs.PrintDefaults()
	}
	configFile := fs.String("config", "", "config file of key = value lines")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	enrollToken := fs.String("enroll-token", "", "enrollment token (first start only; from `parc enroll-token create`)")
	insecureDev := fs.Bool("insecure-dev", false, "plaintext, no enrollment (development collectors started with --insecure-dev only)")
	fs.String("collector", "", "collector agent port HOST:PORT, or the ports of a cluster HOST:PORT,HOST:PORT (fails over)")
	fs.String("state-dir", "", "directory for the agent id and the spool")
	fs.Bool("once", false, "send one FULL report, wait for its ack, exit")
	fs.String("root", "/", "filesystem root to inventory")
	fs.Duration("full-interval", cfg.FullInterval, "interval between FULL reports")
	fs.Duration("heartbeat-interval", cfg.HeartbeatInterval, "interval between gathers (DELTA or HEARTBEAT)")
	fs.Float64("jitter", cfg.Jitter, "spread of every interval, a fraction")
	fs.Duration("timeout", cfg.Timeout, "deadline of a --once delivery")
	fs.String("spool-max-bytes", "64MiB", "on-disk spool cap")
	fs.Float64("fs-threshold-percent", cfg.FSThresholdPercent, "filesystem usage that raises a health event")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *configFile != "" {
		if err := cfg.ApplyFile(*configFile); err != nil {
			fmt.Fprintln(stderr, "parc-agent:", err)
			return 2
		}
	}
	// Flags given on the command line override the file.
	var ferr error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "config", "log-level", "enroll-token", "insecure-dev":
		case "once":
			cfg.Once = f.Value.String() == "true"
		default:
			if err := cfg.Set(flagKey(f.Name), f.Value.String()); err != nil && ferr == nil {
				ferr = err
			}
		}
	})
	if ferr != nil {
		fmt.Fprintln(stderr, "parc-agent:", ferr)
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintln(stderr, "parc-agent: --log-level:", err)
		return 2
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, "parc-agent:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if !*insecureDev {
		id, err := agentenroll.Load(ctx, agentenroll.Config{Collector: cfg.Collector, StateDir: cfg.StateDir,
			Token: *enrollToken, Version: agent.Version, Logger: cfg.Logger})
		if err != nil {
			fmt.Fprintln(stderr, "parc-agent:", err)
			return 1
		}
		cfg.Credentials = id.Credentials()
		go id.KeepRenewed(ctx, time.Hour)
	}
	if err := agent.Run(ctx, cfg); err != nil {
		fmt.Fprintln(stderr, "parc-agent:", err)
		return 1
	}
	return 0
}

// flagKey maps a flag name to its config file key (state-dir → state_dir).
func flagKey(name string) string {
	b := []byte(name)
	for i, c := range b {
		if c == '-' {
			b[i] = '_'
		}
	}
	return string(b)
}

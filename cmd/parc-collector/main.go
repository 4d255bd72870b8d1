// Command parc-collector is the Parc server: agent gRPC service, CMDB,
// REST API, web UI and metrics.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"parc/collector"
)

func main() {
	var cfg collector.Config
	flag.StringVar(&cfg.DataDir, "data", "/var/lib/parc", "data directory")
	flag.StringVar(&cfg.Store, "store", "", "store: badger:DIR (default DATA/db), or etcd://h1:2379,h2:2379,h3:2379[?prefix=/parc/&ca=FILE&cert=FILE&key=FILE] for a cluster")
	flag.StringVar(&cfg.AgentAddr, "agent-addr", "127.0.0.1:7443", "gRPC address for agents")
	flag.StringVar(&cfg.APIAddr, "api-addr", "127.0.0.1:7080", "HTTP address of the API, UI and metrics")
	flag.StringVar(&cfg.Rules, "identify", "", "identification rule order (default agent,serial,uuid,machine_id,mac_hostname)")
	flag.StringVar(&cfg.SoftwareRules, "software-rules", "", "JSON file of software normalization rules, tried before the shipped catalog")
	flag.BoolVar(&cfg.Insecure, "insecure-dev", false, "accept plaintext agents (development only)")
	flag.StringVar(&cfg.CACert, "ca-cert", "", "operator-supplied CA certificate, PEM (default: generated on first start)")
	flag.StringVar(&cfg.CAKey, "ca-key", "", "operator-supplied CA private key, PEM")
	flag.DurationVar(&cfg.StaleAfter, "stale-after", 7*24*time.Hour, "mark a host stale when no agent reported for this long")
	flag.DurationVar(&cfg.RetireAfter, "retire-after", 30*24*time.Hour, "propose retirement of a host silent for this long")
	flag.DurationVar(&cfg.DependencyMaxAge, "dependency-max-age", 7*24*time.Hour, "remove a discovered depends_on not observed for this long")
	level := flag.String("log-level", "info", "debug, info, warn or error")
	debugAddr := flag.String("debug-addr", "", "serve Go's pprof profiles on this address (off by default; keep it on loopback)")
	flag.Parse()
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(os.Stderr, "parc-collector: --log-level: %v\n", err)
		os.Exit(2)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))
	if *debugAddr != "" {
		if err := serveDebug(*debugAddr); err != nil {
			fmt.Fprintf(os.Stderr, "parc-collector: --debug-addr: %v\n", err)
			os.Exit(2)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := collector.Run(ctx, cfg); err != nil {
		fmt.Fprintf(os.Stderr, "parc-collector: %v\n", err)
		os.Exit(1)
	}
}

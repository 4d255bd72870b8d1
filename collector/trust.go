package collector

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"

	"parc/cmdb"
	"parc/cmdb/audit"
	"parc/cmdb/reconcile"
	"parc/cmdb/store"
	"parc/collector/api"
	"parc/collector/auth"
	"parc/collector/enroll"
)

// trust holds the collector's security seams: the CA and enrollment of
// agents, API users and tokens, and the audit of ingest.
type trust struct {
	enroll *enroll.Service
	auth   *auth.Service
	now    func() time.Time
}

// setupTrust loads or creates the CA, the first admin token, and the
// services guarding the agent port and the API.
func setupTrust(ctx context.Context, st store.Store, cfg *Config, log *slog.Logger) (*trust, error) {
	now := time.Now
	var ca *enroll.CA
	var err error
	if cfg.CACert != "" || cfg.CAKey != "" {
		if ca, err = enroll.LoadCA(cfg.CACert, cfg.CAKey); err != nil {
			return nil, err
		}
	} else {
		var created bool
		if ca, created, err = enroll.BootstrapCA(ctx, st, now()); err != nil {
			return nil, fmt.Errorf("CA: %w", err)
		}
		if created {
			log.Info("created the collector CA", "sha256", fmt.Sprintf("%x", ca.Pin()))
		}
	}
	caFile := filepath.Join(cfg.DataDir, "ca.crt")
	if err := os.WriteFile(caFile, ca.PEM(), 0o644); err != nil {
		return nil, fmt.Errorf("write %s: %w", caFile, err)
	}
	t := &trust{now: now}
	t.enroll = enroll.New(enroll.Config{Store: st, CA: ca, Insecure: cfg.Insecure, Now: now,
		Logger: log.With("component", "enroll")})
	t.auth = auth.New(auth.Config{Store: st, Now: now, Logger: log.With("component", "auth")})
	path, err := t.auth.Bootstrap(ctx, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if path != "" {
		abs, _ := filepath.Abs(path)
		log.Info("first start: wrote the admin API token (mode 0600); the parc CLI on this machine finds it, or set PARC_TOKEN", "path", abs)
	}
	if cfg.Insecure {
		log.Warn("--insecure-dev: the agent port accepts plaintext agents and trusts the agent id they report")
	}
	return t, nil
}

// grpcOptions returns the agent port's server options.
func (t *trust) grpcOptions(agentAddr string) []grpc.ServerOption {
	host, _, _ := net.SplitHostPort(agentAddr)
	return t.enroll.ServerOptions(host)
}

// routes returns the trust API routes.
func (t *trust) routes() []api.Route {
	return append(t.enroll.Routes(), t.auth.Routes()...)
}

// auditIngest is reconcile's OnApplied hook: one audit record per applied
// report that changed the graph, inside the ingest transaction.
func (t *trust) auditIngest(tx *cmdb.Tx, r *reconcile.Report, res *reconcile.Result) error {
	if res.Changed == 0 && !res.Created {
		return nil // a heartbeat: only the agent's last-seen moved
	}
	kind := map[reconcile.Kind]string{reconcile.Full: "full", reconcile.Delta: "delta", reconcile.Heartbeat: "heartbeat"}[r.Kind]
	return audit.Record(tx.Store(), audit.Entry{At: tx.Now(), Actor: tx.Actor(), Action: "ingest.report", Object: "ci/" + res.HostID,
		After: map[string]any{"kind": kind, "boot_id": r.BootID, "seq": r.Seq, "changed": res.Changed, "created": res.Created,
			"matched_by": res.MatchedBy}})
}

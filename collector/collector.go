// Package collector is the server runtime of parc-collector: it opens the
// store, runs the agent gRPC service, the REST API, the web UI, metrics and
// health endpoints, and the background jobs (title index, sweeps).
package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	"parc/cmdb"
	"parc/cmdb/incident"
	"parc/cmdb/licence"
	"parc/cmdb/lifecycle"
	"parc/cmdb/problem"
	"parc/cmdb/reconcile"
	"parc/cmdb/store"
	"parc/cmdb/store/badgerstore"
	"parc/collector/agentsvc"
	"parc/collector/api"
	"parc/collector/ui"
	parcv1 "parc/proto/parc/v1"
)

// Config is the collector's configuration.
type Config struct {
	// DataDir holds the embedded store and the collector's files.
	DataDir string
	// Store selects the backend: "badger:DIR" (default: DataDir/db) or
	// "etcd://h1:2379,h2:2379,h3:2379[?prefix=/parc/&ca=F&cert=F&key=F]"
	// (etcds:// for TLS with the system roots); see OpenStore.
	Store string
	// AgentAddr is the gRPC address agents connect to.
	AgentAddr string
	// APIAddr serves the REST API, the UI, /metrics, /healthz and /readyz.
	APIAddr string
	// Rules is the identification order, comma separated ("" for default).
	Rules string
	// SoftwareRules names a JSON file of software normalization rules
	// tried before the shipped catalog ("" for the catalog alone).
	SoftwareRules string
	// StaleAfter, RetireAfter and DependencyMaxAge tune the staleness
	// sweep and dependency ageing (0: the reconcile package defaults).
	StaleAfter, RetireAfter, DependencyMaxAge time.Duration
	// Insecure serves agents over plaintext gRPC (development only).
	Insecure bool
	// CACert and CAKey name an operator-supplied CA (PEM files); without
	// them the CA is generated on first start and kept in the store.
	CACert, CAKey string
	// Routes, when set, receives every API route once the API is built
	// (the permission table's test walks them).
	Routes func([]api.Route)
	Logger *slog.Logger
	// Ready, when set, receives the bound addresses once both listeners
	// are up (tests listen on port 0).
	Ready func(agentAddr, apiAddr string)
}

// Validate fills defaults and checks the configuration.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("--data is required")
	}
	if c.Store == "" {
		c.Store = "badger:" + filepath.Join(c.DataDir, "db")
	}
	if err := validateStore(c.Store); err != nil {
		return err
	}
	if c.AgentAddr == "" {
		c.AgentAddr = "127.0.0.1:7443"
	}
	if c.APIAddr == "" {
		c.APIAddr = "127.0.0.1:7080"
	}
	for _, a := range []string{c.AgentAddr, c.APIAddr} {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("address %q: %v", a, err)
		}
	}
	if c.Rules != "" {
		if _, err := reconcile.ParseRules(c.Rules); err != nil {
			return fmt.Errorf("--identify: %w", err)
		}
	}
	if c.StaleAfter < 0 || c.RetireAfter < 0 || c.DependencyMaxAge < 0 ||
		(c.StaleAfter > 0 && c.RetireAfter > 0 && c.RetireAfter <= c.StaleAfter) {
		return fmt.Errorf("--stale-after %v, --retire-after %v, --dependency-max-age %v: want positive durations, retire-after longer than stale-after",
			c.StaleAfter, c.RetireAfter, c.DependencyMaxAge)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// OpenStore opens the store a --store value names.
func OpenStore(spec string, log *slog.Logger) (store.Store, error) {
	switch {
	case strings.HasPrefix(spec, "badger:"):
		dir := strings.TrimPrefix(spec, "badger:")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		// Agent records and CIs are read by almost every report, and
		// listeners by every report of a host's connections (one read
		// per connection, to find the server): keep their latest values
		// in memory. Listeners are small (about 200 bytes each with
		// the cache's bookkeeping).
		return badgerstore.Open(dir, badgerstore.Options{Logger: log, SyncWrites: true,
			HotPrefixes: []string{reconcile.PrefixAgent, cmdb.PrefixCI, reconcile.PrefixListener}})
	case isEtcd(spec):
		return openEtcd(spec, log)
	}
	return nil, fmt.Errorf("unknown store %q", spec)
}

// Run runs the collector until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := cfg.Logger
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	st, err := OpenStore(cfg.Store, log.With("component", "store"))
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()
	// Software records written elsewhere (another collector, an earlier
	// run) may be compressed against a dictionary this process must load.
	defer cmdb.UseDictionaries(st)()

	var rules []string
	if cfg.Rules != "" {
		rules, _ = reconcile.ParseRules(cfg.Rules)
	}
	tr, err := setupTrust(ctx, st, &cfg, log)
	if err != nil {
		return err
	}
	norm, err := licence.DefaultNormalizer(cfg.SoftwareRules)
	if err != nil {
		return fmt.Errorf("--software-rules: %w", err)
	}
	engine := reconcile.New(st, reconcile.Config{Rules: rules, Logger: log.With("component", "reconcile"), OnApplied: tr.auditIngest, Title: norm.Title})
	graph := cmdb.NewGraph(st)
	m := newMetrics()

	gsrv := grpc.NewServer(append(tr.grpcOptions(cfg.AgentAddr), agentsvc.ConnOptions()...)...)
	parcv1.RegisterAgentServiceServer(gsrv, tr.enroll.Wrap(agentsvc.New(agentsvc.Config{
		Engine: engine, Logger: log.With("component", "agentsvc"), Observe: m.observe,
		Identify: tr.enroll.Identify, Admit: tr.enroll.Admit,
	})))

	incidents, problems := incident.New(st), problem.New(st)
	extra := append(api.IncidentRoutes(graph, incidents, problems, nil), api.ProblemRoutes(incidents, problems, nil)...)
	extra = append(extra, api.LifecycleRoutes(lifecycle.New(st, lifecycle.Config{}), nil)...)
	extra = append(extra, api.LicenceRoutes(licence.NewService(st, norm), st, nil)...)
	changes := newChangeService(graph, incidents, log)
	extra = append(extra, api.ChangeRoutes(changes, graph)...)
	apiSrv := api.New(api.Config{Graph: graph, Logger: log.With("component", "api"), Auth: tr.auth, Extra: append(append(tr.routes(), api.GraphRoutes(graph)...), extra...)})
	if cfg.Routes != nil {
		cfg.Routes(apiSrv.Routes())
	}
	indexer := cmdb.NewTitleIndexer(st, log)
	graph.UseTitleIndex(indexer)
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "parc_software_index_pending_revisions",
		Help: "Revision distance between the newest software change received by the title index and the last one folded in (0 when caught up).",
	}, func() float64 { return float64(indexer.Pending()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "parc_payload_cache_hits_total",
			Help: "Reads of compressed values (software records) answered from the decompressed-payload cache.",
		}, func() float64 { return float64(cmdb.PayloadCache().Hits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "parc_payload_cache_misses_total",
			Help: "Reads of compressed values that had to be decompressed.",
		}, func() float64 { return float64(cmdb.PayloadCache().Misses) }))
	if bs, ok := st.(*badgerstore.Store); ok {
		m.reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "parc_store_hot_hits_total",
				Help: "Reads of agent records and CIs answered from the store's in-memory latest values.",
			}, func() float64 { return float64(bs.HotStats().Hits) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "parc_store_hot_misses_total",
				Help: "Reads of agent records and CIs that went to the store's tables.",
			}, func() float64 { return float64(bs.HotStats().Misses) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "parc_store_hot_bytes",
				Help: "Bytes held by the store's in-memory latest values (bounded at 32 MiB).",
			}, func() float64 { return float64(bs.HotStats().Bytes) }))
	}

	mux := http.NewServeMux()
	mux.Handle("/api/", apiSrv.Handler())
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if _, err := st.Rev(r.Context()); err != nil {
			http.Error(w, "store: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("/", ui.Handler())
	hsrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute}

	agentLn, err := net.Listen("tcp", cfg.AgentAddr)
	if err != nil {
		return fmt.Errorf("agent listener: %w", err)
	}
	apiLn, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		agentLn.Close()
		return fmt.Errorf("API listener: %w", err)
	}
	log.Info("collector listening", "agents", agentLn.Addr().String(), "api", "http://"+apiLn.Addr().String(), "store", cfg.Store)
	if cfg.Ready != nil {
		cfg.Ready(agentLn.Addr().String(), apiLn.Addr().String())
	}

	// Background jobs: add a module's job to this list.
	sweeper, ager := reconcile.NewSweeper(st, log), reconcile.NewDependencyAger(st, log)
	if cfg.StaleAfter > 0 {
		sweeper.StaleAfter = cfg.StaleAfter
	}
	if cfg.RetireAfter > 0 {
		sweeper.RetireAfter = cfg.RetireAfter
	}
	if cfg.DependencyMaxAge > 0 {
		ager.MaxAge = cfg.DependencyMaxAge
	}
	jobs := []Job{
		// Every collector keeps its own in-memory title → hosts index.
		{Name: "software-title-index", Run: indexer.Run},
		{Name: "stale-sweep", Singleton: true, Run: sweeper.Run},
		{Name: "dependency-ageing", Singleton: true, Run: ager.Run},
		{Name: "incident-linker", Singleton: true, Run: incident.NewLinker(incidents, log, nil).Run},
		{Name: "incident-sla", Singleton: true, Run: (&incident.SLAJob{S: incidents, Log: log}).Run},
		{Name: "licence-compliance", Singleton: true, Run: licence.NewFollower(st, log).Run},
		{Name: "change-follower", Singleton: true, Run: changes.Follow},
		graphIndexJob(graph, m.reg, log),
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	for _, j := range jobs {
		wg.Add(1)
		go func() { defer wg.Done(); runJob(ctx, st, j, log, m.leading) }()
	}
	wg.Add(2)
	go func() { defer wg.Done(); errc <- gsrv.Serve(agentLn) }()
	go func() {
		defer wg.Done()
		if err := hsrv.Serve(apiLn); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	select {
	case <-ctx.Done():
	case err = <-errc:
		log.Error("collector stopping", "err", err)
	}
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	_ = hsrv.Shutdown(sctx)
	stopped := make(chan struct{})
	go func() { gsrv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-sctx.Done():
		gsrv.Stop()
	}
	wg.Wait()
	return err
}

type metrics struct {
	reg     *prometheus.Registry
	reports *prometheus.CounterVec
	apply   prometheus.Histogram
	leading *prometheus.GaugeVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parc_reports_total", Help: "Agent reports applied, by kind and outcome.",
		}, []string{"kind", "outcome"}),
		apply: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "parc_report_apply_seconds", Help: "Time to reconcile one report.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	m.leading = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "parc_job_leader", Help: "1 while this collector runs the background job (singleton jobs: while it leads).",
	}, []string{"job"})
	m.reg.MustRegister(m.reports, m.apply, m.leading, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observe(r *reconcile.Report, res reconcile.Result, took time.Duration) {
	kind := map[reconcile.Kind]string{reconcile.Full: "full", reconcile.Delta: "delta", reconcile.Heartbeat: "heartbeat"}[r.Kind]
	outcome := "applied"
	switch {
	case res.Replayed:
		outcome = "replayed"
	case res.Changed == 0:
		outcome = "unchanged"
	}
	m.reports.WithLabelValues(kind, outcome).Inc()
	m.apply.Observe(took.Seconds())
}

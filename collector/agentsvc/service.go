package agentsvc

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"parc/cmdb/reconcile"
	parcv1 "parc/proto/parc/v1"
)

// Config wires the service.
type Config struct {
	Engine *reconcile.Engine
	// Identify returns the authenticated agent id of a stream's peer. Nil
	// trusts the id in each report (insecure development mode only).
	Identify func(ctx context.Context) (string, error)
	// Admit is asked before each report is applied (rate limits, revocation).
	// A non-nil error ends the stream with that status.
	Admit func(ctx context.Context, agentID string) error
	// Observe is told about every applied report (metrics, agent registry).
	Observe func(r *reconcile.Report, res reconcile.Result, took time.Duration)
	Now     func() time.Time
	Logger  *slog.Logger
	// ApplyTimeout bounds one report's ingest transaction (default 30s).
	ApplyTimeout time.Duration
}

// Service implements parcv1.AgentServiceServer.
type Service struct {
	parcv1.UnimplementedAgentServiceServer
	cfg Config
}

// New returns the service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ApplyTimeout == 0 {
		cfg.ApplyTimeout = 30 * time.Second
	}
	return &Service{cfg: cfg}
}

// Submit applies one report and acknowledges it once committed.
func (s *Service) Submit(ctx context.Context, m *parcv1.Report) (*parcv1.Ack, error) {
	peerID, err := s.peer(ctx)
	if err != nil {
		return nil, err
	}
	return s.apply(ctx, peerID, m)
}

// Report receives reports on a stream and acknowledges each after it is
// committed (agents that predate Submit).
func (s *Service) Report(stream parcv1.AgentService_ReportServer) error {
	ctx := stream.Context()
	peerID, err := s.peer(ctx)
	if err != nil {
		return err
	}
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		ack, err := s.apply(ctx, peerID, m)
		if err != nil {
			return err
		}
		if err := stream.Send(ack); err != nil {
			return err
		}
	}
}

// peer returns the authenticated agent id of the caller ("" when reports
// are trusted).
func (s *Service) peer(ctx context.Context) (string, error) {
	if s.cfg.Identify == nil {
		return "", nil
	}
	id, err := s.cfg.Identify(ctx)
	if err != nil {
		return "", statusOf(err)
	}
	return id, nil
}

// apply admits and applies one report of peerID's.
func (s *Service) apply(ctx context.Context, peerID string, m *parcv1.Report) (*parcv1.Ack, error) {
	if peerID != "" && m.GetAgentId() != peerID {
		return nil, status.Errorf(codes.PermissionDenied, "report for agent %q on a connection authenticated as %q", m.GetAgentId(), peerID)
	}
	if s.cfg.Admit != nil {
		if err := s.cfg.Admit(ctx, m.GetAgentId()); err != nil {
			return nil, statusOf(err)
		}
	}
	r, err := fromProto(m)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "report %d: %v", m.GetSequence(), err)
	}
	start := time.Now()
	actx, cancel := context.WithTimeout(ctx, s.cfg.ApplyTimeout)
	res, err := s.cfg.Engine.Apply(actx, r, s.cfg.Now())
	cancel()
	if err != nil {
		s.cfg.Logger.Warn("report rejected", "agent", m.GetAgentId(), "seq", m.GetSequence(), "err", err)
		return nil, statusOf(err)
	}
	if s.cfg.Observe != nil {
		s.cfg.Observe(r, res, time.Since(start))
	}
	// Applied: the engine is done with r (a report whose apply failed may
	// still be in a commit batch; it is left to the garbage collector).
	releasePackages(r)
	return &parcv1.Ack{BootId: r.BootID, Sequence: r.Seq, Resync: res.Resync, SoftwareChanges: true}, nil
}

// Package fakecollector is a tiny in-process AgentService for the agent's
// tests: it acknowledges every report over bufconn and records what it got.
// The real collector is tested end to end elsewhere.
package fakecollector

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"

	parcv1 "parc/proto/parc/v1"
)

// Collector records reports and acknowledges them.
type Collector struct {
	parcv1.UnimplementedAgentServiceServer

	mu      sync.Mutex
	reports []*parcv1.Report
	// Resync, when set, asks for a FULL report in the ack of the given
	// sequence.
	ResyncAt uint64
	// NoSubmit makes Submit unimplemented, as in collectors that predate it.
	NoSubmit bool
	// SoftwareChanges sets Ack.software_changes, as a collector that
	// applies package changes does (this one only records them).
	SoftwareChanges bool
	// Submitted and Streamed count the reports received each way.
	Submitted, Streamed int
	// notify gets a value after every recorded report.
	notify chan struct{}
}

// Submit implements parcv1.AgentServiceServer.
func (c *Collector) Submit(ctx context.Context, r *parcv1.Report) (*parcv1.Ack, error) {
	c.mu.Lock()
	no := c.NoSubmit
	if !no {
		c.Submitted++
	}
	c.mu.Unlock()
	if no {
		return nil, status.Error(codes.Unimplemented, "method Submit not implemented")
	}
	return c.record(r), nil
}

// Report implements parcv1.AgentServiceServer.
func (c *Collector) Report(s parcv1.AgentService_ReportServer) error {
	for {
		r, err := s.Recv()
		if err != nil {
			return nil
		}
		c.mu.Lock()
		c.Streamed++
		c.mu.Unlock()
		if err := s.Send(c.record(r)); err != nil {
			return err
		}
	}
}

// record keeps r and returns its ack.
func (c *Collector) record(r *parcv1.Report) *parcv1.Ack {
	c.mu.Lock()
	c.reports = append(c.reports, proto.Clone(r).(*parcv1.Report))
	resync := c.ResyncAt != 0 && c.ResyncAt == r.Sequence
	ch, changes := c.notify, c.SoftwareChanges
	c.mu.Unlock()
	select {
	case ch <- struct{}{}:
	default:
	}
	return &parcv1.Ack{BootId: r.BootId, Sequence: r.Sequence, Resync: resync, SoftwareChanges: changes}
}

// SetSoftwareChanges sets SoftwareChanges while the collector runs.
func (c *Collector) SetSoftwareChanges(on bool) {
	c.mu.Lock()
	c.SoftwareChanges = on
	c.mu.Unlock()
}

// Paths returns how many reports came by Submit and on streams.
func (c *Collector) Paths() (submitted, streamed int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Submitted, c.Streamed
}

// Reports returns what was received so far.
func (c *Collector) Reports() []*parcv1.Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*parcv1.Report(nil), c.reports...)
}

// Wait blocks until at least n reports arrived or ctx ends.
func (c *Collector) Wait(ctx context.Context, n int) []*parcv1.Report {
	for {
		if r := c.Reports(); len(r) >= n {
			return r
		}
		select {
		case <-ctx.Done():
			return c.Reports()
		case <-c.notify:
		}
	}
}

// Server is a fake collector that can be taken down and brought back up.
type Server struct {
	*Collector
	mu  sync.Mutex
	lis *bufconn.Listener
	srv *grpc.Server
}

// Start serves a new Collector on a bufconn listener until the test ends.
func Start(t testing.TB) *Server {
	s := &Server{Collector: &Collector{notify: make(chan struct{}, 1)}}
	s.Up()
	t.Cleanup(s.Stop)
	return s
}

// Up (re)starts serving; the recorded reports are kept.
func (s *Server) Up() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return
	}
	s.lis = bufconn.Listen(1 << 20)
	s.srv = grpc.NewServer()
	parcv1.RegisterAgentServiceServer(s.srv, s.Collector)
	go s.srv.Serve(s.lis)
}

// Stop stops serving and drops open streams; dials fail until Up.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		s.srv.Stop()
	}
	s.srv, s.lis = nil, nil
}

// DialOptions dial this server (use with target Target).
func (s *Server) DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			s.mu.Lock()
			lis := s.lis
			s.mu.Unlock()
			if lis == nil {
				return nil, errors.New("connection refused")
			}
			return lis.DialContext(ctx)
		}),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	}
}

// Target is the dial target to use with DialOptions.
const Target = "passthrough:///bufnet"

package agentsvc

import (
	"context"
	"fmt"
	"net"

	"google.golang.org/grpc"

	parcv1 "parc/proto/parc/v1"
)

// The transport floor (parc-sim --serve-floor): the agent port as the
// collector serves it, with its connection options and codec, but with a
// Submit that acknowledges each report without applying it. Driving it with
// the same simulated fleet measures what gRPC alone costs per report on a
// machine, so that make bench-ingest can show how much of a report's cost is
// the collector's own work. It is a measuring instrument, never a
// collector: nothing is stored.
type floorService struct {
	parcv1.UnimplementedAgentServiceServer
}

// Submit acknowledges m as the collector does once it has committed it.
func (floorService) Submit(_ context.Context, m *parcv1.Report) (*parcv1.Ack, error) {
	return &parcv1.Ack{BootId: m.GetBootId(), Sequence: m.GetSequence(), SoftwareChanges: true}, nil
}

// NewFloorServer returns the transport floor's gRPC server.
func NewFloorServer() *grpc.Server {
	s := grpc.NewServer(ConnOptions()...)
	parcv1.RegisterAgentServiceServer(s, floorService{})
	return s
}

// ServeFloor serves the transport floor on addr until ctx ends, calling
// ready with the address once it listens.
func ServeFloor(ctx context.Context, addr string, ready func(net.Addr)) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("transport floor: %w", err)
	}
	s := NewFloorServer()
	go func() {
		<-ctx.Done()
		s.Stop()
	}()
	ready(l.Addr())
	return s.Serve(l)
}

package main

import (
	"context"
	"fmt"
	"net"

	"google.golang.org/grpc"

	"parc/collector/agentsvc"
	parcv1 "parc/proto/parc/v1"
)

// The transport floor: parc-sim --serve-floor ADDR serves the agent port
// as the collector does (its connection options and codec), with a Submit
// that acknowledges each report without applying it. Driving it with the
// same fleet measures what gRPC alone costs per report on this machine, so
// that make bench-ingest can show how much of a report's cost is the
// collector's own work. It is a measuring instrument, never a collector:
// nothing is stored.
type floorService struct {
	parcv1.UnimplementedAgentServiceServer
}

// Submit acknowledges m as the collector would once it had committed it.
func (floorService) Submit(_ context.Context, m *parcv1.Report) (*parcv1.Ack, error) {
	return &parcv1.Ack{BootId: m.GetBootId(), Sequence: m.GetSequence(), SoftwareChanges: true}, nil
}

// serveFloor serves the floor on addr until ctx ends.
func serveFloor(ctx context.Context, addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("transport floor: %w", err)
	}
	s := newFloorServer()
	go func() {
		<-ctx.Done()
		s.Stop()
	}()
	fmt.Printf("serving the transport floor on %s\n", l.Addr())
	return s.Serve(l)
}

// newFloorServer returns the floor's gRPC server.
func newFloorServer() *grpc.Server {
	s := grpc.NewServer(agentsvc.ConnOptions()...)
	parcv1.RegisterAgentServiceServer(s, floorService{})
	return s
}

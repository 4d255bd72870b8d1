package agentsvc

import "google.golang.org/grpc"

// ConnOptions size the agent port's per-connection buffers for a large,
// mostly idle fleet: tens of thousands of agents each hold one connection
// and one stream open and send a report now and then. gRPC's defaults
// (32 KiB read and write buffers per connection, kept while idle;
// flow-control windows that grow with the measured bandwidth) cost well
// over 100 KiB per idle agent.
func ConnOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		// No read buffer: the framer reads from the connection directly
		// (a few more reads per large report, no buffer per idle agent).
		grpc.ReadBufferSize(0),
		grpc.WriteBufferSize(8 << 10),
		grpc.SharedWriteBuffer(true),
		// Fixed windows turn off the bandwidth estimator, whose larger
		// windows an idle agent never needs.
		grpc.InitialWindowSize(256 << 10),
		grpc.InitialConnWindowSize(256 << 10),
	}
}

package agentsvc

import "google.golang.org/grpc"

// ConnOptions size the agent port's per-connection buffers for a large,
// mostly idle fleet: tens of thousands of agents each hold one connection
// open and Submit a report now and then. gRPC's defaults
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
		// Every Submit is a new stream: run them on a pool of goroutines
		// whose stacks have already grown to what applying a report
		// needs, rather than on a new goroutine each (more are started
		// when the pool is busy).
		grpc.NumStreamWorkers(StreamWorkers),
		// Reports' software lists skip protobuf's message per package.
		grpc.ForceServerCodecV2(Codec{}),
	}
}

// StreamWorkers is the size of the agent port's stream worker pool: about
// the reports in flight when the fleet reports at once.
const StreamWorkers = 64

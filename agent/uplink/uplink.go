package uplink

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	parcv1 "parc/proto/parc/v1"
)

// MaxMessageBytes bounds one report on the wire, both ways.
const MaxMessageBytes = 16 << 20

// Config says where the collector is and how to reach it.
type Config struct {
	// Target is the collector's agent port, HOST:PORT, or the agent ports
	// of the collectors of a cluster, comma separated: the client uses
	// one and fails over to the others.
	Target string
	// Credentials secure the transport. Nil means plaintext.
	Credentials credentials.TransportCredentials
	// DialOptions are added after the defaults (e.g. a bufconn dialer).
	DialOptions []grpc.DialOption
}

// Client is a connection to the collector. The connection is made lazily
// and re-made by gRPC after failures; streams opened on it fail fast while
// the collector is unreachable.
type Client struct {
	cc *grpc.ClientConn
	// noSubmit is set once the collector answered Submit with
	// Unimplemented: reports then go on a Report stream.
	noSubmit atomic.Bool
	api      parcv1.AgentServiceClient
}

// Dial prepares a client for cfg. It does not block on the network.
func Dial(cfg Config) (*Client, error) {
	if cfg.Target == "" {
		return nil, ErrNoTarget
	}
	creds := cfg.Credentials
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	opts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallSendMsgSize(MaxMessageBytes),
			grpc.MaxCallRecvMsgSize(MaxMessageBytes),
		),
		// Ping an idle stream every 5 minutes (gRPC servers reject pings
		// more frequent than that by default) to notice dead peers.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 5 * time.Minute, Timeout: 20 * time.Second}),
	}, cfg.DialOptions...)
	target := cfg.Target
	if addrs := strings.Split(cfg.Target, ","); len(addrs) > 1 {
		// Several collectors of one cluster: connect to one of them (in a
		// shuffled order, to spread agents) and move to the next when it
		// fails; the next Open after a failure reconnects.
		r := manual.NewBuilderWithScheme("parc-collectors")
		var st resolver.State
		for _, a := range addrs {
			if a = strings.TrimSpace(a); a != "" {
				st.Addresses = append(st.Addresses, resolver.Address{Addr: a})
			}
		}
		r.InitialState(st)
		opts = append(opts, grpc.WithResolvers(r),
			grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"pick_first":{"shuffleAddressList":true}}]}`))
		target = r.Scheme() + ":///collectors"
	}
	cc, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial collector %s: %w", cfg.Target, err)
	}
	return &Client{cc: cc, api: parcv1.NewAgentServiceClient(cc)}, nil
}

// API returns the generated AgentService client (for Enroll and Renew).
func (c *Client) API() parcv1.AgentServiceClient { return c.api }

// Close closes the connection.
func (c *Client) Close() error { return c.cc.Close() }

// ResetBackoff makes the next Open try to connect at once. gRPC keeps its
// own reconnect backoff (up to two minutes) and fails streams fast while
// it runs; the agent calls this after its own jittered wait so that its
// schedule is the one that counts.
func (c *Client) ResetBackoff() { c.cc.ResetConnectBackoff() }

// Stream delivers reports one at a time: with Submit, or on one Report
// stream when the collector predates Submit.
type Stream struct {
	c      *Client
	ctx    context.Context
	cancel context.CancelFunc
	s      parcv1.AgentService_ReportClient // the fallback stream, once opened
}

// Open returns a Stream. It opens a Report stream at once only for a
// collector already found not to serve Submit; otherwise nothing is sent
// until Deliver. The stream lives until Close or until ctx ends.
func (c *Client) Open(ctx context.Context) (*Stream, error) {
	ctx, cancel := context.WithCancel(ctx)
	st := &Stream{c: c, ctx: ctx, cancel: cancel}
	if c.noSubmit.Load() {
		if err := st.openStream(); err != nil {
			cancel()
			return nil, err
		}
	}
	return st, nil
}

func (st *Stream) openStream() error {
	s, err := st.c.api.Report(st.ctx)
	if err != nil {
		return fmt.Errorf("open report stream: %w", err)
	}
	st.s = s
	return nil
}

// Deliver sends r and waits for its Ack. It returns the Ack (whose Resync
// asks for a FULL report next). ctx bounds the wait; when it ends a
// fallback stream is closed and unusable.
func (st *Stream) Deliver(ctx context.Context, r *parcv1.Report) (*parcv1.Ack, error) {
	var ack *parcv1.Ack
	var err error
	if st.s == nil && !st.c.noSubmit.Load() {
		ack, err = st.c.api.Submit(ctx, r)
		if status.Code(err) != codes.Unimplemented {
			if err != nil {
				return nil, fmt.Errorf("submit report %d: %w", r.GetSequence(), err)
			}
			return checkAck(ack, r)
		}
		st.c.noSubmit.Store(true) // an older collector: use the stream from now on
	}
	if st.s == nil {
		if err := st.openStream(); err != nil {
			return nil, err
		}
	}
	stop := context.AfterFunc(ctx, st.cancel)
	defer stop()
	if err := st.s.Send(r); err != nil {
		// The real cause comes from Recv.
		if _, rerr := st.s.Recv(); rerr != nil {
			err = rerr
		}
		return nil, fmt.Errorf("send report %d: %w", r.GetSequence(), err)
	}
	ack, err = st.s.Recv()
	if err != nil {
		return nil, fmt.Errorf("await ack of report %d: %w", r.GetSequence(), err)
	}
	return checkAck(ack, r)
}

func checkAck(ack *parcv1.Ack, r *parcv1.Report) (*parcv1.Ack, error) {
	if ack.GetBootId() != r.GetBootId() || ack.GetSequence() != r.GetSequence() {
		return ack, fmt.Errorf("%w: got %s/%d, want %s/%d", ErrUnexpectedAck,
			ack.GetBootId(), ack.GetSequence(), r.GetBootId(), r.GetSequence())
	}
	return ack, nil
}

// Close half-closes a fallback stream and releases the Stream.
func (st *Stream) Close() error {
	var err error
	if st.s != nil {
		err = st.s.CloseSend()
	}
	st.cancel()
	return err
}

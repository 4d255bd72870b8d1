package enroll

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	parcv1 "parc/proto/parc/v1"
)

// Limits of the agent port.
const (
	// MaxMessageBytes is the largest message accepted from an agent.
	MaxMessageBytes = 16 << 20
	// MaxStreamsPerConn is the most concurrent streams on one connection
	// (an agent needs one at a time).
	MaxStreamsPerConn = 4
	// HandshakeTimeout bounds the TLS handshake of a new connection.
	HandshakeTimeout = 10 * time.Second
)

// MethodEnroll is the one method callable without a client certificate.
const MethodEnroll = "/parc.v1.AgentService/Enroll"

// MethodSubmit is the full name of the one-report call.
const MethodSubmit = "/parc.v1.AgentService/Submit"

// ServerOptions returns the gRPC options of the agent port: transport
// security, interceptors and every limit, set explicitly.
func (s *Service) ServerOptions(hosts ...string) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.Creds(s.credentials(hosts)),
		grpc.MaxRecvMsgSize(MaxMessageBytes),
		grpc.MaxSendMsgSize(1 << 20),
		grpc.MaxConcurrentStreams(MaxStreamsPerConn),
		grpc.ConnectionTimeout(HandshakeTimeout),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time: 2 * time.Minute, Timeout: 20 * time.Second,
			MaxConnectionIdle: 30 * time.Minute,
		}),
		// Agents ping every 5 minutes; more than one ping a minute is abuse.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Minute, PermitWithoutStream: true}),
		grpc.ChainUnaryInterceptor(s.unary),
		grpc.ChainStreamInterceptor(s.stream),
	}
}

// tlsCertCache issues the collector's server certificate and renews it at
// half its life.
type tlsCertCache struct {
	mu    sync.Mutex
	ca    *CA
	hosts []string
	now   func() time.Time
	cert  *tls.Certificate
}

const serverCertValidity = 90 * 24 * time.Hour

func (c *tlsCertCache) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.cert == nil || now.After(c.cert.Leaf.NotAfter.Add(-serverCertValidity/2)) {
		cert, err := c.ca.ServerCert(now, serverCertValidity, c.hosts...)
		if err != nil {
			return nil, err
		}
		c.cert = &cert
	}
	return c.cert, nil
}

// TLSConfig returns the server TLS configuration of the agent port. Client
// certificates are requested, not required, so that Enroll works without
// one and the interceptors can refuse the rest with a clear status.
func (s *Service) TLSConfig(hosts ...string) *tls.Config {
	s.srvMu.Lock()
	if s.srvCert == nil {
		s.srvCert = &tlsCertCache{ca: s.cfg.CA, hosts: hosts, now: s.cfg.Now}
	}
	c := s.srvCert
	s.srvMu.Unlock()
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: c.get,
		ClientAuth:     tls.RequestClientCert,
	}
}

func (s *Service) credentials(hosts []string) credentials.TransportCredentials {
	return &sniffCreds{TransportCredentials: credentials.NewTLS(s.TLSConfig(hosts...))}
}

// sniffCreds serves TLS, and hands plaintext connections through marked
// as such, so that they are refused with Unauthenticated (or, in
// insecure development mode, served) instead of failing in the handshake.
type sniffCreds struct {
	credentials.TransportCredentials
}

// PlaintextInfo is the AuthInfo of a plaintext connection.
type PlaintextInfo struct{ credentials.CommonAuthInfo }

// AuthType implements credentials.AuthInfo.
func (PlaintextInfo) AuthType() string { return "plaintext" }

// peekConn gives back the first byte read to sniff the protocol, then
// reads straight from the connection: no buffer stays with an idle agent.
type peekConn struct {
	net.Conn
	first []byte
}

func (c *peekConn) Read(p []byte) (int, error) {
	if len(c.first) > 0 {
		n := copy(p, c.first)
		c.first = c.first[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

func (c *sniffCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	_ = conn.SetReadDeadline(time.Now().Add(HandshakeTimeout))
	b := make([]byte, 1)
	_, err := io.ReadFull(conn, b)
	_ = conn.SetReadDeadline(time.Time{})
	if err != nil {
		return nil, nil, err
	}
	pc := &peekConn{Conn: conn, first: b}
	if b[0] != 0x16 { // not a TLS handshake record
		return pc, PlaintextInfo{credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}}, nil
	}
	return c.TransportCredentials.ServerHandshake(pc)
}

func (c *sniffCreds) Clone() credentials.TransportCredentials {
	return &sniffCreds{TransportCredentials: c.TransportCredentials.Clone()}
}

type agentCtxKey struct{}

type peerAgent struct {
	id       string
	notAfter time.Time
}

// AgentID returns the agent id that the caller's verified certificate
// names ("" on an insecure plaintext connection).
func AgentID(ctx context.Context) string {
	p, _ := ctx.Value(agentCtxKey{}).(peerAgent)
	return p.id
}

// authenticate checks the caller of method and returns ctx carrying its
// agent id.
func (s *Service) authenticate(ctx context.Context, method string) (context.Context, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no peer")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		if s.cfg.Insecure {
			return ctx, nil
		}
		return nil, status.Error(codes.Unauthenticated, "plaintext connection refused: the agent port speaks TLS only (enroll the agent with --enroll-token)")
	}
	if method == MethodEnroll {
		return ctx, nil
	}
	id, leaf, err := s.cfg.CA.VerifyClient(info.State.PeerCertificates, s.cfg.Now())
	if err != nil {
		return nil, StatusOf(err)
	}
	if err := s.Check(ctx, id); err != nil {
		return nil, StatusOf(err)
	}
	return context.WithValue(ctx, agentCtxKey{}, peerAgent{id: id, notAfter: leaf.NotAfter}), nil
}

func (s *Service) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	ctx, err := s.authenticate(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	if info.FullMethod == MethodSubmit {
		// Reports in flight share the bound on streams.
		select {
		case s.streams <- struct{}{}:
			defer func() { <-s.streams }()
		default:
			return nil, StatusOf(fmt.Errorf("agent port: %w", ErrBusy))
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
	defer cancel()
	return h(ctx, req)
}

type wrappedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w wrappedStream) Context() context.Context { return w.ctx }

func (s *Service) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	ctx, err := s.authenticate(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	select {
	case s.streams <- struct{}{}:
		defer func() { <-s.streams }()
	default:
		return StatusOf(fmt.Errorf("agent port: %w", ErrBusy))
	}
	return h(srv, wrappedStream{ServerStream: ss, ctx: ctx})
}

// Identify implements agentsvc.Config.Identify: the agent id of the
// stream's verified certificate, or "" (trust the report) on an insecure
// plaintext connection.
func (s *Service) Identify(ctx context.Context) (string, error) {
	if id := AgentID(ctx); id != "" {
		return id, nil
	}
	if s.cfg.Insecure {
		return "", nil
	}
	return "", status.Error(codes.Unauthenticated, "no verified client certificate")
}

// Admit implements agentsvc.Config.Admit, before every report: the
// agent's rate limit, its certificate still valid and not revoked (so a
// revocation ends streams already open at their next report).
func (s *Service) Admit(ctx context.Context, agentID string) error {
	if !s.allow(agentID) {
		return StatusOf(fmt.Errorf("agent %s: %w (%.0f reports/s)", agentID, ErrRateLimited, float64(s.cfg.Rate)))
	}
	p, ok := ctx.Value(agentCtxKey{}).(peerAgent)
	if !ok {
		if s.cfg.Insecure {
			return nil
		}
		return status.Error(codes.Unauthenticated, "no verified client certificate")
	}
	if !s.cfg.Now().Before(p.notAfter) {
		return status.Error(codes.Unauthenticated, "client certificate expired; reconnect after renewal")
	}
	return StatusOf(s.Check(ctx, agentID))
}

// Wrap returns the agent service with Enroll and Renew served by s and
// everything else by next.
func (s *Service) Wrap(next parcv1.AgentServiceServer) parcv1.AgentServiceServer {
	return &server{AgentServiceServer: next, s: s}
}

type server struct {
	parcv1.AgentServiceServer
	s *Service
}

func (x *server) Enroll(ctx context.Context, req *parcv1.EnrollRequest) (*parcv1.EnrollResponse, error) {
	id, cert, err := x.s.Enroll(ctx, req.GetToken(), req.GetCsrDer(), req.GetHostname(), req.GetAgentVersion())
	if err != nil {
		x.s.cfg.Logger.Warn("enrollment refused", "err", err)
		return nil, StatusOf(err)
	}
	return &parcv1.EnrollResponse{AgentId: id, CertificateDer: cert.Raw, CaDer: x.s.cfg.CA.Cert.Raw}, nil
}

func (x *server) Renew(ctx context.Context, req *parcv1.RenewRequest) (*parcv1.EnrollResponse, error) {
	id := AgentID(ctx)
	if id == "" {
		return nil, status.Error(codes.Unauthenticated, "renewal needs the agent's current certificate")
	}
	cert, err := x.s.Renew(ctx, id, req.GetCsrDer())
	if err != nil {
		return nil, StatusOf(err)
	}
	return &parcv1.EnrollResponse{AgentId: id, CertificateDer: cert.Raw, CaDer: x.s.cfg.CA.Cert.Raw}, nil
}

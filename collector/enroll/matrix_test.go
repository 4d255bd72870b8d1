package enroll_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"golang.org/x/time/rate"

	"parc/cmdb/reconcile"
	"parc/cmdb/store"
	"parc/cmdb/store/teststore"
	"parc/collector/agentsvc"
	"parc/collector/enroll"
	parcv1 "parc/proto/parc/v1"
)

// clock is a settable clock for the service under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// port is an agent port served over real gRPC on loopback: enrollment,
// the interceptors and the report service on a real store.
type port struct {
	st    store.Store
	svc   *enroll.Service
	ca    *enroll.CA
	addr  string
	clock *clock
}

func startPort(t *testing.T, cfg enroll.Config) *port {
	t.Helper()
	now := time.Now()
	ca, err := enroll.NewCA(now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	p := &port{st: teststore.Open(t), ca: ca, clock: &clock{t: now}}
	cfg.Store, cfg.CA, cfg.Now = p.st, ca, p.clock.Now
	p.svc = enroll.New(cfg)
	engine := reconcile.New(p.st, reconcile.Config{})
	gs := grpc.NewServer(p.svc.ServerOptions("127.0.0.1")...)
	parcv1.RegisterAgentServiceServer(gs, p.svc.Wrap(agentsvc.New(agentsvc.Config{
		Engine: engine, Identify: p.svc.Identify, Admit: p.svc.Admit, Now: p.clock.Now,
	})))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	p.addr = ln.Addr().String()
	return p
}

func (p *port) client(t *testing.T, creds credentials.TransportCredentials) parcv1.AgentServiceClient {
	t.Helper()
	cc, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return parcv1.NewAgentServiceClient(cc)
}

// tlsCreds trusts the port's CA and presents cert (if any).
func (p *port) tlsCreds(cert *tls.Certificate) credentials.TransportCredentials {
	c := &tls.Config{RootCAs: p.ca.Pool(), ServerName: enroll.ServerName}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return credentials.NewTLS(c)
}

func csr(t *testing.T) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "h"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return key, der
}

// enrollAgent enrolls through the port and returns the agent's id and
// client certificate.
func (p *port) enrollAgent(t *testing.T, token string) (string, *tls.Certificate, error) {
	t.Helper()
	key, der := csr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := p.client(t, p.tlsCreds(nil)).Enroll(ctx, &parcv1.EnrollRequest{Token: token, CsrDer: der, Hostname: "host-1"})
	if err != nil {
		return "", nil, err
	}
	return res.GetAgentId(), &tls.Certificate{Certificate: [][]byte{res.GetCertificateDer()}, PrivateKey: key}, nil
}

func (p *port) token(t *testing.T, ttl time.Duration, uses int) enroll.Token {
	t.Helper()
	tok, _, err := p.svc.CreateToken(context.Background(), "user:test", ttl, uses, "")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// issue signs a client certificate for id with ca's key, valid in
// [from, to).
func issue(t *testing.T, ca *enroll.CA, id string, from, to time.Time) *tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: id},
		NotBefore: from, NotAfter: to, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func report(agentID string, seq uint64) *parcv1.Report {
	return &parcv1.Report{AgentId: agentID, BootId: "boot-1", Sequence: seq, Kind: parcv1.Report_FULL,
		Inventory: &parcv1.Inventory{System: &parcv1.System{Hostname: "host-1", MachineId: "m-" + agentID}}}
}

// send opens a Report stream, sends r and returns the stream's error (nil
// when acknowledged).
func send(c parcv1.AgentServiceClient, r *parcv1.Report) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := c.Report(ctx)
	if err != nil {
		return err
	}
	if err := s.Send(r); err != nil {
		_, err = s.Recv()
		return err
	}
	_, err = s.Recv()
	return err
}

// submit sends r with Submit.
func submit(c parcv1.AgentServiceClient, r *parcv1.Report) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Submit(ctx, r)
	return err
}

// TestRejectionMatrix: every way in without a valid identity is refused
// with Unauthenticated or PermissionDenied, and writes nothing.
func TestRejectionMatrix(t *testing.T) {
	p := startPort(t, enroll.Config{})
	ctx := context.Background()

	good, goodCert, err := p.enrollAgent(t, p.token(t, time.Hour, 5).String())
	if err != nil {
		t.Fatalf("enroll: %v", err)
	}
	if err := send(p.client(t, p.tlsCreds(goodCert)), report(good, 1)); err != nil {
		t.Fatalf("enrolled agent's report: %v", err)
	}
	if err := submit(p.client(t, p.tlsCreds(goodCert)), report(good, 2)); err != nil {
		t.Fatalf("enrolled agent's submitted report: %v", err)
	}
	revoked, revokedCert, err := p.enrollAgent(t, p.token(t, time.Hour, 1).String())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.svc.RevokeAgent(ctx, "user:test", revoked); err != nil {
		t.Fatal(err)
	}
	usedUp := p.token(t, time.Hour, 1)
	if _, _, err := p.enrollAgent(t, usedUp.String()); err != nil {
		t.Fatal(err)
	}
	expiring := p.token(t, time.Minute, 5)
	forged := p.token(t, time.Hour, 5)
	forged.Secret[0] ^= 1
	otherPin := p.token(t, time.Hour, 5)
	otherPin.Pin[0] ^= 1
	otherCA, err := enroll.NewCA(time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	fresh := p.token(t, time.Hour, 1)
	p.clock.Add(2 * time.Minute) // expiring is now expired

	now := p.clock.Now()
	cases := []struct {
		name string
		try  func() error
		want codes.Code
	}{
		{"plaintext report", func() error { return send(p.client(t, insecure.NewCredentials()), report(good, 2)) }, codes.Unauthenticated},
		{"plaintext submit", func() error { return submit(p.client(t, insecure.NewCredentials()), report(good, 3)) }, codes.Unauthenticated},
		{"no client certificate, submit", func() error { return submit(p.client(t, p.tlsCreds(nil)), report(good, 3)) }, codes.Unauthenticated},
		{"revoked agent submits", func() error { return submit(p.client(t, p.tlsCreds(revokedCert)), report(revoked, 1)) }, codes.PermissionDenied},
		{"submit for another agent", func() error { return submit(p.client(t, p.tlsCreds(goodCert)), report(revoked, 1)) }, codes.PermissionDenied},
		{"plaintext enroll", func() error {
			_, der := csr(t)
			_, err := p.client(t, insecure.NewCredentials()).Enroll(ctx, &parcv1.EnrollRequest{Token: fresh.String(), CsrDer: der})
			return err
		}, codes.Unauthenticated},
		{"no client certificate", func() error { return send(p.client(t, p.tlsCreds(nil)), report(good, 2)) }, codes.Unauthenticated},
		{"no client certificate, renew", func() error {
			_, der := csr(t)
			_, err := p.client(t, p.tlsCreds(nil)).Renew(ctx, &parcv1.RenewRequest{CsrDer: der})
			return err
		}, codes.Unauthenticated},
		{"certificate from another CA", func() error {
			return send(p.client(t, p.tlsCreds(issue(t, otherCA, good, now.Add(-time.Hour), now.Add(time.Hour)))), report(good, 2))
		}, codes.Unauthenticated},
		{"expired certificate", func() error {
			return send(p.client(t, p.tlsCreds(issue(t, p.ca, good, now.Add(-48*time.Hour), now.Add(-time.Hour)))), report(good, 2))
		}, codes.Unauthenticated},
		{"revoked agent", func() error { return send(p.client(t, p.tlsCreds(revokedCert)), report(revoked, 1)) }, codes.PermissionDenied},
		{"revoked agent renews", func() error {
			_, der := csr(t)
			_, err := p.client(t, p.tlsCreds(revokedCert)).Renew(ctx, &parcv1.RenewRequest{CsrDer: der})
			return err
		}, codes.PermissionDenied},
		{"report for another agent", func() error { return send(p.client(t, p.tlsCreds(goodCert)), report(revoked, 1)) }, codes.PermissionDenied},
		{"used-up token", func() error { _, _, err := p.enrollAgent(t, usedUp.String()); return err }, codes.Unauthenticated},
		{"expired token", func() error { _, _, err := p.enrollAgent(t, expiring.String()); return err }, codes.Unauthenticated},
		{"forged token secret", func() error { _, _, err := p.enrollAgent(t, forged.String()); return err }, codes.Unauthenticated},
		{"token for another CA", func() error { _, _, err := p.enrollAgent(t, otherPin.String()); return err }, codes.Unauthenticated},
		{"garbage token", func() error { _, _, err := p.enrollAgent(t, "pe1_AAAA"); return err }, codes.Unauthenticated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := p.st.Rev(ctx)
			err := tc.try()
			if status.Code(err) != tc.want {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if after, _ := p.st.Rev(ctx); after != before {
				t.Errorf("store revision moved %d → %d: a refused call wrote", before, after)
			}
		})
	}
}

// TestRevokeEndsOpenStream: a stream opened before the revocation fails
// at its next report.
func TestRevokeEndsOpenStream(t *testing.T) {
	p := startPort(t, enroll.Config{})
	id, cert, err := p.enrollAgent(t, p.token(t, time.Hour, 1).String())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := p.client(t, p.tlsCreds(cert)).Report(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(report(id, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	if err := p.svc.RevokeAgent(ctx, "user:test", id); err != nil {
		t.Fatal(err)
	}
	_ = s.Send(report(id, 2))
	if _, err := s.Recv(); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("report after revocation: %v, want PermissionDenied", err)
	}
}

// TestRenewal: an enrolled agent renews over mTLS and the new certificate
// works; the registry shows the new expiry.
func TestRenewal(t *testing.T) {
	p := startPort(t, enroll.Config{CertValidity: 3 * time.Hour})
	id, cert, err := p.enrollAgent(t, p.token(t, time.Hour, 1).String())
	if err != nil {
		t.Fatal(err)
	}
	p.clock.Add(time.Hour)
	key, der := csr(t)
	res, err := p.client(t, p.tlsCreds(cert)).Renew(context.Background(), &parcv1.RenewRequest{CsrDer: der})
	if err != nil {
		t.Fatalf("renew: %v", err)
	}
	leaf, _ := x509.ParseCertificate(res.GetCertificateDer())
	if leaf.Subject.CommonName != id || !leaf.NotAfter.After(p.clock.Now().Add(2*time.Hour)) {
		t.Errorf("renewed certificate: CN %q, not after %v", leaf.Subject.CommonName, leaf.NotAfter)
	}
	renewed := &tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key}
	if err := send(p.client(t, p.tlsCreds(renewed)), report(id, 1)); err != nil {
		t.Fatalf("report with the renewed certificate: %v", err)
	}
	agents, err := p.svc.Agents(context.Background())
	if err != nil || len(agents) != 1 {
		t.Fatalf("agents: %v %v", agents, err)
	}
	if a := agents[0]; !a.NotAfter.Equal(leaf.NotAfter) || a.LastSeen.IsZero() || a.HostID == "" {
		t.Errorf("registry row %+v", a)
	}
}

// TestLimits: over the per-agent rate → ResourceExhausted; over the
// message size → ResourceExhausted; neither writes.
func TestLimits(t *testing.T) {
	p := startPort(t, enroll.Config{Rate: rate.Every(time.Hour), Burst: 1})
	id, cert, err := p.enrollAgent(t, p.token(t, time.Hour, 1).String())
	if err != nil {
		t.Fatal(err)
	}
	c := p.client(t, p.tlsCreds(cert))
	if err := send(c, report(id, 1)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	before, _ := p.st.Rev(ctx)
	if err := send(c, report(id, 2)); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("second report within the rate: %v, want ResourceExhausted", err)
	}
	big := report(id, 3)
	big.Inventory.System.Users = []string{strings.Repeat("x", enroll.MaxMessageBytes)}
	if err := send(c, big); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("oversized report: %v, want ResourceExhausted", err)
	}
	if after, _ := p.st.Rev(ctx); after != before {
		t.Errorf("store revision moved %d → %d", before, after)
	}
}

// TestStreamLimit: report streams beyond MaxStreams are refused with
// ResourceExhausted while the first stays open.
func TestStreamLimit(t *testing.T) {
	p := startPort(t, enroll.Config{MaxStreams: 1})
	id, cert, err := p.enrollAgent(t, p.token(t, time.Hour, 1).String())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := p.client(t, p.tlsCreds(cert))
	s, err := c.Report(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(report(id, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatalf("first stream: %v", err)
	}
	if err := send(c, report(id, 2)); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("second concurrent stream: %v, want ResourceExhausted", err)
	}
	if err := submit(c, report(id, 2)); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("submit while the streams are used up: %v, want ResourceExhausted", err)
	}
	s.CloseSend()
	if _, err := s.Recv(); err == nil {
		t.Fatal("stream still open")
	}
	// The slot is free again once the first stream ended.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := send(c, report(id, 2))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream slot never freed: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

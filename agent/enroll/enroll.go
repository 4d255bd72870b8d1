package enroll

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"parc/agent/uplink"
	parcv1 "parc/proto/parc/v1"
)

// Files in the state directory.
const (
	KeyFile     = "agent.key"
	CertFile    = "agent.crt"
	CAFile      = "ca.crt"
	AgentIDFile = "agent-id"
)

// ServerName is the name in every collector certificate.
const ServerName = "parc-collector"

// ErrNotEnrolled is returned when the state directory holds no identity
// and no enrollment token was given.
var ErrNotEnrolled = errors.New("this agent is not enrolled: run it once with --enroll-token TOKEN (from `parc enroll-token create`)")

// Config says where to enroll and where the identity lives.
type Config struct {
	Collector string
	StateDir  string
	// Token is the enrollment token; used only when the state directory
	// holds no identity yet.
	Token    string
	Hostname string
	Version  string
	// DialOptions are extra gRPC options (tests: a bufconn dialer).
	DialOptions []grpc.DialOption
	Logger      *slog.Logger
	Now         func() time.Time
}

// Identity is the agent's enrolled identity: its id, key and certificate,
// and the pinned CA. It is safe for concurrent use; Renew swaps the
// certificate that new connections present.
type Identity struct {
	AgentID string
	cfg     Config
	ca      *x509.CertPool
	caCert  *x509.Certificate
	mu      sync.RWMutex
	cert    *tls.Certificate
}

// Load returns the identity in the state directory, enrolling with
// cfg.Token first when there is none.
func Load(ctx context.Context, cfg Config) (*Identity, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
	}
	id, err := load(cfg)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if cfg.Token == "" {
		return nil, ErrNotEnrolled
	}
	return enroll(ctx, cfg)
}

func load(cfg Config) (*Identity, error) {
	caPEM, err := os.ReadFile(filepath.Join(cfg.StateDir, CAFile))
	if err != nil {
		return nil, err
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(cfg.StateDir, CertFile), filepath.Join(cfg.StateDir, KeyFile))
	if err != nil {
		return nil, fmt.Errorf("load agent certificate: %w", err)
	}
	block, _ := pem.Decode(caPEM)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM certificate", CAFile)
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CAFile, err)
	}
	return newIdentity(cfg, ca, &pair)
}

func newIdentity(cfg Config, ca *x509.Certificate, cert *tls.Certificate) (*Identity, error) {
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, err
	}
	cert.Leaf = leaf
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &Identity{AgentID: leaf.Subject.CommonName, cfg: cfg, ca: pool, caCert: ca, cert: cert}, nil
}

func enroll(ctx context.Context, cfg Config) (*Identity, error) {
	pin, err := tokenPin(cfg.Token)
	if err != nil {
		return nil, err
	}
	// Before the agent has a certificate it trusts exactly the CA whose
	// hash the token carries.
	tlsCfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by VerifyConnection: the chain must end at the pinned CA
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyPinned(cs, pin, cfg.Now())
		},
	}
	c, err := uplink.Dial(uplink.Config{Target: cfg.Collector, Credentials: credentials.NewTLS(tlsCfg), DialOptions: cfg.DialOptions})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	key, csr, err := newKeyAndCSR(cfg.Hostname)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := c.API().Enroll(ctx, &parcv1.EnrollRequest{Token: cfg.Token, CsrDer: csr, Hostname: cfg.Hostname, AgentVersion: cfg.Version})
	if err != nil {
		return nil, fmt.Errorf("enroll with %s: %w", cfg.Collector, err)
	}
	ca, err := x509.ParseCertificate(res.GetCaDer())
	if err != nil {
		return nil, fmt.Errorf("enroll: CA from the collector: %w", err)
	}
	if sha256.Sum256(ca.Raw) != pin {
		return nil, errors.New("enroll: the collector returned a CA other than the token's")
	}
	cert := &tls.Certificate{Certificate: [][]byte{res.GetCertificateDer()}, PrivateKey: key}
	id, err := newIdentity(cfg, ca, cert)
	if err != nil {
		return nil, err
	}
	if id.AgentID != res.GetAgentId() {
		return nil, fmt.Errorf("enroll: certificate names %q, the collector said %q", id.AgentID, res.GetAgentId())
	}
	if err := id.save(key); err != nil {
		return nil, err
	}
	cfg.Logger.Info("enrolled", "agent_id", id.AgentID, "cert_not_after", id.NotAfter())
	return id, nil
}

// verifyPinned checks that the server's chain ends at the CA whose
// SHA-256 is pin, and that the leaf is a collector certificate.
func verifyPinned(cs tls.ConnectionState, pin [32]byte, now time.Time) error {
	if len(cs.PeerCertificates) < 2 {
		return errors.New("collector sent no CA certificate in its chain")
	}
	var ca *x509.Certificate
	for _, c := range cs.PeerCertificates[1:] {
		if sha256.Sum256(c.Raw) == pin {
			ca = c
		}
	}
	if ca == nil {
		return errors.New("collector certificate is not from the CA the enrollment token pins")
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return verifyServer(cs, pool, now)
}

func verifyServer(cs tls.ConnectionState, roots *x509.CertPool, now time.Time) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("collector sent no certificate")
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, DNSName: ServerName,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err != nil {
		return fmt.Errorf("collector certificate: %w", err)
	}
	return nil
}

func newKeyAndCSR(hostname string) (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: hostname}}, key)
	return key, csr, err
}

// save writes the key (0600), certificate, CA and agent id atomically.
func (id *Identity) save(key *ecdsa.PrivateKey) error {
	if err := os.MkdirAll(id.cfg.StateDir, 0o700); err != nil {
		return err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	id.mu.RLock()
	certDER := id.cert.Certificate[0]
	id.mu.RUnlock()
	files := []struct {
		name string
		data []byte
	}{
		{CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: id.caCert.Raw})},
		{AgentIDFile, []byte(id.AgentID + "\n")},
		// The key before the certificate: a crash in between leaves a
		// pair that does not match, which load reports, never a
		// certificate with a lost key that looks fine.
		{KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})},
		{CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})},
	}
	for _, f := range files {
		if err := writeSecret(filepath.Join(id.cfg.StateDir, f.name), f.data); err != nil {
			return fmt.Errorf("save %s: %w", f.name, err)
		}
	}
	return nil
}

func writeSecret(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o600)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// NotAfter is when the current certificate expires.
func (id *Identity) NotAfter() time.Time {
	id.mu.RLock()
	defer id.mu.RUnlock()
	return id.cert.Leaf.NotAfter
}

// Credentials returns the TLS credentials the uplink dials with: the
// current client certificate, and the collector checked against the
// pinned CA.
func (id *Identity) Credentials() credentials.TransportCredentials {
	return credentials.NewTLS(&tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by VerifyConnection against the pinned CA and ServerName
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyServer(cs, id.ca, id.cfg.Now())
		},
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			id.mu.RLock()
			defer id.mu.RUnlock()
			return id.cert, nil
		},
	})
}

// NeedsRenewal reports whether a third or less of the certificate's life
// is left at now.
func (id *Identity) NeedsRenewal(now time.Time) bool {
	id.mu.RLock()
	leaf := id.cert.Leaf
	id.mu.RUnlock()
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	return !now.Before(leaf.NotAfter.Add(-life / 3))
}

// Renew asks the collector for a fresh certificate for a new key, over
// mTLS with the current one, and stores both.
func (id *Identity) Renew(ctx context.Context) error {
	c, err := uplink.Dial(uplink.Config{Target: id.cfg.Collector, Credentials: id.Credentials(), DialOptions: id.cfg.DialOptions})
	if err != nil {
		return err
	}
	defer c.Close()
	key, csr, err := newKeyAndCSR(id.cfg.Hostname)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := c.API().Renew(ctx, &parcv1.RenewRequest{CsrDer: csr})
	if err != nil {
		return fmt.Errorf("renew certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(res.GetCertificateDer())
	if err != nil {
		return fmt.Errorf("renew certificate: %w", err)
	}
	if leaf.Subject.CommonName != id.AgentID {
		return fmt.Errorf("renew certificate: it names %q, not %q", leaf.Subject.CommonName, id.AgentID)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: id.ca, CurrentTime: id.cfg.Now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return fmt.Errorf("renew certificate: %w", err)
	}
	id.mu.Lock()
	id.cert = &tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}
	id.mu.Unlock()
	return id.save(key)
}

// KeepRenewed renews the certificate whenever NeedsRenewal says so,
// checking every interval, until ctx ends. Failures are logged and
// retried at the next check.
func (id *Identity) KeepRenewed(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if id.NeedsRenewal(id.cfg.Now()) {
			if err := id.Renew(ctx); err != nil {
				id.cfg.Logger.Warn("certificate renewal failed; retrying", "err", err, "not_after", id.NotAfter())
			} else {
				id.cfg.Logger.Info("certificate renewed", "not_after", id.NotAfter())
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

package enroll

import (
	"context"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"parc/cmdb"
	"parc/cmdb/audit"
	"parc/cmdb/reconcile"
	"parc/cmdb/store"
)

// Key prefixes of this package.
const (
	PrefixToken = "en/tok/"
	PrefixAgent = "en/agent/"
)

// TokenRecord is an enrollment token as stored: its secret only hashed.
type TokenRecord struct {
	ID        string    `cbor:"1,keyasint" json:"id"`
	Hash      []byte    `cbor:"2,keyasint" json:"-"`
	Created   time.Time `cbor:"3,keyasint" json:"created"`
	CreatedBy string    `cbor:"4,keyasint" json:"created_by"`
	Expires   time.Time `cbor:"5,keyasint" json:"expires"`
	Uses      int       `cbor:"6,keyasint" json:"uses"`
	Used      int       `cbor:"7,keyasint" json:"used"`
	Revoked   bool      `cbor:"8,keyasint,omitempty" json:"revoked,omitempty"`
	RevokedBy string    `cbor:"9,keyasint,omitempty" json:"revoked_by,omitempty"`
	Note      string    `cbor:"10,keyasint,omitempty" json:"note,omitempty"`
}

// State says whether the token can still enroll an agent at now.
func (t *TokenRecord) State(now time.Time) string {
	switch {
	case t.Revoked:
		return "revoked"
	case !now.Before(t.Expires):
		return "expired"
	case t.Used >= t.Uses:
		return "used up"
	}
	return "active"
}

// AgentCert is what the collector knows of an enrolled agent's
// certificate.
type AgentCert struct {
	AgentID   string    `cbor:"1,keyasint" json:"agent_id"`
	Hostname  string    `cbor:"2,keyasint,omitempty" json:"hostname,omitempty"`
	TokenID   string    `cbor:"3,keyasint,omitempty" json:"token_id,omitempty"`
	Serial    string    `cbor:"4,keyasint" json:"serial"`
	NotAfter  time.Time `cbor:"5,keyasint" json:"not_after"`
	Enrolled  time.Time `cbor:"6,keyasint" json:"enrolled"`
	Renewed   time.Time `cbor:"7,keyasint,omitempty" json:"renewed,omitempty"`
	Revoked   bool      `cbor:"8,keyasint,omitempty" json:"revoked,omitempty"`
	RevokedAt time.Time `cbor:"9,keyasint,omitempty" json:"revoked_at,omitempty"`
	RevokedBy string    `cbor:"10,keyasint,omitempty" json:"revoked_by,omitempty"`
}

// Config wires a Service.
type Config struct {
	Store store.Store
	CA    *CA
	// CertValidity is the lifetime of an agent certificate (default 30
	// days); agents renew when a third of it is left.
	CertValidity time.Duration
	// Rate and Burst limit each agent's reports (default 5/s, burst 100:
	// a reconnecting agent flushes its spool in one burst).
	Rate  rate.Limit
	Burst int
	// EnrollRate limits enrollment attempts of the whole port (default
	// 20/s, burst 100).
	EnrollRate rate.Limit
	// MaxStreams bounds concurrent Report streams and Submit calls
	// (default 10000).
	MaxStreams int
	// CallTimeout is the deadline of every unary call (default 30s).
	CallTimeout time.Duration
	// Insecure lets plaintext agents in (development only).
	Insecure bool
	Now      func() time.Time
	NewID    func() string
	Logger   *slog.Logger
}

// Service enrolls, renews and revokes agents, and guards the agent port.
type Service struct {
	cfg     Config
	mu      sync.Mutex
	limits  map[string]*rate.Limiter
	enrollL *rate.Limiter
	streams chan struct{}
	srvMu   sync.Mutex
	srvCert *tlsCertCache
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.CertValidity == 0 {
		cfg.CertValidity = 30 * 24 * time.Hour
	}
	if cfg.Rate == 0 {
		cfg.Rate, cfg.Burst = 5, 100
	}
	if cfg.Burst == 0 {
		cfg.Burst = 1
	}
	if cfg.EnrollRate == 0 {
		cfg.EnrollRate = 20
	}
	if cfg.MaxStreams == 0 {
		cfg.MaxStreams = 10000
	}
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NewID == nil {
		cfg.NewID = cmdb.NewID
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, limits: map[string]*rate.Limiter{}, enrollL: rate.NewLimiter(cfg.EnrollRate, 100),
		streams: make(chan struct{}, cfg.MaxStreams)}
}

// CA returns the service's CA.
func (s *Service) CA() *CA { return s.cfg.CA }

func tokenKey(id string) []byte { return []byte(PrefixToken + id) }
func agentKey(id string) []byte { return []byte(PrefixAgent + id) }

// Token limits.
const (
	DefaultTokenTTL = 24 * time.Hour
	MaxTokenTTL     = 365 * 24 * time.Hour
	MaxTokenUses    = 100000
)

// CreateToken makes an enrollment token valid for ttl and uses enrollments.
// The token's secret is returned once and only its hash is stored.
func (s *Service) CreateToken(ctx context.Context, actor string, ttl time.Duration, uses int, note string) (Token, TokenRecord, error) {
	if ttl == 0 {
		ttl = DefaultTokenTTL
	}
	if uses == 0 {
		uses = 1
	}
	switch {
	case ttl < time.Minute || ttl > MaxTokenTTL:
		return Token{}, TokenRecord{}, fmt.Errorf("%w: ttl %s: want 1m to %s", cmdb.ErrInvalid, ttl, MaxTokenTTL)
	case uses < 1 || uses > MaxTokenUses:
		return Token{}, TokenRecord{}, fmt.Errorf("%w: uses %d: want 1 to %d", cmdb.ErrInvalid, uses, MaxTokenUses)
	case len(note) > 200:
		return Token{}, TokenRecord{}, fmt.Errorf("%w: note longer than 200 bytes", cmdb.ErrInvalid)
	}
	now := s.cfg.Now().UTC()
	t := newToken(s.cfg.CA.Pin())
	h := t.hash()
	rec := TokenRecord{ID: t.ID, Hash: h[:], Created: now, CreatedBy: actor, Expires: now.Add(ttl), Uses: uses, Note: note}
	_, err := s.cfg.Store.Update(ctx, func(tx store.Txn) error {
		if _, err := tx.Get(ctx, tokenKey(t.ID)); err == nil {
			return fmt.Errorf("token id %s: %w", t.ID, cmdb.ErrConflict)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := cmdb.PutRecord(tx, tokenKey(t.ID), rec); err != nil {
			return err
		}
		return audit.Record(tx, audit.Entry{At: now, Actor: actor, Action: "enroll_token.create", Object: "enroll_token/" + t.ID,
			After: map[string]any{"expires": rec.Expires, "uses": uses, "note": note}})
	})
	if err != nil {
		return Token{}, TokenRecord{}, fmt.Errorf("create enrollment token: %w", err)
	}
	return t, rec, nil
}

// Tokens lists the enrollment tokens, oldest id first.
func (s *Service) Tokens(ctx context.Context) ([]TokenRecord, error) {
	var out []TokenRecord
	err := cmdb.ScanPrefix(ctx, s.cfg.Store, PrefixToken, func(v []byte) error {
		var t TokenRecord
		if err := cmdb.Decode(v, &t); err != nil {
			return err
		}
		out = append(out, t)
		return nil
	})
	return out, err
}

// RevokeToken stops a token from enrolling any further agent.
func (s *Service) RevokeToken(ctx context.Context, actor, id string) error {
	if err := validID(id); err != nil {
		return err
	}
	now := s.cfg.Now().UTC()
	_, err := s.cfg.Store.Update(ctx, func(tx store.Txn) error {
		var t TokenRecord
		if err := cmdb.GetRecord(ctx, tx, tokenKey(id), &t); err != nil {
			return fmt.Errorf("enrollment token %s: %w", id, err)
		}
		if t.Revoked {
			return nil
		}
		t.Revoked, t.RevokedBy = true, actor
		if err := cmdb.PutRecord(tx, tokenKey(id), t); err != nil {
			return err
		}
		return audit.Record(tx, audit.Entry{At: now, Actor: actor, Action: "enroll_token.revoke", Object: "enroll_token/" + id,
			Before: map[string]any{"revoked": false}, After: map[string]any{"revoked": true}})
	})
	return err
}

// Enroll exchanges an enrollment token and a CSR for a client certificate
// naming a new agent id. Every failure writes nothing.
func (s *Service) Enroll(ctx context.Context, token string, csrDER []byte, hostname, version string) (string, *x509.Certificate, error) {
	if !s.enrollL.Allow() {
		return "", nil, fmt.Errorf("enroll: %w", ErrRateLimited)
	}
	t, err := ParseToken(token)
	if err != nil {
		return "", nil, err
	}
	if t.Pin != s.cfg.CA.Pin() {
		return "", nil, fmt.Errorf("%w: the enrollment token is for another collector CA", ErrUnauthenticated)
	}
	if len(csrDER) == 0 || len(csrDER) > 16<<10 {
		return "", nil, fmt.Errorf("%w: CSR is empty or over 16 KiB", cmdb.ErrInvalid)
	}
	hostname, version = clip(hostname, 255), clip(version, 64)
	now := s.cfg.Now().UTC()
	var id string
	var cert *x509.Certificate
	_, err = s.cfg.Store.Update(ctx, func(tx store.Txn) error {
		var rec TokenRecord
		if err := cmdb.GetRecord(ctx, tx, tokenKey(t.ID), &rec); errors.Is(err, cmdb.ErrNotFound) {
			return fmt.Errorf("%w: unknown enrollment token", ErrUnauthenticated)
		} else if err != nil {
			return err
		}
		h := t.hash()
		if subtle.ConstantTimeCompare(h[:], rec.Hash) != 1 {
			return fmt.Errorf("%w: unknown enrollment token", ErrUnauthenticated)
		}
		if st := rec.State(now); st != "active" {
			return fmt.Errorf("%w: enrollment token %s is %s", ErrUnauthenticated, rec.ID, st)
		}
		id = s.cfg.NewID()
		var err error
		if cert, err = s.cfg.CA.signClient(csrDER, id, now, s.cfg.CertValidity); err != nil {
			return err
		}
		rec.Used++
		if err := cmdb.PutRecord(tx, tokenKey(t.ID), rec); err != nil {
			return err
		}
		ac := AgentCert{AgentID: id, Hostname: hostname, TokenID: t.ID, Serial: cert.SerialNumber.Text(16),
			NotAfter: cert.NotAfter.UTC(), Enrolled: now}
		if err := cmdb.PutRecord(tx, agentKey(id), ac); err != nil {
			return err
		}
		return audit.Record(tx, audit.Entry{At: now, Actor: "enroll_token:" + t.ID, Action: "agent.enroll", Object: "agent/" + id,
			After: map[string]any{"hostname": hostname, "version": version, "serial": ac.Serial, "not_after": ac.NotAfter}})
	})
	if err != nil {
		return "", nil, fmt.Errorf("enroll: %w", err)
	}
	s.cfg.Logger.Info("agent enrolled", "agent", id, "hostname", hostname, "token", t.ID)
	return id, cert, nil
}

// Renew issues a fresh certificate to an enrolled, unrevoked agent.
func (s *Service) Renew(ctx context.Context, agentID string, csrDER []byte) (*x509.Certificate, error) {
	if len(csrDER) == 0 || len(csrDER) > 16<<10 {
		return nil, fmt.Errorf("%w: CSR is empty or over 16 KiB", cmdb.ErrInvalid)
	}
	now := s.cfg.Now().UTC()
	var cert *x509.Certificate
	_, err := s.cfg.Store.Update(ctx, func(tx store.Txn) error {
		var ac AgentCert
		if err := cmdb.GetRecord(ctx, tx, agentKey(agentID), &ac); errors.Is(err, cmdb.ErrNotFound) {
			return fmt.Errorf("%w: agent %s is not enrolled", ErrUnauthenticated, agentID)
		} else if err != nil {
			return err
		}
		if ac.Revoked {
			return fmt.Errorf("%w: %s", ErrRevoked, agentID)
		}
		var err error
		if cert, err = s.cfg.CA.signClient(csrDER, agentID, now, s.cfg.CertValidity); err != nil {
			return err
		}
		before := map[string]any{"serial": ac.Serial, "not_after": ac.NotAfter}
		ac.Serial, ac.NotAfter, ac.Renewed = cert.SerialNumber.Text(16), cert.NotAfter.UTC(), now
		if err := cmdb.PutRecord(tx, agentKey(agentID), ac); err != nil {
			return err
		}
		return audit.Record(tx, audit.Entry{At: now, Actor: "agent:" + agentID, Action: "agent.renew", Object: "agent/" + agentID,
			Before: before, After: map[string]any{"serial": ac.Serial, "not_after": ac.NotAfter}})
	})
	if err != nil {
		return nil, fmt.Errorf("renew: %w", err)
	}
	return cert, nil
}

// RevokeAgent revokes an agent: every later call with its certificate
// fails with PermissionDenied, including streams already open (checked at
// each report).
func (s *Service) RevokeAgent(ctx context.Context, actor, agentID string) error {
	if agentID == "" || len(agentID) > 128 || strings.ContainsAny(agentID, "/\x00") {
		return fmt.Errorf("%w: agent id %q", cmdb.ErrInvalid, agentID)
	}
	now := s.cfg.Now().UTC()
	_, err := s.cfg.Store.Update(ctx, func(tx store.Txn) error {
		var ac AgentCert
		if err := cmdb.GetRecord(ctx, tx, agentKey(agentID), &ac); err != nil {
			return fmt.Errorf("agent %s: %w", agentID, err)
		}
		if ac.Revoked {
			return nil
		}
		ac.Revoked, ac.RevokedAt, ac.RevokedBy = true, now, actor
		if err := cmdb.PutRecord(tx, agentKey(agentID), ac); err != nil {
			return err
		}
		return audit.Record(tx, audit.Entry{At: now, Actor: actor, Action: "agent.revoke", Object: "agent/" + agentID,
			Before: map[string]any{"revoked": false}, After: map[string]any{"revoked": true}})
	})
	return err
}

// Check returns nil when agentID is enrolled and not revoked.
func (s *Service) Check(ctx context.Context, agentID string) error {
	var ac AgentCert
	if err := cmdb.GetRecord(ctx, s.cfg.Store, agentKey(agentID), &ac); errors.Is(err, cmdb.ErrNotFound) {
		return fmt.Errorf("%w: agent %s is not enrolled here", ErrRevoked, agentID)
	} else if err != nil {
		return err
	}
	if ac.Revoked {
		return fmt.Errorf("%w: %s", ErrRevoked, agentID)
	}
	return nil
}

// allow takes one report from agentID's rate budget.
// maxLimiters bounds the per-caller rate limiters kept in memory.
const maxLimiters = 100000

func (s *Service) allow(agentID string) bool {
	s.mu.Lock()
	l := s.limits[agentID]
	if l == nil {
		if len(s.limits) >= maxLimiters {
			clear(s.limits) // bounded memory; a reset only forgives a burst
		}
		l = rate.NewLimiter(s.cfg.Rate, s.cfg.Burst)
		s.limits[agentID] = l
	}
	s.mu.Unlock()
	return l.Allow()
}

// AgentInfo is one row of `parc agent list`.
type AgentInfo struct {
	AgentID  string    `json:"agent_id"`
	Hostname string    `json:"hostname,omitempty"`
	HostID   string    `json:"host_id,omitempty"`
	Status   string    `json:"status"`
	LastSeen time.Time `json:"last_seen,omitzero"`
	Version  string    `json:"version,omitempty"`
	NotAfter time.Time `json:"cert_not_after,omitzero"`
	Enrolled time.Time `json:"enrolled,omitzero"`
	Renewed  time.Time `json:"renewed,omitzero"`
	Revoked  time.Time `json:"revoked,omitzero"`
	TokenID  string    `json:"token_id,omitempty"`
}

// Agents lists every agent the collector knows: the enrolled ones with
// their certificate, joined with what ingest recorded (last seen,
// version); agents that only reported (insecure development mode) too.
func (s *Service) Agents(ctx context.Context) ([]AgentInfo, error) {
	now := s.cfg.Now()
	byID := map[string]*AgentInfo{}
	err := s.cfg.Store.View(ctx, func(r store.Reader) error {
		if err := cmdb.ScanPrefix(ctx, r, PrefixAgent, func(v []byte) error {
			var ac AgentCert
			if err := cmdb.Decode(v, &ac); err != nil {
				return err
			}
			a := &AgentInfo{AgentID: ac.AgentID, Hostname: ac.Hostname, NotAfter: ac.NotAfter, Enrolled: ac.Enrolled,
				Renewed: ac.Renewed, TokenID: ac.TokenID, Status: "enrolled"}
			switch {
			case ac.Revoked:
				a.Status, a.Revoked = "revoked", ac.RevokedAt
			case !now.Before(ac.NotAfter):
				a.Status = "expired"
			}
			byID[ac.AgentID] = a
			return nil
		}); err != nil {
			return err
		}
		return cmdb.ScanPrefix(ctx, r, reconcile.PrefixAgent, func(v []byte) error {
			var rec reconcile.AgentRecord
			if err := cmdb.Decode(v, &rec); err != nil {
				return err
			}
			a := byID[rec.AgentID]
			if a == nil {
				a = &AgentInfo{AgentID: rec.AgentID, Status: "unenrolled"}
				byID[rec.AgentID] = a
			}
			a.HostID, a.LastSeen, a.Version = rec.HostID, rec.LastSeen, rec.Version
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	out := make([]AgentInfo, 0, len(byID))
	for _, a := range byID {
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b AgentInfo) int { return strings.Compare(a.AgentID, b.AgentID) })
	return out, nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"parc/cmdb"
	"parc/cmdb/audit"
	"parc/cmdb/store"
	"parc/collector/api"
)

// Key prefixes of this package.
const (
	PrefixUser  = "ac/user/"
	PrefixToken = "ac/tok/"
)

// User is a person or a service account.
type User struct {
	Name      string    `cbor:"1,keyasint" json:"name"`
	Role      Role      `cbor:"2,keyasint" json:"role"`
	Service   bool      `cbor:"3,keyasint,omitempty" json:"service,omitempty"`
	Created   time.Time `cbor:"4,keyasint" json:"created"`
	CreatedBy string    `cbor:"5,keyasint" json:"created_by"`
	Disabled  bool      `cbor:"6,keyasint,omitempty" json:"disabled,omitempty"`
}

// Principal is the name the audit log and api.Principal know u by.
func (u *User) Principal() string {
	if u.Service {
		return "service:" + u.Name
	}
	return "user:" + u.Name
}

// TokenRecord is an API token as stored: its secret only hashed.
type TokenRecord struct {
	ID        string    `cbor:"1,keyasint" json:"id"`
	User      string    `cbor:"2,keyasint" json:"user"`
	Hash      []byte    `cbor:"3,keyasint" json:"-"`
	Created   time.Time `cbor:"4,keyasint" json:"created"`
	CreatedBy string    `cbor:"5,keyasint" json:"created_by"`
	// Expires is zero for a token that does not expire.
	Expires   time.Time `cbor:"6,keyasint,omitempty" json:"expires,omitzero"`
	Revoked   bool      `cbor:"7,keyasint,omitempty" json:"revoked,omitempty"`
	RevokedBy string    `cbor:"8,keyasint,omitempty" json:"revoked_by,omitempty"`
	Note      string    `cbor:"9,keyasint,omitempty" json:"note,omitempty"`
}

// Config wires a Service.
type Config struct {
	Store store.Store
	// Rate and Burst limit each token's requests (default 50/s, burst 200).
	Rate   rate.Limit
	Burst  int
	Now    func() time.Time
	Logger *slog.Logger
}

// Service manages users and tokens and implements api.Authorizer.
type Service struct {
	cfg    Config
	mu     sync.Mutex
	limits map[string]*rate.Limiter
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Rate == 0 {
		cfg.Rate, cfg.Burst = 50, 200
	}
	if cfg.Burst == 0 {
		cfg.Burst = 1
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, limits: map[string]*rate.Limiter{}}
}

func userKey(name string) []byte { return []byte(PrefixUser + name) }
func tokenKey(id string) []byte  { return []byte(PrefixToken + id) }

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._@-]{0,63}$`)

// Authorize implements api.Authorizer: a bearer token of an enabled user
// whose role the permission table allows for route.
func (s *Service) Authorize(r *http.Request, route string) (string, error) {
	h := r.Header.Get("Authorization")
	raw, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || raw == "" {
		return "", fmt.Errorf("%w: send Authorization: Bearer TOKEN", api.ErrUnauthenticated)
	}
	u, t, err := s.Authenticate(r.Context(), strings.TrimSpace(raw))
	if err != nil {
		return "", err
	}
	if !s.allow(t.ID) {
		return "", fmt.Errorf("%w: token %s over %.0f requests/s", api.ErrRateLimited, t.ID, float64(s.cfg.Rate))
	}
	allowed, known := Allowed(u.Role, route)
	switch {
	case !known:
		return "", fmt.Errorf("%w: %s has no permission entry", api.ErrPermission, route)
	case !allowed:
		return "", fmt.Errorf("%w: role %s may not call %s", api.ErrPermission, u.Role, route)
	}
	return u.Principal(), nil
}

// Authenticate returns the user and token that raw proves.
func (s *Service) Authenticate(ctx context.Context, raw string) (*User, *TokenRecord, error) {
	t, err := ParseToken(raw)
	if err != nil {
		return nil, nil, err
	}
	var rec TokenRecord
	var u User
	err = s.cfg.Store.View(ctx, func(r store.Reader) error {
		if err := cmdb.GetRecord(ctx, r, tokenKey(t.ID), &rec); err != nil {
			return err
		}
		return cmdb.GetRecord(ctx, r, userKey(rec.User), &u)
	})
	if errors.Is(err, cmdb.ErrNotFound) {
		return nil, nil, fmt.Errorf("%w: unknown token", api.ErrUnauthenticated)
	}
	if err != nil {
		return nil, nil, err
	}
	switch {
	case subtle.ConstantTimeCompare(t.hash(), rec.Hash) != 1:
		return nil, nil, fmt.Errorf("%w: unknown token", api.ErrUnauthenticated)
	case rec.Revoked:
		return nil, nil, fmt.Errorf("%w: token %s is revoked", api.ErrUnauthenticated, rec.ID)
	case !rec.Expires.IsZero() && !s.cfg.Now().Before(rec.Expires):
		return nil, nil, fmt.Errorf("%w: token %s expired", api.ErrUnauthenticated, rec.ID)
	case u.Disabled:
		return nil, nil, fmt.Errorf("%w: user %s is disabled", api.ErrUnauthenticated, u.Name)
	}
	return &u, &rec, nil
}

// maxLimiters bounds the per-caller rate limiters kept in memory.
const maxLimiters = 100000

func (s *Service) allow(id string) bool {
	s.mu.Lock()
	l := s.limits[id]
	if l == nil {
		if len(s.limits) >= maxLimiters {
			clear(s.limits) // bounded memory; a reset only forgives a burst
		}
		l = rate.NewLimiter(s.cfg.Rate, s.cfg.Burst)
		s.limits[id] = l
	}
	s.mu.Unlock()
	return l.Allow()
}

// CreateUser adds a user or service account.
func (s *Service) CreateUser(ctx context.Context, actor, name string, role Role, service bool) (User, error) {
	if !nameRE.MatchString(name) {
		return User{}, fmt.Errorf("%w: user name %q: lower-case letters, digits and ._@- (up to 64)", cmdb.ErrInvalid, name)
	}
	if !role.Valid() {
		return User{}, fmt.Errorf("%w: role %q: want one of %v", cmdb.ErrInvalid, role, Roles)
	}
	now := s.cfg.Now().UTC()
	u := User{Name: name, Role: role, Service: service, Created: now, CreatedBy: actor}
	_, err := s.cfg.Store.Update(ctx, func(tx store.Txn) error {
		if _, err := tx.Get(ctx, userKey(name)); err == nil {
			return fmt.Errorf("user %s exists: %w", name, cmdb.ErrConflict)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := cmdb.PutRecord(tx, userKey(name), u); err != nil {
			return err
		}
		return audit.Record(tx, audit.Entry{At: now, Actor: actor, Action: "user.create", Object: "user/" + name,
			After: map[string]any{"role": string(role), "service": service}})
	})
	if err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

// UserUpdate changes a user; nil fields stay.
type UserUpdate struct {
	Role     *Role
	Disabled *bool
}

// UpdateUser changes a user's role or disables it.
func (s *Service) UpdateUser(ctx context.Context, actor, name string, up UserUpdate) (User, error) {
	if up.Role != nil && !up.Role.Valid() {
		return User{}, fmt.Errorf("%w: role %q: want one of %v", cmdb.ErrInvalid, *up.Role, Roles)
	}
	now := s.cfg.Now().UTC()
	var u User
	_, err := s.cfg.Store.Update(ctx, func(tx store.Txn) error {
		u = User{} // fresh on every attempt: a retry must not see the last one's changes
		if err := cmdb.GetRecord(ctx, tx, userKey(name), &u); err != nil {
			return fmt.Errorf("user %s: %w", name, err)
		}
		before := map[string]any{"role": string(u.Role), "disabled": u.Disabled}
		if up.Role != nil {
			u.Role = *up.Role
		}
		if up.Disabled != nil {
			u.Disabled = *up.Disabled
		}
		if "user:"+name == actor && (u.Disabled || u.Role != RoleAdmin) {
			return fmt.Errorf("%w: you cannot disable yourself or drop your own admin role", cmdb.ErrForbidden)
		}
		after := map[string]any{"role": string(u.Role), "disabled": u.Disabled}
		if err := cmdb.PutRecord(tx, userKey(name), u); err != nil {
			return err
		}
		return audit.Record(tx, audit.Entry{At: now, Actor: actor, Action: "user.update", Object: "user/" + name, Before: before, After: after})
	})
	if err != nil {
		return User{}, fmt.Errorf("update user: %w", err)
	}
	return u, nil
}

// Users lists users and service accounts by name.
func (s *Service) Users(ctx context.Context) ([]User, error) {
	var out []User
	err := cmdb.ScanPrefix(ctx, s.cfg.Store, PrefixUser, func(v []byte) error {
		var u User
		if err := cmdb.Decode(v, &u); err != nil {
			return err
		}
		out = append(out, u)
		return nil
	})
	return out, err
}

// MaxTokenTTL is the longest token lifetime; zero means no expiry.
const MaxTokenTTL = 5 * 365 * 24 * time.Hour

// CreateToken issues a token for user, valid for ttl (0: no expiry). The
// secret is returned once; only its hash is stored.
func (s *Service) CreateToken(ctx context.Context, actor, user string, ttl time.Duration, note string) (Token, TokenRecord, error) {
	if ttl < 0 || ttl > MaxTokenTTL {
		return Token{}, TokenRecord{}, fmt.Errorf("%w: ttl %s: want 0 (no expiry) up to %s", cmdb.ErrInvalid, ttl, MaxTokenTTL)
	}
	if len(note) > 200 {
		return Token{}, TokenRecord{}, fmt.Errorf("%w: note longer than 200 bytes", cmdb.ErrInvalid)
	}
	now := s.cfg.Now().UTC()
	var t Token
	var rec TokenRecord
	_, err := s.cfg.Store.Update(ctx, func(tx store.Txn) error {
		var err error
		t, rec, err = createToken(ctx, tx, actor, user, ttl, note, now)
		return err
	})
	if err != nil {
		return Token{}, TokenRecord{}, fmt.Errorf("create token: %w", err)
	}
	return t, rec, nil
}

func createToken(ctx context.Context, tx store.Txn, actor, user string, ttl time.Duration, note string, now time.Time) (Token, TokenRecord, error) {
	var u User
	if err := cmdb.GetRecord(ctx, tx, userKey(user), &u); err != nil {
		return Token{}, TokenRecord{}, fmt.Errorf("user %s: %w", user, err)
	}
	if u.Disabled {
		return Token{}, TokenRecord{}, fmt.Errorf("%w: user %s is disabled", cmdb.ErrForbidden, user)
	}
	t := newToken()
	rec := TokenRecord{ID: t.ID, User: user, Hash: t.hash(), Created: now, CreatedBy: actor, Note: note}
	if ttl > 0 {
		rec.Expires = now.Add(ttl)
	}
	if err := cmdb.PutRecord(tx, tokenKey(t.ID), rec); err != nil {
		return Token{}, TokenRecord{}, err
	}
	err := audit.Record(tx, audit.Entry{At: now, Actor: actor, Action: "token.create", Object: "token/" + t.ID,
		After: map[string]any{"user": user, "expires": rec.Expires, "note": note}})
	return t, rec, err
}

// Tokens lists tokens, of one user when user is not empty.
func (s *Service) Tokens(ctx context.Context, user string) ([]TokenRecord, error) {
	var out []TokenRecord
	err := cmdb.ScanPrefix(ctx, s.cfg.Store, PrefixToken, func(v []byte) error {
		var t TokenRecord
		if err := cmdb.Decode(v, &t); err != nil {
			return err
		}
		if user == "" || t.User == user {
			out = append(out, t)
		}
		return nil
	})
	return out, err
}

// RevokeToken revokes a token at once.
func (s *Service) RevokeToken(ctx context.Context, actor, id string) error {
	if len(id) != 2*idBytes {
		return fmt.Errorf("%w: token id %q", cmdb.ErrInvalid, id)
	}
	now := s.cfg.Now().UTC()
	_, err := s.cfg.Store.Update(ctx, func(tx store.Txn) error {
		var t TokenRecord
		if err := cmdb.GetRecord(ctx, tx, tokenKey(id), &t); err != nil {
			return fmt.Errorf("token %s: %w", id, err)
		}
		if t.Revoked {
			return nil
		}
		t.Revoked, t.RevokedBy = true, actor
		if err := cmdb.PutRecord(tx, tokenKey(id), t); err != nil {
			return err
		}
		return audit.Record(tx, audit.Entry{At: now, Actor: actor, Action: "token.revoke", Object: "token/" + id,
			Before: map[string]any{"revoked": false}, After: map[string]any{"revoked": true}})
	})
	return err
}

// AdminTokenFile is the name of the first-start admin token in the data
// directory.
const AdminTokenFile = "admin.token"

// Bootstrap creates the admin user and a token for it on the very first
// start (no user in the store) and writes the token to dataDir/admin.token
// with mode 0600. It returns the file's path when it wrote one.
func (s *Service) Bootstrap(ctx context.Context, dataDir string) (string, error) {
	now := s.cfg.Now().UTC()
	var tok Token
	_, err := s.cfg.Store.Update(ctx, func(tx store.Txn) error {
		tok = Token{}
		kvs, err := tx.Scan(ctx, store.Range{Prefix: []byte(PrefixUser), Limit: 1})
		if err != nil || len(kvs) > 0 {
			return err
		}
		u := User{Name: "admin", Role: RoleAdmin, Created: now, CreatedBy: "system"}
		if err := cmdb.PutRecord(tx, userKey(u.Name), u); err != nil {
			return err
		}
		if err := audit.Record(tx, audit.Entry{At: now, Actor: "system", Action: "user.create", Object: "user/admin",
			After: map[string]any{"role": string(RoleAdmin)}}); err != nil {
			return err
		}
		tok, _, err = createToken(ctx, tx, "system", u.Name, 0, "first-start admin token", now)
		return err
	})
	if err != nil || tok.ID == "" {
		return "", err
	}
	path := filepath.Join(dataDir, AdminTokenFile)
	if err := writeSecret(path, tok.String()+"\n"); err != nil {
		return "", fmt.Errorf("write admin token: %w", err)
	}
	return path, nil
}

// writeSecret writes a file readable by its owner only.
func writeSecret(path, content string) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

package auth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"parc/cmdb"
	"parc/cmdb/audit"
	"parc/cmdb/store/teststore"
	"parc/collector/api"
)

func newService(t *testing.T) (*Service, *time.Time) {
	t.Helper()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return New(Config{Store: teststore.Open(t), Now: func() time.Time { return now }}), &now
}

func TestBootstrapWritesAdminTokenOnce(t *testing.T) {
	s, _ := newService(t)
	dir := t.TempDir()
	path, err := s.Bootstrap(context.Background(), dir)
	if err != nil || path != filepath.Join(dir, AdminTokenFile) {
		t.Fatalf("bootstrap: %q %v", path, err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("admin token file mode: %v %v", st, err)
	}
	b, _ := os.ReadFile(path)
	u, _, err := s.Authenticate(context.Background(), strings.TrimSpace(string(b)))
	if err != nil || u.Role != RoleAdmin {
		t.Fatalf("admin token: %v %v", u, err)
	}
	if again, err := s.Bootstrap(context.Background(), dir); err != nil || again != "" {
		t.Errorf("second bootstrap: %q %v (want nothing written)", again, err)
	}
}

// TestAuthorize crosses roles with routes of each permission class.
func TestAuthorize(t *testing.T) {
	s, now := newService(t)
	ctx := context.Background()
	tokens := map[Role]string{}
	for _, r := range Roles {
		name := strings.ReplaceAll(string(r), "_", "-")
		if _, err := s.CreateUser(ctx, "system", name, r, false); err != nil {
			t.Fatal(err)
		}
		tok, _, err := s.CreateToken(ctx, "system", name, 0, "")
		if err != nil {
			t.Fatal(err)
		}
		tokens[r] = tok.String()
	}
	short, _, _ := s.CreateToken(ctx, "system", "viewer", time.Hour, "")
	revoked, _, _ := s.CreateToken(ctx, "system", "viewer", 0, "")
	if err := s.RevokeToken(ctx, "system", revoked.ID); err != nil {
		t.Fatal(err)
	}
	forged := revoked
	forged.Secret = append([]byte(nil), forged.Secret...)
	forged.Secret[0] ^= 1
	if _, err := s.CreateUser(ctx, "system", "gone", RoleAdmin, false); err != nil {
		t.Fatal(err)
	}
	gone, _, _ := s.CreateToken(ctx, "system", "gone", 0, "")
	disabled := true
	if _, err := s.UpdateUser(ctx, "system", "gone", UserUpdate{Disabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	*now = now.Add(2 * time.Hour) // short has expired

	cases := []struct {
		name, header, route string
		want                error
		who                 string
	}{
		{"viewer reads", "Bearer " + tokens[RoleViewer], "ci.list", nil, "user:viewer"},
		{"viewer cannot create users", "Bearer " + tokens[RoleViewer], "user.create", api.ErrPermission, ""},
		{"admin creates users", "Bearer " + tokens[RoleAdmin], "user.create", nil, "user:admin"},
		{"asset manager cannot read the audit log", "Bearer " + tokens[RoleAssetManager], "audit.list", api.ErrPermission, ""},
		{"route without an entry is refused to admin", "Bearer " + tokens[RoleAdmin], "no.such.route", api.ErrPermission, ""},
		{"no header", "", "ci.list", api.ErrUnauthenticated, ""},
		{"basic auth", "Basic YTpi", "ci.list", api.ErrUnauthenticated, ""},
		{"garbage token", "Bearer nonsense", "ci.list", api.ErrUnauthenticated, ""},
		{"forged secret", "Bearer " + forged.String(), "ci.list", api.ErrUnauthenticated, ""},
		{"revoked token", "Bearer " + revoked.String(), "ci.list", api.ErrUnauthenticated, ""},
		{"expired token", "Bearer " + short.String(), "ci.list", api.ErrUnauthenticated, ""},
		{"disabled user", "Bearer " + gone.String(), "ci.list", api.ErrUnauthenticated, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api/v1/x", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			who, err := s.Authorize(r, tc.route)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if who != tc.who {
				t.Errorf("principal %q, want %q", who, tc.who)
			}
		})
	}
}

func TestUserValidationWritesNothing(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	if _, err := s.CreateUser(ctx, "system", "alice", RoleViewer, false); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		do   func() error
	}{
		{"bad name", func() error { _, err := s.CreateUser(ctx, "system", "Bad Name", RoleViewer, false); return err }},
		{"bad role", func() error { _, err := s.CreateUser(ctx, "system", "bob", "root", false); return err }},
		{"duplicate", func() error { _, err := s.CreateUser(ctx, "system", "alice", RoleViewer, false); return err }},
		{"token for nobody", func() error { _, _, err := s.CreateToken(ctx, "system", "nobody", 0, ""); return err }},
		{"admin demotes self", func() error {
			s.CreateUser(ctx, "system", "root", RoleAdmin, false)
			before, _ := s.cfg.Store.Rev(ctx)
			r := RoleViewer
			_, err := s.UpdateUser(ctx, "user:root", "root", UserUpdate{Role: &r})
			if after, _ := s.cfg.Store.Rev(ctx); after != before {
				t.Error("wrote")
			}
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := s.cfg.Store.Rev(ctx)
			err := tc.do()
			if !errors.Is(err, cmdb.ErrInvalid) && !errors.Is(err, cmdb.ErrConflict) && !errors.Is(err, cmdb.ErrNotFound) && !errors.Is(err, cmdb.ErrForbidden) {
				t.Fatalf("err %v: want a cmdb sentinel", err)
			}
			if tc.name != "admin demotes self" {
				if after, _ := s.cfg.Store.Rev(ctx); after != before {
					t.Error("a refused call wrote")
				}
			}
		})
	}
}

// TestMutationsAreAudited: every user and token change leaves one record.
func TestMutationsAreAudited(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	s.CreateUser(ctx, "user:a", "bob", RoleViewer, true)
	tok, _, _ := s.CreateToken(ctx, "user:a", "bob", 0, "ci")
	r := RoleServiceDesk
	s.UpdateUser(ctx, "user:a", "bob", UserUpdate{Role: &r})
	s.RevokeToken(ctx, "user:a", tok.ID)
	es, _, err := audit.List(ctx, s.cfg.Store, audit.Filter{Actor: "user:a"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Action+" "+e.Object)
	}
	want := []string{"user.create user/bob", "token.create token/" + tok.ID, "user.update user/bob", "token.revoke token/" + tok.ID}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("audit %v, want %v", got, want)
	}
}

// TestAPILimits: a body over the limit gets 413 and a caller over its
// rate 429, through the real API server.
func TestAPILimits(t *testing.T) {
	st := teststore.Open(t)
	s := New(Config{Store: st, Rate: 1, Burst: 3})
	dir := t.TempDir()
	if _, err := s.Bootstrap(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, AdminTokenFile))
	tok := strings.TrimSpace(string(b))
	srv := httptest.NewServer(api.New(api.Config{Graph: cmdb.NewGraph(st), Auth: s, MaxBody: 1024, Extra: s.Routes()}).Handler())
	defer srv.Close()
	do := func(method, path, body string) int {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	before, _ := st.Rev(context.Background())
	if got := do("POST", "/api/v1/users", `{"name":"x","role":"viewer","pad":"`+strings.Repeat("a", 2000)+`"}`); got != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d, want 413", got)
	}
	if after, _ := st.Rev(context.Background()); after != before {
		t.Error("an oversized request wrote")
	}
	codes := []int{do("GET", "/api/v1/users", ""), do("GET", "/api/v1/users", ""), do("GET", "/api/v1/users", "")}
	if codes[len(codes)-1] != http.StatusTooManyRequests {
		t.Errorf("statuses %v: want 429 once the burst is spent", codes)
	}
}

// FuzzParseToken: the API token parser never panics and accepts only what
// prints back the same.
func FuzzParseToken(f *testing.F) {
	f.Add(newToken().String())
	f.Add("pat_")
	f.Add("pat_0011223344556677_")
	f.Add("pat_00112233445566zz_" + strings.Repeat("A", 43))
	f.Add("Bearer pat_x_y")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			if !errors.Is(err, api.ErrUnauthenticated) {
				t.Fatalf("error %v is not ErrUnauthenticated", err)
			}
			return
		}
		if tok.String() != s {
			t.Fatalf("ParseToken(%q).String() = %q", s, tok.String())
		}
	})
}

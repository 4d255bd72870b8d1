package enroll

import (
	"context"
	"strings"
	"testing"
	"time"

	"parc/cmdb/store/teststore"
)

func TestParseToken(t *testing.T) {
	good := newToken([32]byte{1, 2, 3})
	cases := []struct {
		name, in string
		ok       bool
	}{
		{"round trip", good.String(), true},
		{"surrounding space", "  " + good.String() + "\n", true},
		{"empty", "", false},
		{"no prefix", strings.TrimPrefix(good.String(), TokenPrefix), false},
		{"api token", "pat_0011223344556677_" + strings.Repeat("A", 43), false},
		{"short", good.String()[:40], false},
		{"long", good.String() + "A", false},
		{"not base64url", good.String()[:len(good.String())-1] + "+", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseToken(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseToken: err %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && got != good {
				t.Errorf("got %+v, want %+v", got, good)
			}
		})
	}
}

// FuzzParseToken: the parser never panics, and whatever it accepts
// prints back to the same token.
func FuzzParseToken(f *testing.F) {
	f.Add(newToken([32]byte{9}).String())
	f.Add("pe1_")
	f.Add("pe1_" + strings.Repeat("_", 86))
	f.Add("pat_0011223344556677_abc")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			return
		}
		if tok.String() != strings.TrimSpace(s) {
			t.Fatalf("ParseToken(%q).String() = %q", s, tok.String())
		}
		if validID(tok.ID) != nil {
			t.Fatalf("parsed id %q is not a valid key", tok.ID)
		}
	})
}

func TestBootstrapCAOnce(t *testing.T) {
	st := teststore.Open(t)
	now := time.Now()
	a, created, err := BootstrapCA(context.Background(), st, now)
	if err != nil || !created {
		t.Fatalf("first bootstrap: created=%v err=%v", created, err)
	}
	b, created, err := BootstrapCA(context.Background(), st, now)
	if err != nil || created {
		t.Fatalf("second bootstrap: created=%v err=%v", created, err)
	}
	if a.Pin() != b.Pin() {
		t.Error("a second start made another CA")
	}
}

func TestCreateTokenValidates(t *testing.T) {
	st := teststore.Open(t)
	ca, _ := NewCA(time.Now())
	s := New(Config{Store: st, CA: ca})
	cases := []struct {
		name string
		ttl  time.Duration
		uses int
	}{
		{"ttl too short", time.Second, 1},
		{"ttl too long", 400 * 24 * time.Hour, 1},
		{"negative uses", time.Hour, -1},
		{"too many uses", time.Hour, MaxTokenUses + 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := st.Rev(context.Background())
			if _, _, err := s.CreateToken(context.Background(), "user:t", tc.ttl, tc.uses, ""); err == nil {
				t.Fatal("accepted")
			}
			if after, _ := st.Rev(context.Background()); after != before {
				t.Error("a refused token creation wrote")
			}
		})
	}
}

func TestOperatorCA(t *testing.T) {
	ca, err := NewCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key := dir+"/ca.crt", dir+"/ca.key"
	if err := ca.WritePEM(cert, key); err != nil {
		t.Fatal(err)
	}
	got, err := LoadCA(cert, key)
	if err != nil || got.Pin() != ca.Pin() {
		t.Fatalf("LoadCA: %v", err)
	}
	other, _ := NewCA(time.Now())
	if err := other.WritePEM(dir+"/other.crt", dir+"/other.key"); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCA(cert, dir+"/other.key"); err == nil {
		t.Error("LoadCA accepted a key of another CA")
	}
	leaf, err := ca.ServerCert(time.Now(), time.Hour, "10.1.2.3", "collector.example")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCA(dir+"/nonexistent", key); err == nil {
		t.Error("LoadCA accepted a missing file")
	}
	if err := leaf.Leaf.VerifyHostname(ServerName); err != nil {
		t.Errorf("server certificate does not name %s: %v", ServerName, err)
	}
	if err := leaf.Leaf.VerifyHostname("10.1.2.3"); err != nil {
		t.Errorf("server certificate does not name its listen address: %v", err)
	}
}

package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"parc/collector/api"
)

// TokenPrefix starts every API token: pat_<id>_<secret>.
const TokenPrefix = "pat_"

const (
	idBytes     = 8
	secretBytes = 32
)

// Token is a parsed API token.
type Token struct {
	ID     string
	Secret []byte
}

// String returns the token as given to its holder.
func (t Token) String() string {
	return TokenPrefix + t.ID + "_" + base64.RawURLEncoding.EncodeToString(t.Secret)
}

func (t Token) hash() []byte {
	h := sha256.Sum256(t.Secret)
	return h[:]
}

func newToken() Token {
	id := make([]byte, idBytes)
	sec := make([]byte, secretBytes)
	if _, err := rand.Read(id); err != nil {
		panic(err)
	}
	if _, err := rand.Read(sec); err != nil {
		panic(err)
	}
	return Token{ID: hex.EncodeToString(id), Secret: sec}
}

// ParseToken parses an API token's shape; whether it is known, live and
// bound to an enabled user is checked against the store.
func ParseToken(s string) (Token, error) {
	rest, ok := strings.CutPrefix(s, TokenPrefix)
	if !ok {
		return Token{}, fmt.Errorf("%w: token must start with %s", api.ErrUnauthenticated, TokenPrefix)
	}
	id, sec, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 2*idBytes || len(sec) != base64.RawURLEncoding.EncodedLen(secretBytes) {
		return Token{}, fmt.Errorf("%w: malformed token", api.ErrUnauthenticated)
	}
	if _, err := hex.DecodeString(id); err != nil || strings.ToLower(id) != id {
		return Token{}, fmt.Errorf("%w: malformed token id", api.ErrUnauthenticated)
	}
	secret, err := base64.RawURLEncoding.Strict().DecodeString(sec)
	if err != nil || len(secret) != secretBytes {
		return Token{}, fmt.Errorf("%w: malformed token secret", api.ErrUnauthenticated)
	}
	return Token{ID: id, Secret: secret}, nil
}

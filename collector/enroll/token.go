package enroll

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"parc/cmdb"
)

// TokenPrefix starts every enrollment token (version 1).
const TokenPrefix = "pe1_"

const (
	pinLen    = 32
	idLen     = 8
	secretLen = 24
	tokenLen  = pinLen + idLen + secretLen
)

// Token is a parsed enrollment token: the CA pin the agent trusts, the
// token's id (its store key) and the secret whose hash is stored.
type Token struct {
	Pin    [pinLen]byte
	ID     string
	Secret [secretLen]byte
}

// String returns the token as given to an agent:
// pe1_ + base64url(pin | id | secret).
func (t Token) String() string {
	id, _ := hex.DecodeString(t.ID)
	raw := make([]byte, 0, tokenLen)
	raw = append(raw, t.Pin[:]...)
	raw = append(raw, id...)
	raw = append(raw, t.Secret[:]...)
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
}

func (t Token) hash() [32]byte { return sha256.Sum256(t.Secret[:]) }

// newToken makes a token for the CA with pin.
func newToken(pin [32]byte) Token {
	var id [idLen]byte
	t := Token{Pin: pin}
	if _, err := rand.Read(id[:]); err != nil {
		panic(err)
	}
	if _, err := rand.Read(t.Secret[:]); err != nil {
		panic(err)
	}
	t.ID = hex.EncodeToString(id[:])
	return t
}

// ParseToken parses an enrollment token. It checks the shape only: whether
// the token is known, live and has uses left is the store's business.
func ParseToken(s string) (Token, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, TokenPrefix) {
		return Token{}, fmt.Errorf("%w: enrollment token: want prefix %s", ErrUnauthenticated, TokenPrefix)
	}
	body := s[len(TokenPrefix):]
	if len(body) != base64.RawURLEncoding.EncodedLen(tokenLen) {
		return Token{}, fmt.Errorf("%w: enrollment token: wrong length", ErrUnauthenticated)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(body)
	if err != nil || len(raw) != tokenLen {
		return Token{}, fmt.Errorf("%w: enrollment token: not base64url", ErrUnauthenticated)
	}
	var t Token
	copy(t.Pin[:], raw[:pinLen])
	t.ID = hex.EncodeToString(raw[pinLen : pinLen+idLen])
	copy(t.Secret[:], raw[pinLen+idLen:])
	return t, nil
}

// validID reports whether s looks like a token id (so it can be a key).
func validID(s string) error {
	if len(s) != 2*idLen {
		return fmt.Errorf("%w: token id %q: want %d hex digits", cmdb.ErrInvalid, s, 2*idLen)
	}
	if _, err := hex.DecodeString(s); err != nil {
		return fmt.Errorf("%w: token id %q: want hex digits", cmdb.ErrInvalid, s)
	}
	return nil
}

package enroll

import (
	"encoding/base64"
	"errors"
	"strings"
)

// The enrollment token format (collector/enroll.Token): "pe1_" +
// base64url(CA SHA-256 [32] | token id [8] | secret [24]). The agent only
// needs the pin; the collector checks the rest.
const (
	tokenPrefix = "pe1_"
	tokenLen    = 32 + 8 + 24
)

// ErrBadToken is returned for a string that is not an enrollment token.
var ErrBadToken = errors.New("malformed enrollment token (want pe1_… as printed by `parc enroll-token create`)")

// tokenPin returns the CA pin an enrollment token carries.
func tokenPin(s string) ([32]byte, error) {
	var pin [32]byte
	body, ok := strings.CutPrefix(strings.TrimSpace(s), tokenPrefix)
	if !ok || len(body) != base64.RawURLEncoding.EncodedLen(tokenLen) {
		return pin, ErrBadToken
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(body)
	if err != nil || len(raw) != tokenLen {
		return pin, ErrBadToken
	}
	copy(pin[:], raw[:32])
	return pin, nil
}

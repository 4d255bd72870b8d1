package enroll

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestTokenPin(t *testing.T) {
	raw := make([]byte, tokenLen)
	for i := range 32 {
		raw[i] = byte(i)
	}
	good := tokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	cases := []struct {
		name, in string
		ok       bool
	}{
		{"good", good, true},
		{"trailing newline", good + "\n", true},
		{"no prefix", strings.TrimPrefix(good, tokenPrefix), false},
		{"api token", "pat_0011223344556677_" + strings.Repeat("A", 43), false},
		{"truncated", good[:len(good)-2], false},
		{"padded base64", good + "==", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pin, err := tokenPin(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("err %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && pin[31] != 31 {
				t.Errorf("pin %x", pin)
			}
		})
	}
}

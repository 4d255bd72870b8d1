package cmdb

import (
	"crypto/sha256"
	"fmt"
	"strings"

	"github.com/fxamacker/cbor/v2"
	"github.com/oklog/ulid/v2"
)

// formatCBOR is the format byte in front of every value this package writes,
// so the encoding can change later without a flag day.
const formatCBOR = 0x01

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.EncOptions{Sort: cbor.SortCoreDeterministic, Time: cbor.TimeRFC3339Nano, ShortestFloat: cbor.ShortestFloat16}.EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{IntDec: cbor.IntDecConvertSigned, MaxArrayElements: 1 << 20, MaxMapPairs: 1 << 20}.DecMode()
	if err != nil {
		panic(err)
	}
}

// Encode returns v as a versioned value for the store.
func Encode(v any) ([]byte, error) {
	b, err := encMode.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return append([]byte{formatCBOR}, b...), nil
}

// Decode reads a value written by Encode into v.
func Decode(data []byte, v any) error {
	if len(data) == 0 || data[0] != formatCBOR {
		return fmt.Errorf("decode %T: %w", v, ErrCorrupt)
	}
	if err := decMode.Unmarshal(data[1:], v); err != nil {
		return fmt.Errorf("decode %T: %w: %v", v, ErrCorrupt, err)
	}
	return nil
}

// NewID returns a new CI id (a ULID).
func NewID() string { return ulid.Make().String() }

// DerivedID returns a stable ULID-shaped id for a CI whose identity is a
// name alone (a software title, a component of a host), so that every
// collector derives the same id without coordination.
func DerivedID(kind, name string) string {
	sum := sha256.Sum256([]byte(kind + "\x00" + name))
	var id ulid.ULID
	copy(id[6:], sum[:10])
	return id.String()
}

// NormalizeTitle returns the title key of a package name: lower case,
// trimmed, inner spaces folded.
func NormalizeTitle(name string) string {
	return strings.Join(strings.Fields(strings.ToLower(name)), " ")
}

// Canon returns v in the canonical form attribute values are compared in:
// integers as int64 and lists of strings as []string, whatever a decoder
// produced.
func Canon(v any) any {
	switch x := v.(type) {
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		return int64(x)
	case float32:
		return float64(x)
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return v
			}
			out = append(out, s)
		}
		return out
	}
	return v
}

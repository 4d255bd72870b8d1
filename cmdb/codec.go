package cmdb

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"

	"github.com/fxamacker/cbor/v2"
	"github.com/klauspost/compress/zstd"
	"github.com/oklog/ulid/v2"
)

// The format byte in front of every value this package writes, so the
// encoding can change without a flag day: plain CBOR, or CBOR compressed
// with zstd for large values (software records are tens of kilobytes of
// repetitive text, and every byte written is also kept in the change feed
// and mapped into memory by the store).
const (
	formatCBOR     = 0x01
	formatCBORZstd = 0x02
	// formatCBORZstdDict: compressed against a shared dictionary (see
	// swdict.go), whose id follows in 4 bytes.
	formatCBORZstdDict = 0x03
)

// compressAbove is the encoded size from which Encode tries compression;
// it keeps the result only when it saves at least a quarter.
const compressAbove = 2 << 10

// maxDecoded bounds what a compressed value may expand to (a store value
// is at most 1 MiB; CBOR of that compresses well, but not a hundredfold).
const maxDecoded = 64 << 20

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
	zenc    *zstd.Encoder
	zdec    *zstd.Decoder
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
	// EncodeAll and DecodeAll are safe for concurrent use.
	zenc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithLowerEncoderMem(true), zstd.WithZeroFrames(true))
	if err != nil {
		panic(err)
	}
	zdec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(2), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(maxDecoded))
	if err != nil {
		panic(err)
	}
}

// encodeBufs recycles the buffers values with their own encoder are
// encoded into (see encodeDirect); a buffer grown past maxPooled is left
// to the GC.
var encodeBufs = sync.Pool{New: func() any { return new([]byte) }}

const maxPooled = 1 << 20

// Encode returns v as a versioned value for the store.
func Encode(v any) ([]byte, error) {
	var ci *CI
	switch c := v.(type) {
	case *CI:
		ci = c
	case CI:
		ci = &c
	}
	if ci != nil && ci.head {
		return nil, fmt.Errorf("encode CI %s: read without its attributes (CIHead): %w", ci.ID, ErrInvalid)
	}
	if out, ok := encodeDirect(v); ok {
		return out, nil
	}
	b, err := encMode.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return encodePayload(b), nil
}

// encodeDirect encodes software records, CIs and relationships without
// the library, as it would. It reports false for other values, nil
// pointers (the library writes null) and what the direct encoders decline.
func encodeDirect(v any) ([]byte, bool) {
	var (
		rec *SoftwareRecord
		ci  *CI
		rel *Relationship
	)
	switch x := v.(type) {
	case SoftwareRecord:
		rec = &x
	case *SoftwareRecord:
		rec = x
	case CI:
		ci = &x
	case *CI:
		ci = x
	case Relationship:
		rel = &x
	case *Relationship:
		rel = x
	}
	if rec == nil && ci == nil && rel == nil {
		return nil, false
	}
	buf := encodeBufs.Get().(*[]byte)
	b, ok := (*buf)[:0], true
	switch {
	case rec != nil:
		b = appendSoftwareCBOR(b, rec)
	case ci != nil:
		b, ok = appendCI(b, ci)
	default:
		b, ok = appendRel(b, rel)
	}
	var out []byte
	if ok {
		out = encodePayload(b)
	}
	if cap(b) <= maxPooled {
		*buf = b
		encodeBufs.Put(buf)
	}
	return out, ok
}

// encodePayload returns the stored form of CBOR b: behind its format byte,
// compressed when that saves enough. The result is always a new slice, so
// b may be reused.
func encodePayload(b []byte) []byte {
	if len(b) >= compressAbove {
		z := zenc.EncodeAll(b, append(make([]byte, 0, len(b)/2), formatCBORZstd))
		if len(z) <= len(b)*3/4 {
			return z
		}
	}
	return append([]byte{formatCBOR}, b...)
}

// payloadBufs recycles decompression buffers (see WithPayload).
var payloadBufs = sync.Pool{New: func() any { return new([]byte) }}

// WithPayload calls fn with the CBOR of a value written by Encode,
// decompressed when it was compressed (into a recycled buffer, or shared
// from the payload cache): fn must neither modify p nor keep it, and copies
// out what it keeps.
func WithPayload(data []byte, fn func(p []byte) error) error {
	if len(data) == 0 {
		return ErrCorrupt
	}
	switch data[0] {
	case formatCBOR:
		return fn(data[1:])
	case formatCBORZstd, formatCBORZstdDict:
		dec, frame := zdec, data[1:]
		if data[0] == formatCBORZstdDict {
			if len(frame) < 4 {
				return ErrCorrupt
			}
			d, err := lookupDict(binary.BigEndian.Uint32(frame))
			if err != nil {
				return err
			}
			dec, frame = d.dec, frame[4:]
		}
		if e := payloads.get(data); e != nil {
			defer payloads.release(e)
			return fn(*e.payload)
		}
		buf := payloadBufs.Get().(*[]byte)
		var err error
		if *buf, err = dec.DecodeAll(frame, (*buf)[:0]); err != nil {
			payloadBufs.Put(buf)
			return fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		if e := payloads.adopt(data, buf); e != nil {
			defer payloads.release(e)
			return fn(*e.payload)
		}
		defer payloadBufs.Put(buf)
		return fn(*buf)
	}
	return fmt.Errorf("%w: unknown format byte %#x", ErrCorrupt, data[0])
}

// Decode reads a value written by Encode into v.
func Decode(data []byte, v any) error {
	if err := WithPayload(data, func(p []byte) error { return decodePayload(p, v) }); err != nil {
		return fmt.Errorf("decode %T: %w", v, err)
	}
	return nil
}

func decodePayload(p []byte, v any) error {
	if decodeDirect(p, v) {
		return nil
	}
	if err := decMode.Unmarshal(p, v); err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return nil
}

// decodeDirect decodes software records, CIs and relationships without
// the library, as it would, and reports whether it did; when it did not,
// v is as it was (but for a software record's items) for the library to
// decode into.
func decodeDirect(p []byte, v any) bool {
	switch x := v.(type) {
	case *SoftwareRecord:
		return decodeSoftware(p, x) == nil
	case *CI:
		// The library merges a payload into the maps and fields a value
		// already holds; the fast path only replaces, so it serves zero
		// values, which is what callers decode into.
		if x == nil || !zeroCI(x) {
			return false
		}
		var ci CI
		if decodeCI(p, &ci) != nil {
			return false
		}
		ci.Rev = x.Rev
		*x = ci
		return true
	case *Relationship:
		if x == nil || !zeroRel(x) {
			return false
		}
		var rel Relationship
		if decodeRel(p, &rel) != nil {
			return false
		}
		*x = rel
		return true
	}
	return false
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

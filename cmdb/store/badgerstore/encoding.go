package badgerstore

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/klauspost/compress/zstd"

	"parc/cmdb/store"
)

// Internal keys, all in the reserved 0x00 range.
var (
	metaRevKey     = []byte("\x00meta/rev")
	metaCompactKey = []byte("\x00meta/compacted")
	feedPrefix     = []byte("\x00feed/")
)

// minUserKey is the smallest key outside the reserved range.
var minUserKey = []byte{0x01}

const headerLen = 8

func feedKey(rev int64) []byte {
	k := make([]byte, len(feedPrefix)+8)
	copy(k, feedPrefix)
	binary.BigEndian.PutUint64(k[len(feedPrefix):], uint64(rev))
	return k
}

func feedKeyRev(k []byte) int64 {
	return int64(binary.BigEndian.Uint64(k[len(feedPrefix):]))
}

func encodeInt(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

func decodeInt(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("badgerstore: bad counter of %d bytes", len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

var errCorrupt = errors.New("badgerstore: corrupt record")

func decodeValue(b []byte) (rev int64, v []byte, err error) {
	if len(b) < headerLen {
		return 0, nil, errCorrupt
	}
	return int64(binary.BigEndian.Uint64(b)), b[headerLen:], nil
}

// change is one effective write of a committed transaction.
type change struct {
	key   []byte
	del   bool
	value []byte
	// stored is value behind room for the header (value is its tail),
	// written at commit: the value is copied once.
	stored []byte
	prev   []byte // nil: the key was absent
}

// newStored copies v behind room for a header: stored, and v's copy.
func newStored(v []byte) (stored, value []byte) {
	stored = make([]byte, headerLen+len(v))
	copy(stored[headerLen:], v)
	return stored, stored[headerLen:]
}

// sealStored writes rev into the header of stored and returns it.
func sealStored(rev int64, stored []byte) []byte {
	binary.BigEndian.PutUint64(stored, uint64(rev))
	return stored
}

// encodeRecord encodes one revision's changes: count, then per change
// type, key, value (puts) and an optional previous value.
func encodeRecord(cs []change) []byte {
	n := 10
	for _, c := range cs {
		n += 3*binary.MaxVarintLen32 + 2 + len(c.key) + len(c.value) + len(c.prev)
	}
	b := make([]byte, 0, n)
	b = binary.AppendUvarint(b, uint64(len(cs)))
	for _, c := range cs {
		typ := byte(store.EventPut)
		if c.del {
			typ = byte(store.EventDelete)
		}
		b = append(b, typ)
		b = appendBytes(b, c.key)
		if !c.del {
			b = appendBytes(b, c.value)
		}
		if c.prev == nil {
			b = append(b, 0)
		} else {
			b = append(b, 1)
			b = appendBytes(b, c.prev)
		}
	}
	return b
}

func appendBytes(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

// decodeRecord decodes a feed record into events for rev, keeping those
// under prefix and setting Last on the final one. b must not be reused.
func decodeRecord(b []byte, rev int64, prefix []byte, out []store.Event) ([]store.Event, error) {
	n, b, err := readUvarint(b)
	if err != nil {
		return out, err
	}
	start := len(out)
	for range n {
		if len(b) < 1 {
			return out, errCorrupt
		}
		ev := store.Event{Type: store.EventType(b[0]), Rev: rev}
		b = b[1:]
		if ev.Key, b, err = readBytes(b); err != nil {
			return out, err
		}
		if ev.Type == store.EventPut {
			if ev.Value, b, err = readBytes(b); err != nil {
				return out, err
			}
		}
		if len(b) < 1 {
			return out, errCorrupt
		}
		hasPrev := b[0] == 1
		b = b[1:]
		if hasPrev {
			if ev.Prev, b, err = readBytes(b); err != nil {
				return out, err
			}
		}
		if hasPrefix(ev.Key, prefix) {
			out = append(out, ev)
		}
	}
	if len(out) > start {
		out[len(out)-1].Last = true
	}
	return out, nil
}

func hasPrefix(k, p []byte) bool {
	return len(k) >= len(p) && string(k[:len(p)]) == string(p)
}

func readUvarint(b []byte) (uint64, []byte, error) {
	n, l := binary.Uvarint(b)
	if l <= 0 {
		return 0, nil, errCorrupt
	}
	return n, b[l:], nil
}

func readBytes(b []byte) ([]byte, []byte, error) {
	n, b, err := readUvarint(b)
	if err != nil || uint64(len(b)) < n {
		return nil, nil, errCorrupt
	}
	return b[:n:n], b[n:], nil
}

// Feed records are stored compressed when large: the collector's records
// carry whole CI and history values, which compress several times over,
// and the feed is most of what the store writes. A compressed record is
// recordZstd and a zstd frame, whose magic number follows. A plain record
// starts with the uvarint count of its changes, which is recordZstd for
// 255, 383 and every 128 more: such a record is stored compressed even if
// that saves nothing, and a stored record starting with recordZstd but not
// with the magic number (written before that rule) is plain.
const (
	recordZstd          = 0xff
	compressRecordAbove = 1 << 10
)

// zstdMagic starts every zstd frame. A plain record cannot have it after
// recordZstd: its count would be 5,247 or more, past every store limit.
var zstdMagic = [4]byte{0x28, 0xb5, 0x2f, 0xfd}

var (
	recEnc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithLowerEncoderMem(true), zstd.WithZeroFrames(true))
	recDec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(2), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(64<<20))
)

// storedRecord returns the form of rec written to Badger.
func storedRecord(rec []byte) []byte {
	marked := len(rec) > 0 && rec[0] == recordZstd // must not be stored plain
	if len(rec) < compressRecordAbove && !marked {
		return rec
	}
	z := recEnc.EncodeAll(rec, append(make([]byte, 0, len(rec)/3), recordZstd))
	if len(z) >= len(rec)*7/8 && !marked {
		return rec
	}
	return z
}

// compressed tells whether a stored record is compressed.
func compressed(b []byte) bool {
	return len(b) > len(zstdMagic) && b[0] == recordZstd && [4]byte(b[1:5]) == zstdMagic
}

// loadedRecord returns the plain record of what storedRecord wrote.
func loadedRecord(b []byte) ([]byte, error) {
	if !compressed(b) {
		return b, nil
	}
	rec, err := recDec.DecodeAll(b[1:], nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	return rec, nil
}

package cmdb

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"

	"parc/cmdb/store"
)

// Software records are compressed against a shared dictionary: the hosts
// of a fleet install mostly the same packages, so one host's record holds
// most of the strings of every other's. Against it an 800-package record
// shrinks to about 2.7 KB instead of 16 KB alone, and compresses three
// times faster: the whole fleet's software fits in a few tens of
// megabytes.
//
// The first large record written becomes the dictionary, in the same
// transaction (zd/current names it, zd/<id> holds it). A value compressed
// against it is
//
//	formatCBORZstdDict, dictionary id (4 bytes, big endian), zstd frame
//
// and the id is the start of the SHA-256 of the content, so a dictionary
// is the same wherever it was loaded from, and registering one that a
// transaction then failed to commit is harmless.
const (
	PrefixDict     = "zd/"
	dictCurrentKey = PrefixDict + "current"
	// minDictRecord is the smallest record that may become the dictionary
	// (about a hundred packages: smaller ones compress little of a host).
	minDictRecord = 8 << 10
	// maxDictSize bounds the dictionary (zstd looks back at most this far).
	maxDictSize = 128 << 10
)

func dictKey(id uint32) []byte { return fmt.Appendf(nil, "%s%08x", PrefixDict, id) }

// swDict is one registered dictionary.
type swDict struct {
	id      uint32
	content []byte
	enc     *zstd.Encoder
	dec     *zstd.Decoder
}

// dictID is the dictionary id of content (never 0, which zstd reserves).
func dictID(content []byte) uint32 {
	sum := sha256.Sum256(content)
	return max(1, binary.BigEndian.Uint32(sum[:4]))
}

var dicts struct {
	mu      sync.Mutex
	byID    atomic.Pointer[map[uint32]*swDict] // copied on write
	sources map[*store.Reader]struct{}         // where unknown ids are looked up
}

// UseDictionaries lets values compressed against a dictionary that this
// process has not seen yet (written by another collector, or before a
// restart) be decoded: their dictionary is read from r on first use, until
// release is called.
func UseDictionaries(r store.Reader) (release func()) {
	dicts.mu.Lock()
	defer dicts.mu.Unlock()
	if dicts.sources == nil {
		dicts.sources = map[*store.Reader]struct{}{}
	}
	p := &r
	dicts.sources[p] = struct{}{}
	return func() {
		dicts.mu.Lock()
		defer dicts.mu.Unlock()
		delete(dicts.sources, p)
	}
}

// registerDict makes content usable as dictionary id.
func registerDict(id uint32, content []byte) (*swDict, error) {
	if id != dictID(content) {
		return nil, fmt.Errorf("%w: dictionary %08x does not match its content", ErrCorrupt, id)
	}
	dicts.mu.Lock()
	defer dicts.mu.Unlock()
	old := dicts.byID.Load()
	if old != nil && (*old)[id] != nil {
		return (*old)[id], nil
	}
	content = append([]byte(nil), content...)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithLowerEncoderMem(true), zstd.WithZeroFrames(true), zstd.WithEncoderDictRaw(id, content))
	if err != nil {
		return nil, fmt.Errorf("dictionary %08x: %w", id, err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(2), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(maxDecoded), zstd.WithDecoderDictRaw(id, content))
	if err != nil {
		return nil, fmt.Errorf("dictionary %08x: %w", id, err)
	}
	d := &swDict{id: id, content: content, enc: enc, dec: dec}
	next := map[uint32]*swDict{id: d}
	if old != nil {
		for k, v := range *old {
			next[k] = v
		}
	}
	dicts.byID.Store(&next)
	return d, nil
}

// lookupDict returns dictionary id, reading it from the stores given to
// UseDictionaries when this process has not registered it yet.
func lookupDict(id uint32) (*swDict, error) {
	if m := dicts.byID.Load(); m != nil {
		if d := (*m)[id]; d != nil {
			return d, nil
		}
	}
	dicts.mu.Lock()
	var sources []store.Reader
	for r := range dicts.sources {
		sources = append(sources, *r)
	}
	dicts.mu.Unlock()
	var failed error
	for _, r := range sources {
		content, err := r.Get(context.Background(), dictKey(id))
		if err == nil {
			return registerDict(id, content)
		}
		if !errors.Is(err, store.ErrNotFound) {
			failed = fmt.Errorf("load compression dictionary %08x: %w", id, err)
		}
	}
	if failed != nil {
		return nil, failed
	}
	return nil, fmt.Errorf("%w: unknown compression dictionary %08x", ErrCorrupt, id)
}

// softwareDict returns the dictionary to compress software records with in
// this transaction: the store's current one, or payload (a record's CBOR)
// as the first when there is none yet and payload is large enough. Nil
// when there is none.
func (t *Tx) softwareDict(payload []byte) (*swDict, error) {
	v, err := t.tx.Get(t.ctx, []byte(dictCurrentKey))
	switch {
	case err == nil:
		if len(v) != 4 {
			return nil, fmt.Errorf("%w: %s is %d bytes", ErrCorrupt, dictCurrentKey, len(v))
		}
		id := binary.BigEndian.Uint32(v)
		if m := dicts.byID.Load(); m != nil && (*m)[id] != nil {
			return (*m)[id], nil
		}
		content, err := t.tx.Get(t.ctx, dictKey(id))
		if err != nil {
			return nil, fmt.Errorf("dictionary %08x: %w", id, err)
		}
		return registerDict(id, content)
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	case len(payload) < minDictRecord:
		return nil, nil
	}
	content := payload[:min(len(payload), maxDictSize)]
	id := dictID(content)
	d, err := registerDict(id, content)
	if err != nil {
		return nil, err
	}
	if err := t.tx.Put(dictKey(id), d.content); err != nil {
		return nil, err
	}
	return d, t.tx.Put([]byte(dictCurrentKey), binary.BigEndian.AppendUint32(nil, id))
}

// encodeWithDict returns the stored form of a CBOR payload: compressed
// against d when that saves a quarter, else as Encode would store it.
func encodeWithDict(payload []byte, d *swDict) []byte {
	if d != nil && len(payload) >= compressAbove {
		out := make([]byte, 5, 5+len(payload)/4)
		out[0] = formatCBORZstdDict
		binary.BigEndian.PutUint32(out[1:], d.id)
		out = d.enc.EncodeAll(payload, out)
		if len(out) <= len(payload)*3/4 {
			return out
		}
	}
	return encodePayload(payload)
}

package spool

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"

	parcv1 "parc/proto/parc/v1"
)

const suffix = ".report"

type entry struct {
	idx  uint64
	size int64
}

// Spool is safe for concurrent use.
type Spool struct {
	dir string
	max int64

	mu      sync.Mutex
	items   []entry // oldest first
	size    int64
	next    uint64
	dropped uint64
}

// Open opens (creating it if needed) the spool in dir, capped at maxBytes
// of report data. Leftover temporary files of an interrupted Put are
// removed.
func Open(dir string, maxBytes int64) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create spool: %w", err)
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read spool: %w", err)
	}
	s := &Spool{dir: dir, max: maxBytes, next: 1}
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, ".tmp-") {
			_ = os.Remove(filepath.Join(dir, name))
			continue
		}
		idx, err := strconv.ParseUint(strings.TrimSuffix(name, suffix), 10, 64)
		if err != nil || !strings.HasSuffix(name, suffix) {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue
		}
		s.items = append(s.items, entry{idx, info.Size()})
		s.size += info.Size()
	}
	slices.SortFunc(s.items, func(a, b entry) int { return cmpUint(a.idx, b.idx) })
	if n := len(s.items); n > 0 {
		s.next = s.items[n-1].idx + 1
	}
	return s, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (s *Spool) path(idx uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d%s", idx, suffix))
}

// Put stores r durably and returns its index and how many older reports
// were dropped to make room for it.
func (s *Spool) Put(r *parcv1.Report) (idx uint64, dropped int, err error) {
	b, err := proto.Marshal(r)
	if err != nil {
		return 0, 0, fmt.Errorf("marshal report: %w", err)
	}
	if int64(len(b)) > s.max {
		return 0, 0, fmt.Errorf("%w: %d > %d bytes", ErrTooLarge, len(b), s.max)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.items) > 0 && s.size+int64(len(b)) > s.max {
		old := s.items[0]
		if err := os.Remove(s.path(old.idx)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return 0, dropped, fmt.Errorf("drop spooled report: %w", err)
		}
		s.items = s.items[1:]
		s.size -= old.size
		s.dropped++
		dropped++
	}
	idx = s.next
	if err := writeDurable(s.dir, s.path(idx), b); err != nil {
		return 0, dropped, fmt.Errorf("spool report: %w", err)
	}
	s.next++
	s.items = append(s.items, entry{idx, int64(len(b))})
	s.size += int64(len(b))
	return idx, dropped, nil
}

// Peek returns the oldest report. A file that no longer parses is dropped,
// counted, and skipped.
func (s *Spool) Peek() (uint64, *parcv1.Report, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.items) > 0 {
		e := s.items[0]
		b, err := os.ReadFile(s.path(e.idx))
		r := &parcv1.Report{}
		if err == nil {
			err = proto.Unmarshal(b, r)
		}
		if err == nil {
			return e.idx, r, nil
		}
		_ = os.Remove(s.path(e.idx))
		s.items = s.items[1:]
		s.size -= e.size
		s.dropped++
	}
	return 0, nil, ErrEmpty
}

// Remove deletes the report at idx (it was acknowledged). Removing a report
// that was already dropped is not an error.
func (s *Spool) Remove(idx uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.items, func(e entry) bool { return e.idx == idx })
	if i < 0 {
		return nil
	}
	if err := os.Remove(s.path(idx)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove acknowledged report: %w", err)
	}
	s.size -= s.items[i].size
	s.items = slices.Delete(s.items, i, i+1)
	return nil
}

// Contains reports whether idx is still spooled.
func (s *Spool) Contains(idx uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.ContainsFunc(s.items, func(e entry) bool { return e.idx == idx })
}

// Len returns how many reports are spooled.
func (s *Spool) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items)
}

// Bytes returns the size of the spooled reports.
func (s *Spool) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// Dropped returns how many reports were dropped since Open.
func (s *Spool) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

func writeDurable(dir, p string, b []byte) error {
	tmp, err := os.CreateTemp(dir, ".tmp-")
	if err != nil {
		return err
	}
	name := tmp.Name()
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, p)
	}
	if err != nil {
		_ = os.Remove(name)
		return err
	}
	return syncDir(dir)
}

package incident

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"parc/cmdb"
	"parc/cmdb/store"
)

// Filter selects incidents for List. Empty fields match everything.
type Filter struct {
	// Status is one status, or "open" for every open status.
	Status   string
	Priority int
	Assignee string
	Group    string
	Category string
	// CI is a CI id.
	CI       string
	Major    bool
	Breached bool
	// After is the cursor: the number of the last incident of the
	// previous page.
	After string
	Limit int
	// Oldest lists oldest first (default: newest first).
	Oldest bool
}

func (f Filter) match(s *Summary) bool {
	switch {
	case f.Status == "open" && !IsOpen(s.Status),
		f.Status != "" && f.Status != "open" && s.Status != f.Status,
		f.Priority != 0 && s.Priority != f.Priority,
		f.Assignee != "" && s.Assignee != f.Assignee,
		f.Group != "" && s.Group != f.Group,
		f.Category != "" && s.Category != f.Category,
		f.Major && !s.Major,
		f.Breached && !s.Breached:
		return false
	case f.CI != "":
		for _, c := range s.CIs {
			if c == f.CI {
				return true
			}
		}
		return false
	}
	return true
}

// index picks the most selective index the filter can use (nil: scan the
// summaries).
func (f Filter) index() []byte {
	switch {
	case f.CI != "":
		return idxPrefix("ci", f.CI)
	case f.Assignee != "":
		return idxPrefix("assignee", f.Assignee)
	case f.Breached:
		return idxPrefix("breached", "1")
	case f.Major:
		return idxPrefix("major", "1")
	case f.Group != "":
		return idxPrefix("group", f.Group)
	case f.Status == "open":
		return idxPrefix("open", "1")
	case f.Status != "":
		return idxPrefix("status", f.Status)
	case f.Priority != 0:
		return idxPrefix("priority", strconv.Itoa(f.Priority))
	case f.Category != "":
		return idxPrefix("category", f.Category)
	}
	return nil
}

// List returns a page of incident summaries matching f, newest first, and
// the cursor of the next page ("" on the last page).
func (s *Service) List(ctx context.Context, f Filter) ([]Summary, string, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 50
	}
	if f.Status != "" && f.Status != "open" && !ValidStatus(f.Status) {
		return nil, "", invalid("status %q: want a status or open", f.Status)
	}
	prefix := f.index()
	direct := prefix == nil
	if direct {
		prefix = []byte(PrefixIncident + "s/")
	}
	rg := store.Range{Prefix: prefix, Reverse: !f.Oldest, Limit: max(64, 2*f.Limit)}
	if f.After != "" {
		seq, err := ParseNumber(f.After)
		if err != nil {
			return nil, "", err
		}
		rg.After = append(append([]byte(nil), prefix...), seqStr(seq)...)
	}
	var out []Summary
	more := false
	err := s.st.View(ctx, func(r store.Reader) error {
		for {
			kvs, err := r.Scan(ctx, rg)
			if err != nil {
				return err
			}
			for _, kv := range kvs {
				var sum Summary
				v := kv.Value
				if !direct {
					seq, err := seqOfKey(kv.Key)
					if err != nil {
						return fmt.Errorf("index key %s: %w", kv.Key, cmdb.ErrCorrupt)
					}
					if v, err = r.Get(ctx, sumKey(seq)); err != nil {
						if errors.Is(err, store.ErrNotFound) {
							continue
						}
						return err
					}
				}
				if err := cmdb.Decode(v, &sum); err != nil {
					return err
				}
				if !f.match(&sum) {
					continue
				}
				if len(out) == f.Limit {
					more = true
					return nil
				}
				out = append(out, sum)
			}
			if len(kvs) < rg.Limit {
				return nil
			}
			rg.After = kvs[len(kvs)-1].Key
		}
	})
	if err != nil {
		return nil, "", fmt.Errorf("list incidents: %w", err)
	}
	next := ""
	if more {
		next = out[len(out)-1].Number
	}
	return out, next, nil
}

// OpenOnCI returns the numbers of the open incidents (status not resolved,
// closed or rejected) that affect ci, oldest first.
func OpenOnCI(ctx context.Context, r store.Reader, ci string) ([]string, error) {
	kvs, err := r.Scan(ctx, store.Range{Prefix: openPrefix(ci)})
	if err != nil {
		return nil, fmt.Errorf("open incidents of %s: %w", ci, err)
	}
	out := make([]string, 0, len(kvs))
	for _, kv := range kvs {
		seq, err := seqOfKey(kv.Key)
		if err != nil {
			return nil, fmt.Errorf("index key %s: %w", kv.Key, cmdb.ErrCorrupt)
		}
		out = append(out, FormatNumber(seq))
	}
	return out, nil
}

// SupportCost returns the sum of the support cost recorded on every
// incident, open or not, that affects ci.
func SupportCost(ctx context.Context, r store.Reader, ci string) (float64, error) {
	var total float64
	err := forCI(ctx, r, ci, func(s *Summary) { total += s.SupportCost })
	return total, err
}

func forCI(ctx context.Context, r store.Reader, ci string, fn func(*Summary)) error {
	kvs, err := r.Scan(ctx, store.Range{Prefix: idxPrefix("ci", ci)})
	if err != nil {
		return fmt.Errorf("incidents of %s: %w", ci, err)
	}
	for _, kv := range kvs {
		seq, err := seqOfKey(kv.Key)
		if err != nil {
			return fmt.Errorf("index key %s: %w", kv.Key, cmdb.ErrCorrupt)
		}
		v, err := r.Get(ctx, sumKey(seq))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		var s Summary
		if err := cmdb.Decode(v, &s); err != nil {
			return err
		}
		fn(&s)
	}
	return nil
}

// Summaries returns the summaries of the given incident numbers (missing
// ones are skipped).
func Summaries(ctx context.Context, r store.Reader, numbers []string) ([]Summary, error) {
	out := make([]Summary, 0, len(numbers))
	for _, n := range numbers {
		seq, err := ParseNumber(n)
		if err != nil {
			return nil, err
		}
		v, err := r.Get(ctx, sumKey(seq))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var s Summary
		if err := cmdb.Decode(v, &s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

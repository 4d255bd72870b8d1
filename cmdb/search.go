package cmdb

import (
	"context"
	"fmt"
	"strings"

	"parc/cmdb/store"
)

// SearchOptions select CIs. Every set criterion must match.
type SearchOptions struct {
	// Class keeps CIs of this class.
	Class string
	// Attrs keeps CIs whose attribute k equals v (case-insensitive, on
	// the value's text form; a list matches when one element equals v).
	Attrs map[string]string
	// Flags keeps CIs carrying every one of these flags (stale,
	// retirement_proposed, duplicate_identity, removed).
	Flags []string
	// IdentKind and IdentValue keep CIs carrying that identifier (exact,
	// through the identifier index).
	IdentKind, IdentValue string
	// Text keeps CIs whose name, identifiers or text attributes contain it
	// (case-insensitive).
	Text string
	// After is the cursor: the id of the last CI examined by the previous
	// page.
	After string
	// Limit is the page size (default 100, at most 1000).
	Limit int
	// Budget caps the CIs examined by one call (default 50000), so a rare
	// match over a large graph returns a short page and a cursor instead
	// of scanning everything at once.
	Budget int
}

// Search returns a page of matching CIs ordered by id and the cursor of
// the next page ("" when the search is complete).
func (g *Graph) Search(ctx context.Context, o SearchOptions) ([]*CI, string, error) {
	if o.Limit <= 0 || o.Limit > 1000 {
		o.Limit = 100
	}
	if o.Budget <= 0 {
		o.Budget = 50000
	}
	if (o.IdentKind == "") != (o.IdentValue == "") {
		return nil, "", fmt.Errorf("search: an identifier needs kind=value: %w", ErrInvalid)
	}
	switch o.IdentKind {
	case "hostname", "fqdn", "mac", "uuid", "machine_id":
		o.IdentValue = strings.ToLower(o.IdentValue) // stored folded
	}
	text := strings.ToLower(strings.TrimSpace(o.Text))
	var prefix []byte
	byIndex := true
	switch {
	case o.IdentKind != "":
		prefix = identPrefix(o.IdentKind, o.IdentValue)
	case o.Class != "":
		prefix = []byte(PrefixClass + o.Class + "/")
	default:
		prefix, byIndex = []byte(PrefixCI), false
	}
	var out []*CI
	next := ""
	err := g.st.View(ctx, func(rd store.Reader) error {
		after := []byte(nil)
		if o.After != "" {
			after = append(append([]byte(nil), prefix...), o.After...)
		}
		examined := 0
		for {
			page := min(500, o.Budget-examined)
			kvs, err := rd.Scan(ctx, store.Range{Prefix: prefix, After: after, Limit: page})
			if err != nil {
				return err
			}
			for _, kv := range kvs {
				examined++
				ci := &CI{}
				if byIndex {
					c, err := loadCI(ctx, rd, lastSegment(kv.Key))
					if err != nil {
						continue // index entry ahead of a deleted record
					}
					ci = c
				} else {
					if err := Decode(kv.Value, ci); err != nil {
						return err
					}
					ci.Rev = kv.ModRev
				}
				if matches(ci, o, text) {
					out = append(out, ci)
					if len(out) == o.Limit {
						next = ci.ID
						return nil
					}
				}
				if examined >= o.Budget {
					next = ci.ID
					return nil
				}
			}
			if len(kvs) < page {
				return nil
			}
			after = kvs[len(kvs)-1].Key
		}
	})
	if err != nil {
		return nil, "", fmt.Errorf("search CIs: %w", err)
	}
	return out, next, nil
}

func matches(ci *CI, o SearchOptions, text string) bool {
	if o.Class != "" && ci.Class != o.Class {
		return false
	}
	for _, f := range o.Flags {
		if !ci.Flags[f] {
			return false
		}
	}
	for k, want := range o.Attrs {
		a, ok := ci.Attrs[k]
		if !ok || !valueEquals(a.Value, want) {
			return false
		}
	}
	if text == "" {
		return true
	}
	if strings.Contains(strings.ToLower(ci.Name), text) || strings.Contains(strings.ToLower(ci.ID), text) {
		return true
	}
	for _, vals := range ci.Identifiers {
		for _, v := range vals {
			if strings.Contains(strings.ToLower(v), text) {
				return true
			}
		}
	}
	for _, a := range ci.Attrs {
		switch v := Canon(a.Value).(type) {
		case string:
			if strings.Contains(strings.ToLower(v), text) {
				return true
			}
		case []string:
			for _, s := range v {
				if strings.Contains(strings.ToLower(s), text) {
					return true
				}
			}
		}
	}
	return false
}

func valueEquals(v any, want string) bool {
	switch x := Canon(v).(type) {
	case []string:
		for _, s := range x {
			if strings.EqualFold(s, want) {
				return true
			}
		}
		return false
	case nil:
		return want == ""
	default:
		return strings.EqualFold(fmt.Sprint(x), want)
	}
}

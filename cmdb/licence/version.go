package licence

import (
	"fmt"
	"strings"

	"parc/cmdb"
)

// CompareVersions compares two version strings segment by segment
// (separators . - _ + ~ and spaces): numeric segments numerically, others
// as lower-case text. A Debian epoch ("1:") is ignored. It returns -1, 0
// or 1. A missing segment counts as lower than any present one, so
// 16 < 16.0.1.
func CompareVersions(a, b string) int {
	as, bs := versionSegments(a), versionSegments(b)
	for i := 0; i < len(as) || i < len(bs); i++ {
		if i >= len(as) {
			return -1
		}
		if i >= len(bs) {
			return 1
		}
		if c := compareSegment(as[i], bs[i]); c != 0 {
			return c
		}
	}
	return 0
}

func versionSegments(v string) []string {
	v = strings.ToLower(strings.TrimSpace(v))
	if i := strings.IndexByte(v, ':'); i > 0 && isDigits(v[:i]) {
		v = v[i+1:]
	}
	return strings.FieldsFunc(v, func(r rune) bool {
		return r == '.' || r == '-' || r == '_' || r == '+' || r == '~' || r == ' '
	})
}

func compareSegment(a, b string) int {
	if isDigits(a) && isDigits(b) {
		a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		if len(a) != len(b) {
			if len(a) < len(b) {
				return -1
			}
			return 1
		}
	}
	return strings.Compare(a, b)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Constraint is one version condition: Op is one of >=, >, <=, <, = or
// "prefix" (a bare version such as "16" matches 16, 16.0 and 16.4.2).
type Constraint struct {
	Op      string `cbor:"1,keyasint" json:"op"`
	Version string `cbor:"2,keyasint" json:"version"`
}

// VersionRange is a conjunction of constraints; empty matches every version.
type VersionRange []Constraint

// ParseVersionRange reads constraints separated by spaces or commas, such
// as ">=16, <17", "2019" or "=1.2.3".
func ParseVersionRange(s string) (VersionRange, error) {
	var out VersionRange
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		op := "prefix"
		for _, o := range []string{">=", "<=", ">", "<", "="} {
			if strings.HasPrefix(f, o) {
				op, f = o, strings.TrimSpace(f[len(o):])
				break
			}
		}
		if f == "" {
			return nil, fmt.Errorf("version range %q: operator %s without a version: %w", s, op, cmdb.ErrInvalid)
		}
		f = strings.TrimSuffix(strings.TrimSuffix(f, "*"), ".")
		if f == "" {
			continue // "*" matches everything
		}
		out = append(out, Constraint{Op: op, Version: f})
	}
	return out, nil
}

// String returns the range in the form ParseVersionRange reads.
func (vr VersionRange) String() string {
	parts := make([]string, len(vr))
	for i, c := range vr {
		if c.Op == "prefix" {
			parts[i] = c.Version
		} else {
			parts[i] = c.Op + c.Version
		}
	}
	return strings.Join(parts, ",")
}

// Match reports whether version v satisfies every constraint.
func (vr VersionRange) Match(v string) bool {
	for _, c := range vr {
		cmp := CompareVersions(v, c.Version)
		var ok bool
		switch c.Op {
		case ">=":
			ok = cmp >= 0
		case ">":
			ok = cmp > 0
		case "<=":
			ok = cmp <= 0
		case "<":
			ok = cmp < 0
		case "=":
			ok = cmp == 0
		default: // prefix
			vs, ps := versionSegments(v), versionSegments(c.Version)
			ok = len(vs) >= len(ps)
			for i := 0; ok && i < len(ps); i++ {
				ok = compareSegment(vs[i], ps[i]) == 0
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

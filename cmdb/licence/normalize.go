package licence

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"parc/cmdb"
)

//go:embed catalog.json
var shippedCatalog []byte

// Catalog is a set of normalization rules: publisher aliases and title
// rules. The shipped catalog (catalog.json) covers common titles; a site
// adds its own in a file of the same shape.
type Catalog struct {
	Comment string `json:"comment,omitempty"`
	// Publishers maps a lower-case publisher spelling to its canonical name.
	Publishers map[string]string `json:"publishers"`
	Rules      []Rule            `json:"rules"`
}

// Rule maps package names to a title. Match is a regular expression on the
// cleaned name (see CleanName); Publisher, when set, one on the lower-case
// publisher. Title may refer to Match's groups ($1).
type Rule struct {
	Match     string `json:"match"`
	Publisher string `json:"publisher,omitempty"`
	Title     string `json:"title"`
}

type compiledRule struct {
	name, pub *regexp.Regexp
	// prefix is a literal every match starts with (may be empty): a cheap
	// test before the expression.
	prefix string
	title  string
}

// Normalizer maps discovered package names and publishers to software
// titles. It is safe for concurrent use and remembers recent answers, since
// a fleet reports the same names over and over.
type Normalizer struct {
	rules      []compiledRule
	publishers map[string]string

	// The answers, (name, publisher) → title: every package of every
	// report asks, nearly always a name seen before. Those are read from
	// cache, a map never modified once published, without a lock; new
	// answers wait in fresh (under mu) until enough of them, or enough
	// questions they answered, publish a new map with them.
	cache     atomic.Pointer[map[[2]string]string]
	mu        sync.Mutex
	fresh     map[[2]string]string
	freshHits int
}

// cacheMax bounds the answer cache; it is emptied when full.
const cacheMax = 1 << 17

// freshMin is the fewest new answers, or questions answered from them,
// that publish a new cache map (see publishAt).
const freshMin = 256

// ShippedCatalog returns the catalog embedded in the binary.
func ShippedCatalog() (Catalog, error) {
	var c Catalog
	if err := json.Unmarshal(shippedCatalog, &c); err != nil {
		return c, fmt.Errorf("shipped software catalog: %w", err)
	}
	return c, nil
}

// LoadCatalog reads a rules file in the catalog's JSON shape.
func LoadCatalog(path string) (Catalog, error) {
	var c Catalog
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("software rules: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("software rules %s: %w: %v", path, cmdb.ErrInvalid, err)
	}
	return c, nil
}

// NewNormalizer compiles catalogs; rules of earlier catalogs win, so pass
// site rules before the shipped catalog.
func NewNormalizer(cats ...Catalog) (*Normalizer, error) {
	n := &Normalizer{publishers: map[string]string{}, fresh: map[[2]string]string{}}
	n.cache.Store(&map[[2]string]string{})
	for ci := len(cats) - 1; ci >= 0; ci-- {
		for k, v := range cats[ci].Publishers {
			n.publishers[strings.ToLower(strings.TrimSpace(k))] = strings.ToLower(strings.TrimSpace(v))
		}
	}
	for _, c := range cats {
		for i, r := range c.Rules {
			if r.Match == "" || strings.TrimSpace(r.Title) == "" {
				return nil, fmt.Errorf("software rule %d: match and title are required: %w", i+1, cmdb.ErrInvalid)
			}
			cr := compiledRule{title: r.Title}
			var err error
			if cr.name, err = regexp.Compile(r.Match); err != nil {
				return nil, fmt.Errorf("software rule %d (%s): %w: %v", i+1, r.Match, cmdb.ErrInvalid, err)
			}
			cr.prefix, _ = cr.name.LiteralPrefix()
			if r.Publisher != "" {
				if cr.pub, err = regexp.Compile(r.Publisher); err != nil {
					return nil, fmt.Errorf("software rule %d publisher (%s): %w: %v", i+1, r.Publisher, cmdb.ErrInvalid, err)
				}
			}
			n.rules = append(n.rules, cr)
		}
	}
	return n, nil
}

// DefaultNormalizer returns a normalizer with the site rules file (when
// path is not empty) in front of the shipped catalog.
func DefaultNormalizer(path string) (*Normalizer, error) {
	shipped, err := ShippedCatalog()
	if err != nil {
		return nil, err
	}
	if path == "" {
		return NewNormalizer(shipped)
	}
	site, err := LoadCatalog(path)
	if err != nil {
		return nil, err
	}
	return NewNormalizer(site, shipped)
}

// Publisher returns the canonical lower-case name of a publisher.
func (n *Normalizer) Publisher(p string) string {
	p = strings.Join(strings.Fields(strings.ToLower(p)), " ")
	if c, ok := n.publishers[p]; ok {
		return c
	}
	return p
}

// Title returns the normalized title of a package: the first matching
// rule's title, or else the cleaned name. It has the signature of
// reconcile.Config.Title.
func (n *Normalizer) Title(name, publisher string) string {
	key := [2]string{name, publisher}
	if t, ok := (*n.cache.Load())[key]; ok {
		return t
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if t, ok := n.fresh[key]; ok {
		if n.freshHits++; n.freshHits >= n.publishAt() {
			n.publish()
		}
		return t
	}
	// Copies: the caller's strings may view a whole report (the agent
	// port decodes packages in place), which the cache must not pin.
	t := strings.Clone(n.title(name, publisher))
	n.fresh[[2]string{strings.Clone(name), strings.Clone(publisher)}] = t
	if len(n.fresh) >= n.publishAt() {
		n.publish()
	}
	return t
}

// publishAt is how many new answers, or questions answered from them,
// publish a new cache map: at least a quarter of the map's size, so that
// copying it costs a constant per answer or question.
func (n *Normalizer) publishAt() int { return max(freshMin, len(*n.cache.Load())/4) }

// publish makes the fresh answers readable without the lock (n.mu held).
func (n *Normalizer) publish() {
	old, next := *n.cache.Load(), n.fresh
	if len(old)+len(next) <= cacheMax {
		next = make(map[[2]string]string, len(old)+len(n.fresh))
		maps.Copy(next, old)
		maps.Copy(next, n.fresh)
	}
	n.cache.Store(&next)
	n.fresh, n.freshHits = map[[2]string]string{}, 0
}

func (n *Normalizer) title(name, publisher string) string {
	clean := CleanName(name)
	if clean == "" {
		return cmdb.NormalizeTitle(name)
	}
	pub := strings.ToLower(strings.TrimSpace(publisher))
	canon := n.Publisher(publisher)
	for _, r := range n.rules {
		if !strings.HasPrefix(clean, r.prefix) {
			continue
		}
		m := r.name.FindStringSubmatchIndex(clean)
		if m == nil {
			continue
		}
		if r.pub != nil && !r.pub.MatchString(pub) && !r.pub.MatchString(canon) {
			continue
		}
		return cmdb.NormalizeTitle(string(r.name.ExpandString(nil, r.title, clean, m)))
	}
	return clean
}

var (
	bracketed = regexp.MustCompile(`\([^)]*\)|\[[^\]]*\]`)
	archWords = map[string]bool{
		"x64": true, "x86": true, "x86_64": true, "amd64": true, "i386": true, "i686": true, "arm64": true,
		"aarch64": true, "64-bit": true, "32-bit": true, "64bit": true, "32bit": true, "(x64)": true, "(x86)": true,
	}
	locale = regexp.MustCompile(`^[a-z]{2}-[a-z]{2}$`)
)

// CleanName returns the comparable form of a package name: lower case,
// bracketed parts, architecture and locale words removed, trailing version
// numbers dropped ("Mozilla Firefox 120.0 (x64 en-US)" → "mozilla firefox").
// The first word always stays.
func CleanName(name string) string {
	s := strings.ToLower(strings.TrimSpace(name))
	s = bracketed.ReplaceAllString(s, " ")
	words := strings.Fields(s)
	out := words[:0]
	for i, w := range words {
		if i > 0 && (archWords[w] || locale.MatchString(w)) {
			continue
		}
		out = append(out, w)
	}
	for len(out) > 1 {
		last := out[len(out)-1]
		if isVersionWord(last) || last == "-" || last == "version" || last == "update" {
			out = out[:len(out)-1]
			continue
		}
		break
	}
	return strings.Join(out, " ")
}

// isVersionWord reports whether w looks like a version: v1.2, 2019, 16.0.1,
// 1.2.3-beta.
func isVersionWord(w string) bool {
	w = strings.TrimPrefix(w, "v")
	if w == "" || w[0] < '0' || w[0] > '9' {
		return false
	}
	digits := 0
	for i := 0; i < len(w); i++ {
		if w[i] >= '0' && w[i] <= '9' {
			digits++
		}
	}
	return digits*2 >= len(w) || strings.Count(w, ".") >= 1
}

package problem

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"parc/cmdb"
	"parc/cmdb/audit"
	"parc/cmdb/incident"
	"parc/cmdb/store"
)

// Statuses of a problem.
const (
	StatusNew           = "new"
	StatusInvestigating = "investigating"
	StatusKnownError    = "known_error"
	StatusResolved      = "resolved"
	StatusClosed        = "closed"
)

// Statuses lists every status.
var Statuses = []string{StatusNew, StatusInvestigating, StatusKnownError, StatusResolved, StatusClosed}

// Transitions is the problem status table.
var Transitions = map[string][]string{
	StatusNew:           {StatusInvestigating, StatusKnownError, StatusClosed},
	StatusInvestigating: {StatusKnownError, StatusResolved, StatusClosed},
	StatusKnownError:    {StatusInvestigating, StatusResolved},
	StatusResolved:      {StatusClosed, StatusInvestigating},
	StatusClosed:        {},
}

// IsOpen reports whether a problem in status is open.
func IsOpen(status string) bool { return status != StatusResolved && status != StatusClosed }

// Limits of one problem, so that a write fits a transaction.
const (
	MaxIncidents = 20
	MaxCIs       = 20
	MaxSoftware  = 10
	MaxKeywords  = 15
	maxText      = 32 << 10
	maxTimeline  = 200
)

// Entry is a line of a problem's timeline.
type Entry struct {
	At    time.Time `cbor:"1,keyasint" json:"at"`
	Actor string    `cbor:"2,keyasint" json:"actor"`
	Text  string    `cbor:"3,keyasint" json:"text"`
}

// Problem is one problem record.
type Problem struct {
	Number      string `cbor:"1,keyasint" json:"number"`
	Seq         int64  `cbor:"2,keyasint" json:"seq"`
	Title       string `cbor:"3,keyasint" json:"title"`
	Description string `cbor:"4,keyasint,omitempty" json:"description,omitempty"`
	Status      string `cbor:"5,keyasint" json:"status"`
	RootCause   string `cbor:"6,keyasint,omitempty" json:"root_cause,omitempty"`
	Workaround  string `cbor:"7,keyasint,omitempty" json:"workaround,omitempty"`
	// Incidents are the incident numbers grouped under the problem.
	Incidents []string `cbor:"8,keyasint,omitempty" json:"incidents"`
	// CIs are the affected CI ids: the incidents' CIs and any named.
	CIs []string `cbor:"9,keyasint,omitempty" json:"cis"`
	// Software are normalized software titles involved.
	Software []string `cbor:"10,keyasint,omitempty" json:"software"`
	// Keywords match incident text for known-error suggestions.
	Keywords []string  `cbor:"11,keyasint,omitempty" json:"keywords"`
	Assignee string    `cbor:"12,keyasint,omitempty" json:"assignee,omitempty"`
	OpenedBy string    `cbor:"13,keyasint" json:"opened_by"`
	Created  time.Time `cbor:"14,keyasint" json:"created"`
	Updated  time.Time `cbor:"15,keyasint" json:"updated"`
	Timeline []Entry   `cbor:"16,keyasint,omitempty" json:"timeline"`
}

// KnownError reports whether the problem is in the KEDB.
func (p *Problem) KnownError() bool { return p.Status == StatusKnownError }

func (p *Problem) clone() *Problem {
	c := *p
	c.Incidents = slices.Clone(p.Incidents)
	c.CIs = slices.Clone(p.CIs)
	c.Software = slices.Clone(p.Software)
	c.Keywords = slices.Clone(p.Keywords)
	c.Timeline = slices.Clone(p.Timeline)
	return &c
}

func (p *Problem) note(actor string, now time.Time, text string) {
	p.Timeline = append(p.Timeline, Entry{At: now, Actor: actor, Text: text})
	if len(p.Timeline) > maxTimeline {
		p.Timeline = slices.Delete(p.Timeline, 1, 2)
	}
}

// Prefix is the module's key prefix.
const Prefix = "prb/"

var keySeq = []byte(Prefix + "seq")

func seqStr(seq int64) string { return fmt.Sprintf("%012d", seq) }
func recKey(seq int64) []byte { return []byte(Prefix + "r/" + seqStr(seq)) }
func esc(s string) string     { return url.PathEscape(s) }

// FormatNumber returns the problem number of a sequence (PRB-000042).
func FormatNumber(seq int64) string { return fmt.Sprintf("PRB-%06d", seq) }

// ParseNumber accepts PRB-000042, prb-42 or 42.
func ParseNumber(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if len(t) > 4 && strings.EqualFold(t[:4], "PRB-") {
		t = t[4:]
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("problem number %q: want PRB-000123: %w", s, cmdb.ErrInvalid)
	}
	return n, nil
}

func seqOfKey(key []byte) (int64, error) {
	return strconv.ParseInt(string(key[bytes.LastIndexByte(key, '/')+1:]), 10, 64)
}

func indexKeys(p *Problem) map[string]bool {
	m := map[string]bool{}
	s := seqStr(p.Seq)
	for _, n := range p.Incidents {
		m[Prefix+"inc/"+n+"/"+s] = true
	}
	for _, ci := range p.CIs {
		m[Prefix+"ci/"+ci+"/"+s] = true
		if IsOpen(p.Status) {
			m[Prefix+"open/"+ci+"/"+s] = true
		}
		if p.KnownError() {
			m[Prefix+"ke/ci/"+ci+"/"+s] = true
		}
	}
	if p.KnownError() {
		for _, t := range p.Software {
			m[Prefix+"ke/sw/"+esc(t)+"/"+s] = true
		}
		for _, w := range p.Keywords {
			m[Prefix+"ke/w/"+esc(w)+"/"+s] = true
		}
	}
	return m
}

func write(tx store.Txn, old, next *Problem) error {
	v, err := cmdb.Encode(next)
	if err != nil {
		return err
	}
	if err := tx.Put(recKey(next.Seq), v); err != nil {
		return fmt.Errorf("write problem %s: %w", next.Number, err)
	}
	var oldKeys map[string]bool
	if old != nil {
		oldKeys = indexKeys(old)
	}
	newKeys := indexKeys(next)
	for k := range oldKeys {
		if !newKeys[k] {
			if err := tx.Delete([]byte(k)); err != nil {
				return err
			}
		}
	}
	for k := range newKeys {
		if !oldKeys[k] {
			if err := tx.Put([]byte(k), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

func load(ctx context.Context, r store.Reader, seq int64) (*Problem, []byte, error) {
	v, err := r.Get(ctx, recKey(seq))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, fmt.Errorf("problem %s: %w", FormatNumber(seq), cmdb.ErrNotFound)
	}
	if err != nil {
		return nil, nil, err
	}
	p := &Problem{}
	return p, v, cmdb.Decode(v, p)
}

// Service manages problems.
type Service struct {
	st  store.Store
	g   *cmdb.Graph
	inc *incident.Service
}

// New returns a Service over st.
func New(st store.Store) *Service {
	return &Service{st: st, g: cmdb.NewGraph(st), inc: incident.New(st)}
}

func invalid(f string, a ...any) error { return fmt.Errorf(f+": %w", append(a, cmdb.ErrInvalid)...) }

// NewProblem is the input of Create.
type NewProblem struct {
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Incidents   []string `json:"incidents,omitempty"`
	CIs         []string `json:"cis,omitempty"`
	Software    []string `json:"software,omitempty"`
	Keywords    []string `json:"keywords,omitempty"`
	Assignee    string   `json:"assignee,omitempty"`
	RootCause   string   `json:"root_cause,omitempty"`
	Workaround  string   `json:"workaround,omitempty"`
}

var stopWords = map[string]bool{"with": true, "from": true, "that": true, "this": true, "when": true, "after": true,
	"does": true, "have": true, "into": true, "cannot": true, "there": true, "their": true, "about": true}

// Keywords returns the distinct lower-case words of text worth matching:
// letters and digits, at least four characters, no common words.
func Keywords(text string, limit int) []string {
	var out []string
	seen := map[string]bool{}
	for _, tok := range incident.Tokens(strings.ToLower(text)) {
		if len(tok) < 4 || stopWords[tok] || seen[tok] {
			continue
		}
		seen[tok] = true
		out = append(out, tok)
		if len(out) == limit {
			break
		}
	}
	return out
}

// incidentCIs loads the incidents and returns their normalized numbers and
// the union of their CIs.
func (s *Service) incidentCIs(ctx context.Context, numbers []string) ([]string, []string, error) {
	var nums, cis []string
	for _, n := range numbers {
		in, err := s.inc.Get(ctx, n)
		if err != nil {
			return nil, nil, fmt.Errorf("problem incidents: %w", err)
		}
		if !slices.Contains(nums, in.Number) {
			nums = append(nums, in.Number)
		}
		for _, ci := range in.CIIDs() {
			if !slices.Contains(cis, ci) {
				cis = append(cis, ci)
			}
		}
	}
	return nums, cis, nil
}

func (s *Service) resolveCIs(ctx context.Context, refs []string, into []string) ([]string, error) {
	for _, ref := range refs {
		ci, err := s.g.Resolve(ctx, ref)
		if err != nil {
			return nil, fmt.Errorf("problem CI: %w", err)
		}
		if !slices.Contains(into, ci.ID) {
			into = append(into, ci.ID)
		}
	}
	return into, nil
}

func normList(in []string, norm func(string) string) []string {
	var out []string
	for _, v := range in {
		v = norm(v)
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func checkLimits(p *Problem) error {
	switch {
	case strings.TrimSpace(p.Title) == "" || len(p.Title) > 200:
		return invalid("title is required, at most 200 bytes")
	case len(p.Description) > maxText || len(p.RootCause) > maxText || len(p.Workaround) > maxText:
		return invalid("description, root cause and workaround are at most %d bytes", maxText)
	case len(p.Incidents) > MaxIncidents:
		return invalid("%d incidents: a problem groups at most %d", len(p.Incidents), MaxIncidents)
	case len(p.CIs) > MaxCIs:
		return invalid("%d CIs: a problem names at most %d", len(p.CIs), MaxCIs)
	case len(p.Software) > MaxSoftware:
		return invalid("%d software titles: at most %d", len(p.Software), MaxSoftware)
	case len(p.Keywords) > MaxKeywords:
		return invalid("%d keywords: at most %d", len(p.Keywords), MaxKeywords)
	}
	return nil
}

// Create records a problem from incidents (their CIs become the problem's).
func (s *Service) Create(ctx context.Context, actor string, now time.Time, n NewProblem) (*Problem, error) {
	now = now.UTC()
	if actor == "" {
		return nil, invalid("create problem: no actor")
	}
	nums, cis, err := s.incidentCIs(ctx, n.Incidents)
	if err != nil {
		return nil, err
	}
	if cis, err = s.resolveCIs(ctx, n.CIs, cis); err != nil {
		return nil, err
	}
	p := &Problem{Title: strings.TrimSpace(n.Title), Description: n.Description, Status: StatusNew, RootCause: n.RootCause,
		Workaround: n.Workaround, Incidents: nums, CIs: cis, Software: normList(n.Software, cmdb.NormalizeTitle),
		Keywords: normList(n.Keywords, func(s string) string { return strings.ToLower(strings.TrimSpace(s)) }),
		Assignee: strings.TrimSpace(n.Assignee), OpenedBy: actor, Created: now, Updated: now}
	if len(p.Keywords) == 0 {
		p.Keywords = Keywords(p.Title, 8)
	}
	if err := checkLimits(p); err != nil {
		return nil, err
	}
	p.note(actor, now, "created from "+strings.Join(nums, ", "))
	_, err = s.st.Update(ctx, func(tx store.Txn) error {
		var seq int64
		v, err := tx.Get(ctx, keySeq)
		if err == nil {
			if seq, err = strconv.ParseInt(string(v), 10, 64); err != nil {
				return fmt.Errorf("problem counter: %w", cmdb.ErrCorrupt)
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		seq++
		if err := tx.Put(keySeq, []byte(strconv.FormatInt(seq, 10))); err != nil {
			return err
		}
		p.Seq, p.Number = seq, FormatNumber(seq)
		if err := write(tx, nil, p); err != nil {
			return err
		}
		return audit.Record(tx, audit.Entry{At: now, Actor: actor, Action: "problem.create", Object: "problem/" + p.Number, After: p.summary()})
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Summary is the short form of a problem.
type Summary struct {
	Number     string `json:"number"`
	Title      string `json:"title"`
	Status     string `json:"status"`
	Workaround string `json:"workaround,omitempty"`
	Incidents  int    `json:"incidents"`
}

func (p *Problem) summary() Summary {
	return Summary{Number: p.Number, Title: p.Title, Status: p.Status, Workaround: p.Workaround, Incidents: len(p.Incidents)}
}

// Get returns a problem by number.
func (s *Service) Get(ctx context.Context, number string) (*Problem, error) {
	seq, err := ParseNumber(number)
	if err != nil {
		return nil, err
	}
	p, _, err := load(ctx, s.st, seq)
	return p, err
}

// change applies edit to a problem in one transaction. add lists incident
// numbers being added, whose CIs are loaded first.
func (s *Service) change(ctx context.Context, actor string, now time.Time, number, action string, edit func(p *Problem) error) (*Problem, error) {
	now = now.UTC()
	if actor == "" {
		return nil, invalid("%s: no actor", action)
	}
	seq, err := ParseNumber(number)
	if err != nil {
		return nil, err
	}
	var out *Problem
	_, err = s.st.Update(ctx, func(tx store.Txn) error {
		cur, _, err := load(ctx, tx, seq)
		if err != nil {
			return err
		}
		next := cur.clone()
		if err := edit(next); err != nil {
			return err
		}
		if err := checkLimits(next); err != nil {
			return err
		}
		next.Updated = now
		if err := write(tx, cur, next); err != nil {
			return err
		}
		out = next
		return audit.Record(tx, audit.Entry{At: now, Actor: actor, Action: action, Object: "problem/" + next.Number,
			Before: cur.summary(), After: next.summary()})
	})
	return out, err
}

// Update is a partial edit of a problem.
type Update struct {
	Title       *string   `json:"title,omitempty"`
	Description *string   `json:"description,omitempty"`
	RootCause   *string   `json:"root_cause,omitempty"`
	Workaround  *string   `json:"workaround,omitempty"`
	Assignee    *string   `json:"assignee,omitempty"`
	Software    *[]string `json:"software,omitempty"`
	Keywords    *[]string `json:"keywords,omitempty"`
}

// Update edits a problem's fields.
func (s *Service) Update(ctx context.Context, actor string, now time.Time, number string, u Update) (*Problem, error) {
	return s.change(ctx, actor, now, number, "problem.update", func(p *Problem) error {
		var changed []string
		set := func(name string, v *string, f *string) {
			if v != nil && *v != *f {
				*f = *v
				changed = append(changed, name)
			}
		}
		set("title", u.Title, &p.Title)
		set("description", u.Description, &p.Description)
		set("root cause", u.RootCause, &p.RootCause)
		set("workaround", u.Workaround, &p.Workaround)
		set("assignee", u.Assignee, &p.Assignee)
		if u.Software != nil {
			p.Software = normList(*u.Software, cmdb.NormalizeTitle)
			changed = append(changed, "software")
		}
		if u.Keywords != nil {
			p.Keywords = normList(*u.Keywords, func(s string) string { return strings.ToLower(strings.TrimSpace(s)) })
			changed = append(changed, "keywords")
		}
		if len(changed) == 0 {
			return invalid("%s: nothing to change", p.Number)
		}
		if p.KnownError() && (strings.TrimSpace(p.RootCause) == "" || strings.TrimSpace(p.Workaround) == "") {
			return invalid("%s is a known error: root cause and workaround stay required", p.Number)
		}
		p.note(actor, now.UTC(), "updated "+strings.Join(changed, ", "))
		return nil
	})
}

// Transition moves a problem through its status table. A known error
// needs a root cause and a workaround.
func (s *Service) Transition(ctx context.Context, actor string, now time.Time, number, to, note string) (*Problem, error) {
	return s.change(ctx, actor, now, number, "problem.transition", func(p *Problem) error {
		if _, ok := Transitions[to]; !ok {
			return invalid("status %q: want one of %s", to, strings.Join(Statuses, ", "))
		}
		if !slices.Contains(Transitions[p.Status], to) {
			return fmt.Errorf("%s: cannot go from %s to %s: %w", p.Number, p.Status, to, cmdb.ErrForbidden)
		}
		if to == StatusKnownError && (strings.TrimSpace(p.RootCause) == "" || strings.TrimSpace(p.Workaround) == "") {
			return invalid("%s: a known error needs a root cause and a workaround", p.Number)
		}
		text := p.Status + " → " + to
		if note != "" {
			text += ": " + note
		}
		p.Status = to
		p.note(actor, now.UTC(), text)
		return nil
	})
}

// Link adds incidents (and their CIs) to a problem.
func (s *Service) Link(ctx context.Context, actor string, now time.Time, number string, incidents []string) (*Problem, error) {
	if len(incidents) == 0 {
		return nil, invalid("link: name incidents to add")
	}
	nums, cis, err := s.incidentCIs(ctx, incidents)
	if err != nil {
		return nil, err
	}
	return s.change(ctx, actor, now, number, "problem.link", func(p *Problem) error {
		var added []string
		for _, n := range nums {
			if !slices.Contains(p.Incidents, n) {
				p.Incidents = append(p.Incidents, n)
				added = append(added, n)
			}
		}
		if len(added) == 0 {
			return invalid("%s already groups %s", p.Number, strings.Join(nums, ", "))
		}
		for _, ci := range cis {
			if !slices.Contains(p.CIs, ci) {
				p.CIs = append(p.CIs, ci)
			}
		}
		p.note(actor, now.UTC(), "added "+strings.Join(added, ", "))
		return nil
	})
}

// Filter selects problems for List.
type Filter struct {
	Status     string
	KnownError bool
	After      string
	Limit      int
}

// List returns problems newest first and the next page's cursor.
func (s *Service) List(ctx context.Context, f Filter) ([]Problem, string, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 50
	}
	prefix := []byte(Prefix + "r/")
	rg := store.Range{Prefix: prefix, Reverse: true, Limit: 256}
	if f.After != "" {
		seq, err := ParseNumber(f.After)
		if err != nil {
			return nil, "", err
		}
		rg.After = recKey(seq)
	}
	var out []Problem
	for {
		kvs, err := s.st.Scan(ctx, rg)
		if err != nil {
			return nil, "", err
		}
		for _, kv := range kvs {
			var p Problem
			if err := cmdb.Decode(kv.Value, &p); err != nil {
				return nil, "", err
			}
			if (f.Status != "" && p.Status != f.Status) || (f.KnownError && !p.KnownError()) {
				continue
			}
			if len(out) == f.Limit {
				return out, out[len(out)-1].Number, nil
			}
			p.Timeline = nil
			out = append(out, p)
		}
		if len(kvs) < rg.Limit {
			return out, "", nil
		}
		rg.After = kvs[len(kvs)-1].Key
	}
}

func scanSeqs(ctx context.Context, r store.Reader, prefix string) ([]int64, error) {
	kvs, err := r.Scan(ctx, store.Range{Prefix: []byte(prefix)})
	if err != nil {
		return nil, err
	}
	out := make([]int64, 0, len(kvs))
	for _, kv := range kvs {
		seq, err := seqOfKey(kv.Key)
		if err != nil {
			return nil, fmt.Errorf("index key %s: %w", kv.Key, cmdb.ErrCorrupt)
		}
		out = append(out, seq)
	}
	return out, nil
}

// OpenOnCI returns the numbers of the open problems (not resolved or
// closed) that name ci.
func OpenOnCI(ctx context.Context, r store.Reader, ci string) ([]string, error) {
	seqs, err := scanSeqs(ctx, r, Prefix+"open/"+ci+"/")
	if err != nil {
		return nil, fmt.Errorf("open problems of %s: %w", ci, err)
	}
	out := make([]string, len(seqs))
	for i, s := range seqs {
		out[i] = FormatNumber(s)
	}
	return out, nil
}

// ForIncident returns the problems grouping an incident.
func (s *Service) ForIncident(ctx context.Context, number string) ([]Summary, error) {
	seq, err := incident.ParseNumber(number)
	if err != nil {
		return nil, err
	}
	seqs, err := scanSeqs(ctx, s.st, Prefix+"inc/"+incident.FormatNumber(seq)+"/")
	if err != nil {
		return nil, err
	}
	out := []Summary{}
	for _, sq := range seqs {
		p, _, err := load(ctx, s.st, sq)
		if err != nil {
			return nil, err
		}
		out = append(out, p.summary())
	}
	return out, nil
}

// Suggestion is a known error that may explain an incident.
type Suggestion struct {
	Summary
	Score   int      `json:"score"`
	Reasons []string `json:"reasons"`
}

// Suggest returns up to five known errors sharing CIs (3 points each),
// software installed on the incident's CIs (2 points each) or keywords of
// its text (1 point each) with the incident, best first. A match on words
// alone needs two of them.
func (s *Service) Suggest(ctx context.Context, in *incident.Incident) ([]Suggestion, error) {
	score := map[int64]*Suggestion{}
	textOnly := map[int64]bool{}
	add := func(seq int64, pts int, why string, text bool) {
		sg := score[seq]
		if sg == nil {
			sg = &Suggestion{}
			score[seq] = sg
			textOnly[seq] = true
		}
		sg.Score += pts
		sg.Reasons = append(sg.Reasons, why)
		textOnly[seq] = textOnly[seq] && text
	}
	for _, l := range in.CIs {
		seqs, err := scanSeqs(ctx, s.st, Prefix+"ke/ci/"+l.CI+"/")
		if err != nil {
			return nil, err
		}
		for _, sq := range seqs {
			add(sq, 3, "same CI "+l.Name, false)
		}
	}
	// Software: the KEDB's titles are few; intersect them with what the
	// incident's CIs run.
	kes, err := s.st.Scan(ctx, store.Range{Prefix: []byte(Prefix + "ke/sw/"), Limit: 10000})
	if err != nil {
		return nil, err
	}
	if len(kes) > 0 {
		installed := map[string]bool{}
		for _, l := range in.CIs {
			rec, err := s.g.Software(ctx, l.CI)
			if err != nil {
				return nil, err
			}
			for _, it := range rec.Items {
				installed[esc(it.Title)] = true
			}
		}
		for _, kv := range kes {
			rest := strings.TrimPrefix(string(kv.Key), Prefix+"ke/sw/")
			i := strings.LastIndexByte(rest, '/')
			if i < 0 || !installed[rest[:i]] {
				continue
			}
			sq, err := strconv.ParseInt(rest[i+1:], 10, 64)
			if err != nil {
				continue
			}
			title, _ := url.PathUnescape(rest[:i])
			add(sq, 2, "software "+title, false)
		}
	}
	for _, w := range Keywords(in.ShortDescription+" "+in.Description, 64) {
		seqs, err := scanSeqs(ctx, s.st, Prefix+"ke/w/"+esc(w)+"/")
		if err != nil {
			return nil, err
		}
		for _, sq := range seqs {
			add(sq, 1, "word "+w, true)
		}
	}
	var out []Suggestion
	for sq, sg := range score {
		if textOnly[sq] && sg.Score < 2 {
			continue
		}
		p, _, err := load(ctx, s.st, sq)
		if err != nil {
			continue
		}
		sg.Summary = p.summary()
		out = append(out, *sg)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		return out[i].Number < out[j].Number
	})
	if len(out) > 5 {
		out = out[:5]
	}
	return out, nil
}

package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"parc/cmdb"
)

// GraphRoutes serves the read side of the reconciled graph beyond plain
// CIs: a CI as of an instant, the diff of two instants, impact traversal
// and search.
func GraphRoutes(g *cmdb.Graph) []Route {
	h := graphHandlers{g: g, now: time.Now}
	return []Route{
		{"GET", "/api/v1/cis/{ref}/asof", "ci.asof", h.asOf},
		{"GET", "/api/v1/cis/{ref}/diff", "ci.diff", h.diff},
		{"GET", "/api/v1/cis/{ref}/impact", "ci.impact", h.impact},
		{"GET", "/api/v1/search", "ci.search", h.search},
	}
}

type graphHandlers struct {
	g   *cmdb.Graph
	now func() time.Time
}

// parseInstant reads an RFC 3339 time, a date, "2006-01-02 15:04[:05]",
// "now", or a duration before now ("36h").
func parseInstant(name, v string, now time.Time) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, BadRequest("%s is required", name)
	}
	if v == "now" {
		return now, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, BadRequest("%s %q: want RFC 3339, 2006-01-02[ 15:04[:05]], now, or a duration ago such as 36h", name, v)
}

func (h graphHandlers) asOf(w http.ResponseWriter, r *http.Request) error {
	at, err := parseInstant("at", r.URL.Query().Get("at"), h.now())
	if err != nil {
		return err
	}
	ci, err := h.g.Resolve(r.Context(), r.PathValue("ref"))
	if err != nil {
		return err
	}
	snap, err := h.g.AsOf(r.Context(), ci.ID, at)
	if err != nil {
		return err
	}
	if snap.Edges == nil {
		snap.Edges = []cmdb.Edge{}
	}
	writeJSON(w, http.StatusOK, snap)
	return nil
}

func (h graphHandlers) diff(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	now := h.now()
	from, err := parseInstant("from", q.Get("from"), now)
	if err != nil {
		return err
	}
	to := now
	if q.Get("to") != "" {
		if to, err = parseInstant("to", q.Get("to"), now); err != nil {
			return err
		}
	}
	ci, err := h.g.Resolve(r.Context(), r.PathValue("ref"))
	if err != nil {
		return err
	}
	d, err := h.g.Diff(r.Context(), ci.ID, from, to)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (h graphHandlers) impact(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	o := cmdb.ImpactOptions{Direction: cmdb.Direction(q.Get("direction"))}
	for _, t := range q["type"] {
		o.Types = append(o.Types, splitList(t)...)
	}
	for _, c := range q["class"] {
		o.Classes = append(o.Classes, splitList(c)...)
	}
	for name, dst := range map[string]*int{"depth": &o.Depth, "limit": &o.Limit} {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return BadRequest("%s must be a positive number", name)
			}
			*dst = n
		}
	}
	ci, err := h.g.Resolve(r.Context(), r.PathValue("ref"))
	if err != nil {
		return err
	}
	res, err := h.g.Impact(r.Context(), []string{ci.ID}, o)
	if err != nil {
		return err
	}
	if res.Nodes == nil {
		res.Nodes = []cmdb.ImpactNode{}
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (h graphHandlers) search(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	o := cmdb.SearchOptions{Class: q.Get("class"), Text: q.Get("q"), After: q.Get("after")}
	for _, f := range q["flag"] {
		o.Flags = append(o.Flags, splitList(f)...)
	}
	for _, a := range q["attr"] {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return BadRequest("attr %q: want name=value", a)
		}
		if o.Attrs == nil {
			o.Attrs = map[string]string{}
		}
		o.Attrs[k] = v
	}
	if id := q.Get("ident"); id != "" {
		k, v, ok := strings.Cut(id, "=")
		if !ok || k == "" || v == "" {
			return BadRequest("ident %q: want kind=value", id)
		}
		o.IdentKind, o.IdentValue = k, v
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return BadRequest("limit must be 1..1000")
		}
		o.Limit = n
	}
	items, next, err := h.g.Search(r.Context(), o)
	if err != nil {
		return err
	}
	if items == nil {
		items = []*cmdb.CI{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next": next})
	return nil
}

package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"parc/cmdb/audit"
)

// auditRoutes serves the audit log, read only: no API alters or deletes
// an audit record.
func (s *Server) auditRoutes() []Route {
	return []Route{
		{"GET", "/api/v1/audit", "audit.list", s.listAudit},
	}
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := audit.Filter{Actor: q.Get("actor"), Action: q.Get("action"), Object: q.Get("object"), After: q.Get("after"), Limit: 100}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return BadRequest("limit must be 1..1000")
		}
		f.Limit = n
	}
	for name, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		t, err := parseTimeOrAge(v, time.Now())
		if err != nil {
			return BadRequest("%s: want RFC 3339 time or a duration ago (24h): %v", name, err)
		}
		*dst = t
	}
	items, next, err := audit.List(r.Context(), s.cfg.Graph.Store(), f)
	if err != nil {
		return err
	}
	if items == nil {
		items = []audit.Entry{}
	}
	for i := range items {
		items[i].Before, items[i].After = jsonable(items[i].Before), jsonable(items[i].After)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next": next})
	return nil
}

// parseTimeOrAge reads an RFC 3339 time, a date, or a duration before now.
func parseTimeOrAge(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339Nano, v)
}

// jsonable turns what CBOR decoded into an any (maps keyed by any) into
// values encoding/json can write.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = jsonable(e)
		}
		return x
	}
	return v
}

package api

import (
	"net/http"
	"time"

	"parc/cmdb/incident"
	"parc/cmdb/problem"
)

// ProblemRoutes serves problems and the known error database.
func ProblemRoutes(inc *incident.Service, prb *problem.Service, now func() time.Time) []Route {
	if now == nil {
		now = time.Now
	}
	h := problemHandlers{inc: inc, prb: prb, now: now}
	return []Route{
		{"POST", "/api/v1/problems", "problem.create", h.create},
		{"GET", "/api/v1/problems", "problem.list", h.list},
		{"GET", "/api/v1/problems/{number}", "problem.get", h.get},
		{"PATCH", "/api/v1/problems/{number}", "problem.update", h.update},
		{"POST", "/api/v1/problems/{number}/transition", "problem.transition", h.transition},
		{"POST", "/api/v1/problems/{number}/incidents", "problem.link", h.link},
		{"GET", "/api/v1/known-errors", "problem.known_errors", h.knownErrors},
	}
}

type problemHandlers struct {
	inc *incident.Service
	prb *problem.Service
	now func() time.Time
}

func replyProblem(w http.ResponseWriter, status int, p *problem.Problem, err error) error {
	if err != nil {
		return err
	}
	for _, s := range []*[]string{&p.Incidents, &p.CIs, &p.Software, &p.Keywords} {
		if *s == nil {
			*s = []string{}
		}
	}
	writeJSON(w, status, p)
	return nil
}

func (h problemHandlers) create(w http.ResponseWriter, r *http.Request) error {
	var n problem.NewProblem
	if err := ReadJSON(r, &n); err != nil {
		return err
	}
	p, err := h.prb.Create(r.Context(), Principal(r.Context()), h.now(), n)
	return replyProblem(w, http.StatusCreated, p, err)
}

func (h problemHandlers) list(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, err := queryInt(q, "limit", 1, 1000)
	if err != nil {
		return err
	}
	items, next, err := h.prb.List(r.Context(), problem.Filter{Status: q.Get("status"), KnownError: queryBool(q.Get("known_error")), After: q.Get("after"), Limit: limit})
	if err != nil {
		return err
	}
	if items == nil {
		items = []problem.Problem{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next": next})
	return nil
}

func (h problemHandlers) get(w http.ResponseWriter, r *http.Request) error {
	p, err := h.prb.Get(r.Context(), r.PathValue("number"))
	return replyProblem(w, http.StatusOK, p, err)
}

func (h problemHandlers) update(w http.ResponseWriter, r *http.Request) error {
	var u problem.Update
	if err := ReadJSON(r, &u); err != nil {
		return err
	}
	p, err := h.prb.Update(r.Context(), Principal(r.Context()), h.now(), r.PathValue("number"), u)
	return replyProblem(w, http.StatusOK, p, err)
}

func (h problemHandlers) transition(w http.ResponseWriter, r *http.Request) error {
	var t struct {
		To   string `json:"to"`
		Note string `json:"note"`
	}
	if err := ReadJSON(r, &t); err != nil {
		return err
	}
	p, err := h.prb.Transition(r.Context(), Principal(r.Context()), h.now(), r.PathValue("number"), t.To, t.Note)
	return replyProblem(w, http.StatusOK, p, err)
}

func (h problemHandlers) link(w http.ResponseWriter, r *http.Request) error {
	var l struct {
		Incidents []string `json:"incidents"`
	}
	if err := ReadJSON(r, &l); err != nil {
		return err
	}
	p, err := h.prb.Link(r.Context(), Principal(r.Context()), h.now(), r.PathValue("number"), l.Incidents)
	return replyProblem(w, http.StatusOK, p, err)
}

// knownErrors lists the KEDB, or with ?incident=INC-… the known errors
// suggested for that incident.
func (h problemHandlers) knownErrors(w http.ResponseWriter, r *http.Request) error {
	if n := r.URL.Query().Get("incident"); n != "" {
		in, err := h.inc.Get(r.Context(), n)
		if err != nil {
			return err
		}
		sg, err := h.prb.Suggest(r.Context(), in)
		if err != nil {
			return err
		}
		if sg == nil {
			sg = []problem.Suggestion{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"incident": in.Number, "items": sg})
		return nil
	}
	items, _, err := h.prb.List(r.Context(), problem.Filter{KnownError: true, Limit: 1000})
	if err != nil {
		return err
	}
	if items == nil {
		items = []problem.Problem{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

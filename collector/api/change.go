package api

import (
	"net/http"
	"strconv"
	"time"

	"parc/cmdb"
	"parc/cmdb/change"
)

// ChangeRoutes serves change management: change records and their
// lifecycle, impact analysis, approvals, review, templates, freeze
// windows, approval rules, change control and drift.
func ChangeRoutes(svc *change.Service, g *cmdb.Graph) []Route {
	h := changeHandlers{svc: svc, g: g, now: time.Now}
	return []Route{
		{"GET", "/api/v1/changes", "change.list", h.list},
		{"POST", "/api/v1/changes", "change.create", h.create},
		{"GET", "/api/v1/changes/{num}", "change.get", h.get},
		{"POST", "/api/v1/changes/{num}/submit", "change.submit", h.submit},
		{"GET", "/api/v1/changes/{num}/impact", "change.impact", h.impact},
		{"POST", "/api/v1/changes/{num}/impact", "change.impact.recompute", h.recompute},
		{"POST", "/api/v1/changes/{num}/approve", "change.approve", h.decide(true)},
		{"POST", "/api/v1/changes/{num}/reject", "change.reject", h.decide(false)},
		{"POST", "/api/v1/changes/{num}/schedule", "change.schedule", h.schedule},
		{"POST", "/api/v1/changes/{num}/implement", "change.implement", h.implement},
		{"POST", "/api/v1/changes/{num}/review", "change.review", h.review},
		{"GET", "/api/v1/changes/{num}/review", "change.review.report", h.reviewReport},
		{"POST", "/api/v1/changes/{num}/close", "change.close", h.close},
		{"POST", "/api/v1/changes/{num}/cancel", "change.cancel", h.cancel},
		{"POST", "/api/v1/changes/{num}/verify", "change.verify", h.verify},
		{"POST", "/api/v1/changes/{num}/incidents", "change.link_incident", h.linkIncident},
		{"GET", "/api/v1/change-templates", "change.template.list", h.templates},
		{"GET", "/api/v1/change-templates/{name}", "change.template.get", h.template},
		{"PUT", "/api/v1/change-templates/{name}", "change.template.put", h.putTemplate},
		{"DELETE", "/api/v1/change-templates/{name}", "change.template.delete", h.deleteTemplate},
		{"GET", "/api/v1/change-freezes", "change.freeze.list", h.freezes},
		{"POST", "/api/v1/change-freezes", "change.freeze.put", h.putFreeze},
		{"DELETE", "/api/v1/change-freezes/{id}", "change.freeze.delete", h.deleteFreeze},
		{"GET", "/api/v1/change-rules", "change.rules.get", h.rules},
		{"PUT", "/api/v1/change-rules", "change.rules.set", h.setRules},
		{"GET", "/api/v1/change-controls", "change.control.list", h.controls},
		{"PUT", "/api/v1/change-controls/{ref}", "change.control.set", h.setControl(true)},
		{"DELETE", "/api/v1/change-controls/{ref}", "change.control.set", h.setControl(false)},
		{"GET", "/api/v1/change-drift", "change.drift.list", h.drift},
		{"POST", "/api/v1/change-drift/{id}/resolve", "change.drift.resolve", h.resolveDrift},
	}
}

type changeHandlers struct {
	svc *change.Service
	g   *cmdb.Graph
	now func() time.Time
}

func (h changeHandlers) list(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	o := change.ListOptions{State: change.State(q.Get("state")), Type: change.Type(q.Get("type")), After: q.Get("after"), Open: q.Get("open") == "1" || q.Get("open") == "true"}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return BadRequest("limit must be 1..1000")
		}
		o.Limit = n
	}
	if ref := q.Get("ci"); ref != "" {
		ci, err := h.g.Resolve(r.Context(), ref)
		if err != nil {
			return err
		}
		o.CI = ci.ID
	}
	items, next, err := h.svc.List(r.Context(), o)
	if err != nil {
		return err
	}
	if items == nil {
		items = []*change.Change{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next": next})
	return nil
}

func (h changeHandlers) create(w http.ResponseWriter, r *http.Request) error {
	var in change.Input
	if err := ReadJSON(r, &in); err != nil {
		return err
	}
	c, err := h.svc.Create(r.Context(), Principal(r.Context()), h.now(), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, c)
	return nil
}

func (h changeHandlers) get(w http.ResponseWriter, r *http.Request) error {
	c, err := h.svc.Get(r.Context(), r.PathValue("num"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

// changeReply writes the change an action returned.
func changeReply(w http.ResponseWriter, c *change.Change, err error) error {
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

// changeOptionalJSON decodes a body when there is one.
func changeOptionalJSON(r *http.Request, v any) error {
	if r.ContentLength == 0 {
		return nil
	}
	return ReadJSON(r, v)
}

type changeNote struct {
	Comment string `json:"comment"`
	Note    string `json:"note"`
	Outcome string `json:"outcome"`
}

func (h changeHandlers) submit(w http.ResponseWriter, r *http.Request) error {
	c, err := h.svc.Submit(r.Context(), r.PathValue("num"), Principal(r.Context()), h.now())
	return changeReply(w, c, err)
}

// impact returns the stored snapshot, or a live analysis with fresh=1 (or
// when the change has no snapshot yet).
func (h changeHandlers) impact(w http.ResponseWriter, r *http.Request) error {
	fresh := r.URL.Query().Get("fresh") == "1" || r.URL.Query().Get("fresh") == "true"
	if !fresh {
		imp, err := h.svc.Snapshot(r.Context(), r.PathValue("num"))
		if err == nil {
			writeJSON(w, http.StatusOK, map[string]any{"snapshot": true, "impact": imp})
			return nil
		}
		if !changeIsNotFound(err) {
			return err
		}
	}
	c, err := h.svc.Get(r.Context(), r.PathValue("num"))
	if err != nil {
		return err
	}
	imp, err := h.svc.Analyze(r.Context(), c, h.now())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"snapshot": false, "impact": imp})
	return nil
}

func changeIsNotFound(err error) bool { return StatusOf(err) == http.StatusNotFound }

func (h changeHandlers) recompute(w http.ResponseWriter, r *http.Request) error {
	imp, err := h.svc.Recompute(r.Context(), r.PathValue("num"), Principal(r.Context()), h.now())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"snapshot": true, "impact": imp})
	return nil
}

func (h changeHandlers) decide(approve bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var n changeNote
		if err := changeOptionalJSON(r, &n); err != nil {
			return err
		}
		c, err := h.svc.Decide(r.Context(), r.PathValue("num"), Principal(r.Context()), approve, n.Comment, h.now())
		return changeReply(w, c, err)
	}
}

func (h changeHandlers) schedule(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Window change.Window `json:"window"`
	}
	if err := changeOptionalJSON(r, &body); err != nil {
		return err
	}
	c, err := h.svc.Schedule(r.Context(), r.PathValue("num"), Principal(r.Context()), body.Window, h.now())
	return changeReply(w, c, err)
}

func (h changeHandlers) implement(w http.ResponseWriter, r *http.Request) error {
	c, err := h.svc.Implement(r.Context(), r.PathValue("num"), Principal(r.Context()), h.now())
	return changeReply(w, c, err)
}

func (h changeHandlers) review(w http.ResponseWriter, r *http.Request) error {
	var n changeNote
	if err := ReadJSON(r, &n); err != nil {
		return err
	}
	c, err := h.svc.Review(r.Context(), r.PathValue("num"), Principal(r.Context()), n.Outcome, n.Note, h.now())
	return changeReply(w, c, err)
}

func (h changeHandlers) reviewReport(w http.ResponseWriter, r *http.Request) error {
	rep, err := h.svc.ReviewReport(r.Context(), r.PathValue("num"), h.now())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

func (h changeHandlers) close(w http.ResponseWriter, r *http.Request) error {
	var n changeNote
	if err := changeOptionalJSON(r, &n); err != nil {
		return err
	}
	c, err := h.svc.Close(r.Context(), r.PathValue("num"), Principal(r.Context()), n.Outcome, n.Note, h.now())
	return changeReply(w, c, err)
}

func (h changeHandlers) cancel(w http.ResponseWriter, r *http.Request) error {
	var n changeNote
	if err := changeOptionalJSON(r, &n); err != nil {
		return err
	}
	c, err := h.svc.Cancel(r.Context(), r.PathValue("num"), Principal(r.Context()), n.Note, h.now())
	return changeReply(w, c, err)
}

func (h changeHandlers) verify(w http.ResponseWriter, r *http.Request) error {
	c, err := h.svc.Verify(r.Context(), r.PathValue("num"), Principal(r.Context()), h.now())
	return changeReply(w, c, err)
}

func (h changeHandlers) linkIncident(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Incident string `json:"incident"`
	}
	if err := ReadJSON(r, &body); err != nil {
		return err
	}
	c, err := h.svc.LinkIncident(r.Context(), r.PathValue("num"), body.Incident, Principal(r.Context()), h.now())
	return changeReply(w, c, err)
}

func (h changeHandlers) templates(w http.ResponseWriter, r *http.Request) error {
	ts, err := h.svc.Templates(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": ts})
	return nil
}

func (h changeHandlers) template(w http.ResponseWriter, r *http.Request) error {
	t, err := h.svc.Template(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (h changeHandlers) putTemplate(w http.ResponseWriter, r *http.Request) error {
	var t change.Template
	if err := ReadJSON(r, &t); err != nil {
		return err
	}
	if t.Name != "" && t.Name != r.PathValue("name") {
		return BadRequest("template name %q differs from the path's %q", t.Name, r.PathValue("name"))
	}
	t.Name = r.PathValue("name")
	out, err := h.svc.PutTemplate(r.Context(), Principal(r.Context()), h.now(), t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h changeHandlers) deleteTemplate(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteTemplate(r.Context(), Principal(r.Context()), r.PathValue("name"), h.now()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h changeHandlers) freezes(w http.ResponseWriter, r *http.Request) error {
	fs, err := h.svc.Freezes(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": fs})
	return nil
}

func (h changeHandlers) putFreeze(w http.ResponseWriter, r *http.Request) error {
	var f change.Freeze
	if err := ReadJSON(r, &f); err != nil {
		return err
	}
	out, err := h.svc.PutFreeze(r.Context(), Principal(r.Context()), h.now(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (h changeHandlers) deleteFreeze(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteFreeze(r.Context(), Principal(r.Context()), r.PathValue("id"), h.now()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h changeHandlers) rules(w http.ResponseWriter, r *http.Request) error {
	rs, err := h.svc.Rules(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rs)
	return nil
}

func (h changeHandlers) setRules(w http.ResponseWriter, r *http.Request) error {
	var rs change.Rules
	if err := ReadJSON(r, &rs); err != nil {
		return err
	}
	out, err := h.svc.SetRules(r.Context(), Principal(r.Context()), h.now(), rs)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h changeHandlers) controls(w http.ResponseWriter, r *http.Request) error {
	cs, err := h.svc.Controls(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": cs})
	return nil
}

func (h changeHandlers) setControl(on bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var body struct {
			OpenIncident bool   `json:"open_incident"`
			Reason       string `json:"reason"`
		}
		if err := changeOptionalJSON(r, &body); err != nil {
			return err
		}
		c, err := h.svc.SetControl(r.Context(), Principal(r.Context()), r.PathValue("ref"), on, body.OpenIncident, body.Reason, h.now())
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"ci": c.CI, "controlled": on, "open_incident": c.OpenIncident})
		return nil
	}
}

func (h changeHandlers) drift(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	o := change.DriftOptions{All: q.Get("all") == "1" || q.Get("all") == "true"}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return BadRequest("limit must be 1..1000")
		}
		o.Limit = n
	}
	if ref := q.Get("ci"); ref != "" {
		ci, err := h.g.Resolve(r.Context(), ref)
		if err != nil {
			return err
		}
		o.CI = ci.ID
	}
	ds, err := h.svc.Drifts(r.Context(), o)
	if err != nil {
		return err
	}
	if ds == nil {
		ds = []change.Drift{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": ds})
	return nil
}

func (h changeHandlers) resolveDrift(w http.ResponseWriter, r *http.Request) error {
	var n changeNote
	if err := ReadJSON(r, &n); err != nil {
		return err
	}
	d, err := h.svc.ResolveDrift(r.Context(), r.PathValue("id"), Principal(r.Context()), n.Note, h.now())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

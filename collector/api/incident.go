package api

import (
	"net/http"
	"strconv"
	"time"

	"parc/cmdb"
	"parc/cmdb/incident"
	"parc/cmdb/problem"
)

// IncidentRoutes serves incidents, the CI view of incidents, the incident
// configuration and the KPI report.
func IncidentRoutes(g *cmdb.Graph, inc *incident.Service, prb *problem.Service, now func() time.Time) []Route {
	if now == nil {
		now = time.Now
	}
	h := incidentHandlers{g: g, inc: inc, prb: prb, now: now}
	return []Route{
		{"POST", "/api/v1/incidents", "incident.create", h.create},
		{"GET", "/api/v1/incidents", "incident.list", h.list},
		{"GET", "/api/v1/incidents/{number}", "incident.get", h.get},
		{"PATCH", "/api/v1/incidents/{number}", "incident.update", h.update},
		{"POST", "/api/v1/incidents/{number}/assign", "incident.assign", h.assign},
		{"POST", "/api/v1/incidents/{number}/transition", "incident.transition", h.transition},
		{"POST", "/api/v1/incidents/{number}/comments", "incident.comment", h.comment},
		{"POST", "/api/v1/incidents/{number}/links", "incident.link", h.link},
		{"GET", "/api/v1/cis/{ref}/incidents", "ci.incidents", h.ciIncidents},
		{"GET", "/api/v1/incident-config", "incident.config.get", h.getConfig},
		{"PUT", "/api/v1/incident-config", "incident.config.set", h.setConfig},
		{"GET", "/api/v1/reports/kpis", "report.kpis", h.kpis},
	}
}

type incidentHandlers struct {
	g   *cmdb.Graph
	inc *incident.Service
	prb *problem.Service
	now func() time.Time
}

// IncidentView is an incident with its SLA clock now, the problems that
// group it and the known errors that may explain it.
type IncidentView struct {
	Incident    *incident.Incident   `json:"incident"`
	SLA         incident.SLAStatus   `json:"sla"`
	Problems    []problem.Summary    `json:"problems"`
	KnownErrors []problem.Suggestion `json:"known_errors"`
}

func (h incidentHandlers) view(r *http.Request, in *incident.Incident) (*IncidentView, error) {
	cfg, err := incident.LoadConfig(r.Context(), h.inc.Store())
	if err != nil {
		return nil, err
	}
	sla, err := incident.SLA(in, cfg, h.now())
	if err != nil {
		return nil, err
	}
	v := &IncidentView{Incident: in, SLA: sla, Problems: []problem.Summary{}, KnownErrors: []problem.Suggestion{}}
	if in.CIs == nil {
		in.CIs = []incident.Link{}
	}
	if in.Services == nil {
		in.Services = []incident.ServiceRef{}
	}
	if h.prb != nil {
		if v.Problems, err = h.prb.ForIncident(r.Context(), in.Number); err != nil {
			return nil, err
		}
		if incident.IsOpen(in.Status) {
			sg, err := h.prb.Suggest(r.Context(), in)
			if err != nil {
				return nil, err
			}
			if sg != nil {
				v.KnownErrors = sg
			}
		}
	}
	return v, nil
}

func (h incidentHandlers) reply(w http.ResponseWriter, r *http.Request, status int, in *incident.Incident, err error) error {
	if err != nil {
		return err
	}
	v, err := h.view(r, in)
	if err != nil {
		return err
	}
	writeJSON(w, status, v)
	return nil
}

func (h incidentHandlers) create(w http.ResponseWriter, r *http.Request) error {
	var n incident.NewIncident
	if err := ReadJSON(r, &n); err != nil {
		return err
	}
	in, err := h.inc.Create(r.Context(), Principal(r.Context()), h.now(), n)
	return h.reply(w, r, http.StatusCreated, in, err)
}

func queryInt(q map[string][]string, name string, lo, hi int) (int, error) {
	vs := q[name]
	if len(vs) == 0 || vs[0] == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(vs[0])
	if err != nil || n < lo || n > hi {
		return 0, BadRequest("%s must be %d..%d", name, lo, hi)
	}
	return n, nil
}

func queryBool(v string) bool { b, _ := strconv.ParseBool(v); return b }

func (h incidentHandlers) list(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := incident.Filter{Status: q.Get("status"), Assignee: q.Get("assignee"), Group: q.Get("group"), Category: q.Get("category"),
		Major: queryBool(q.Get("major")), Breached: queryBool(q.Get("breached")), After: q.Get("after"), Oldest: q.Get("order") == "oldest"}
	var err error
	if f.Priority, err = queryInt(q, "priority", 1, 99); err != nil {
		return err
	}
	if f.Limit, err = queryInt(q, "limit", 1, 1000); err != nil {
		return err
	}
	if ref := q.Get("ci"); ref != "" {
		ci, err := h.g.Resolve(r.Context(), ref)
		if err != nil {
			return err
		}
		f.CI = ci.ID
	}
	items, next, err := h.inc.List(r.Context(), f)
	if err != nil {
		return err
	}
	if items == nil {
		items = []incident.Summary{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next": next})
	return nil
}

func (h incidentHandlers) get(w http.ResponseWriter, r *http.Request) error {
	in, err := h.inc.Get(r.Context(), r.PathValue("number"))
	return h.reply(w, r, http.StatusOK, in, err)
}

func (h incidentHandlers) update(w http.ResponseWriter, r *http.Request) error {
	var u incident.Update
	if err := ReadJSON(r, &u); err != nil {
		return err
	}
	in, err := h.inc.Update(r.Context(), Principal(r.Context()), h.now(), r.PathValue("number"), u)
	return h.reply(w, r, http.StatusOK, in, err)
}

func (h incidentHandlers) assign(w http.ResponseWriter, r *http.Request) error {
	var a struct {
		Assignee string `json:"assignee"`
		Group    string `json:"group"`
	}
	if err := ReadJSON(r, &a); err != nil {
		return err
	}
	in, err := h.inc.Assign(r.Context(), Principal(r.Context()), h.now(), r.PathValue("number"), a.Assignee, a.Group)
	return h.reply(w, r, http.StatusOK, in, err)
}

func (h incidentHandlers) transition(w http.ResponseWriter, r *http.Request) error {
	var t incident.Transition
	if err := ReadJSON(r, &t); err != nil {
		return err
	}
	in, err := h.inc.Transition(r.Context(), Principal(r.Context()), h.now(), r.PathValue("number"), t)
	return h.reply(w, r, http.StatusOK, in, err)
}

func (h incidentHandlers) comment(w http.ResponseWriter, r *http.Request) error {
	var c struct {
		Text string `json:"text"`
	}
	if err := ReadJSON(r, &c); err != nil {
		return err
	}
	in, err := h.inc.Comment(r.Context(), Principal(r.Context()), h.now(), r.PathValue("number"), c.Text)
	return h.reply(w, r, http.StatusOK, in, err)
}

func (h incidentHandlers) link(w http.ResponseWriter, r *http.Request) error {
	var l struct {
		Add    []string `json:"add"`
		Remove []string `json:"remove"`
	}
	if err := ReadJSON(r, &l); err != nil {
		return err
	}
	in, err := h.inc.Link(r.Context(), Principal(r.Context()), h.now(), r.PathValue("number"), l.Add, l.Remove)
	return h.reply(w, r, http.StatusOK, in, err)
}

// DependantIncidents is a CI downstream of the viewed one, with its open
// incidents.
type DependantIncidents struct {
	ID        string             `json:"id"`
	Name      string             `json:"name"`
	Class     string             `json:"class"`
	Depth     int                `json:"depth"`
	Path      []string           `json:"path"`
	Incidents []incident.Summary `json:"incidents"`
}

// ciIncidents is the CI view of incidents: its open incidents (all with
// ?all=true), its open problems, and the open incidents of every CI that
// depends on it (the impact view; ?depth=N, default 3).
func (h incidentHandlers) ciIncidents(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	ci, err := h.g.Resolve(ctx, r.PathValue("ref"))
	if err != nil {
		return err
	}
	depth, err := queryInt(q, "depth", 1, 10)
	if err != nil {
		return err
	}
	st := h.inc.Store()
	var items []incident.Summary
	if queryBool(q.Get("all")) {
		items, _, err = h.inc.List(ctx, incident.Filter{CI: ci.ID, Limit: 1000})
	} else {
		var nums []string
		if nums, err = incident.OpenOnCI(ctx, st, ci.ID); err == nil {
			items, err = incident.Summaries(ctx, st, nums)
		}
	}
	if err != nil {
		return err
	}
	problems, err := problem.OpenOnCI(ctx, st, ci.ID)
	if err != nil {
		return err
	}
	imp, err := h.g.Impact(ctx, []string{ci.ID}, cmdb.ImpactOptions{Direction: cmdb.Downstream, Depth: depth})
	if err != nil {
		return err
	}
	deps := []DependantIncidents{}
	for _, n := range imp.Nodes {
		nums, err := incident.OpenOnCI(ctx, st, n.ID)
		if err != nil {
			return err
		}
		if len(nums) == 0 {
			continue
		}
		sums, err := incident.Summaries(ctx, st, nums)
		if err != nil {
			return err
		}
		deps = append(deps, DependantIncidents{ID: n.ID, Name: n.Name, Class: n.Class, Depth: n.Depth, Path: n.Path, Incidents: sums})
	}
	if items == nil {
		items = []incident.Summary{}
	}
	if problems == nil {
		problems = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"ci": ci.ID, "name": ci.Name, "incidents": items, "problems": problems,
		"dependants_checked": len(imp.Nodes), "dependants": deps})
	return nil
}

func (h incidentHandlers) getConfig(w http.ResponseWriter, r *http.Request) error {
	cfg, err := incident.LoadConfig(r.Context(), h.inc.Store())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, cfg)
	return nil
}

func (h incidentHandlers) setConfig(w http.ResponseWriter, r *http.Request) error {
	var c incident.Config
	if err := ReadJSON(r, &c); err != nil {
		return err
	}
	cfg, err := h.inc.SetConfig(r.Context(), Principal(r.Context()), h.now(), c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, cfg)
	return nil
}

func (h incidentHandlers) kpis(w http.ResponseWriter, r *http.Request) error {
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
	k, err := h.inc.ComputeKPIs(r.Context(), from, to)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, k)
	return nil
}

package api

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"parc/cmdb"
	"parc/cmdb/licence"
	"parc/cmdb/store"
)

// LicenceRoutes serves licence entitlements, compliance, CSV import and
// export, and the software normalizer.
func LicenceRoutes(svc *licence.Service, st store.Store, now func() time.Time) []Route {
	if now == nil {
		now = time.Now
	}
	h := licenceHandlers{svc: svc, st: st, now: now}
	return []Route{
		{"GET", "/api/v1/licences", "licence.list", h.list},
		{"POST", "/api/v1/licences", "licence.create", h.create},
		{"GET", "/api/v1/licences/compliance", "licence.compliance", h.compliance},
		{"POST", "/api/v1/licences/import", "licence.import", h.importCSV},
		{"GET", "/api/v1/licences/export", "licence.export", h.exportCSV},
		{"GET", "/api/v1/licences/{ref}", "licence.get", h.get},
		{"PUT", "/api/v1/licences/{ref}", "licence.update", h.update},
		{"DELETE", "/api/v1/licences/{ref}", "licence.delete", h.delete},
		{"GET", "/api/v1/software/title", "software.title", h.title},
	}
}

type licenceHandlers struct {
	svc *licence.Service
	st  store.Store
	now func() time.Time
}

func (h licenceHandlers) list(w http.ResponseWriter, r *http.Request) error {
	ents, err := licence.List(r.Context(), h.st)
	if err != nil {
		return err
	}
	if ents == nil {
		ents = []licence.Entitlement{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": ents})
	return nil
}

func (h licenceHandlers) get(w http.ResponseWriter, r *http.Request) error {
	e, err := licence.Get(r.Context(), h.st, r.PathValue("ref"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

func (h licenceHandlers) create(w http.ResponseWriter, r *http.Request) error {
	var in licence.Input
	if err := ReadJSON(r, &in); err != nil {
		return err
	}
	e, err := h.svc.Create(r.Context(), in, Principal(r.Context()), h.now(), cmdb.NewID())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, e)
	return nil
}

func (h licenceHandlers) update(w http.ResponseWriter, r *http.Request) error {
	var in licence.Input
	if err := ReadJSON(r, &in); err != nil {
		return err
	}
	e, err := h.svc.Update(r.Context(), r.PathValue("ref"), in, Principal(r.Context()), h.now())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

func (h licenceHandlers) delete(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.Delete(r.Context(), r.PathValue("ref"), Principal(r.Context()), h.now()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// compliance serves the report the compliance job keeps current, or
// computes one now (?fresh=true, or before the job's first report).
func (h licenceHandlers) compliance(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	fresh := false
	if v := q.Get("fresh"); v != "" {
		var err error
		if fresh, err = strconv.ParseBool(v); err != nil {
			return BadRequest("fresh must be true or false")
		}
	}
	var rep *licence.Report
	var err error
	if !fresh {
		rep, err = licence.LoadReport(r.Context(), h.st)
	}
	if fresh || errors.Is(err, cmdb.ErrNotFound) {
		rep, err = licence.Compute(r.Context(), h.st, h.now(), 1000)
	}
	if err != nil {
		return err
	}
	if q.Get("format") == "csv" {
		rows := make([][]string, 0, len(rep.Licences))
		for _, l := range rep.Licences {
			rows = append(rows, []string{l.ID, l.Name, l.Title, l.Metric, strconv.FormatInt(l.Seats, 10), strconv.FormatInt(l.Used, 10),
				strconv.FormatInt(l.Unused, 10), strconv.FormatInt(l.OverDeployed, 10), strconv.Itoa(l.Installs), l.Status})
		}
		return writeCSV(w, "licence-compliance.csv", []string{"id", "name", "title", "metric", "seats", "used", "unused", "over_deployed", "installs", "status"}, rows)
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

func (h licenceHandlers) importCSV(w http.ResponseWriter, r *http.Request) error {
	dry, limit, err := importParams(r)
	if err != nil {
		return err
	}
	data, err := readBody(r)
	if err != nil {
		return err
	}
	res, err := h.svc.Import(r.Context(), data, dry, limit, nil, Principal(r.Context()), h.now(), cmdb.NewID)
	if err != nil {
		return err
	}
	body := map[string]any{"result": res}
	if len(res.Errors) > 0 {
		body["error"] = fmt.Sprintf("%d row error(s); nothing was written", len(res.Errors))
	}
	writeJSON(w, importStatus(res.Errors), body)
	return nil
}

func (h licenceHandlers) exportCSV(w http.ResponseWriter, r *http.Request) error {
	var b bytes.Buffer
	if err := licence.Export(r.Context(), h.st, &b); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="licences.csv"`)
	_, err := w.Write(b.Bytes())
	return err
}

func (h licenceHandlers) title(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	name := q.Get("name")
	if name == "" {
		return BadRequest("name is required")
	}
	n := h.svc.Normalizer()
	writeJSON(w, http.StatusOK, map[string]string{"name": name, "publisher": q.Get("publisher"),
		"title": n.Title(name, q.Get("publisher")), "canonical_publisher": n.Publisher(q.Get("publisher"))})
	return nil
}

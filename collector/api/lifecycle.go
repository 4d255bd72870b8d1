package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"parc/cmdb"
	"parc/cmdb/lifecycle"
	"parc/cmdb/lifecycle/csvio"
)

// LifecycleRoutes serves assets, lifecycle transitions, finances,
// contracts, reminders and the asset report.
func LifecycleRoutes(lc *lifecycle.Service, now func() time.Time) []Route {
	if now == nil {
		now = time.Now
	}
	h := lifecycleHandlers{lc: lc, now: now}
	return []Route{
		{"POST", "/api/v1/assets", "asset.create", h.createAsset},
		{"PATCH", "/api/v1/assets/{ref}", "asset.update", h.updateAsset},
		{"GET", "/api/v1/assets/{ref}/finance", "asset.finance", h.finance},
		{"POST", "/api/v1/assets/import", "asset.import", h.importAssets},
		{"PUT", "/api/v1/assets/uploads/{id}/parts/{n}", "asset.upload", h.uploadPart},
		{"GET", "/api/v1/assets/export", "asset.export", h.exportAssets},
		{"GET", "/api/v1/cis/{ref}/lifecycle", "lifecycle.get", h.get},
		{"POST", "/api/v1/cis/{ref}/transition", "lifecycle.transition", h.transition},
		{"POST", "/api/v1/cis/{ref}/renew", "lifecycle.renew", h.renew},
		{"POST", "/api/v1/contracts", "contract.create", h.createContract},
		{"POST", "/api/v1/contracts/{ref}/assets", "contract.link", h.linkContract},
		{"GET", "/api/v1/lifecycle/due", "lifecycle.due", h.due},
		{"GET", "/api/v1/reports/assets", "report.assets", h.report},
	}
}

type lifecycleHandlers struct {
	lc  *lifecycle.Service
	now func() time.Time
}

func (h lifecycleHandlers) createAsset(w http.ResponseWriter, r *http.Request) error {
	var in lifecycle.AssetInput
	if err := ReadJSON(r, &in); err != nil {
		return err
	}
	ci, err := h.lc.CreateAsset(r.Context(), in, Principal(r.Context()), h.now(), cmdb.NewID())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, ci)
	return nil
}

func (h lifecycleHandlers) updateAsset(w http.ResponseWriter, r *http.Request) error {
	var in lifecycle.AssetInput
	if err := ReadJSON(r, &in); err != nil {
		return err
	}
	ci, err := h.lc.UpdateAsset(r.Context(), r.PathValue("ref"), in, Principal(r.Context()), h.now())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ci)
	return nil
}

func (h lifecycleHandlers) finance(w http.ResponseWriter, r *http.Request) error {
	f, err := h.lc.Finance(r.Context(), r.PathValue("ref"), h.now())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, f)
	return nil
}

// LifecycleView is a CI's lifecycle: its state, where it may go next and
// its maintenance records.
type LifecycleView struct {
	CI          string                  `json:"ci"`
	Name        string                  `json:"name"`
	State       string                  `json:"state"`
	Next        []string                `json:"next"`
	Maintenance []lifecycle.Maintenance `json:"maintenance"`
}

func (h lifecycleHandlers) get(w http.ResponseWriter, r *http.Request) error {
	ci, err := h.lc.Graph().Resolve(r.Context(), r.PathValue("ref"))
	if err != nil {
		return err
	}
	ms, err := h.lc.MaintenanceOf(r.Context(), ci.ID)
	if err != nil {
		return err
	}
	state := ci.State
	if state == "" {
		state = lifecycle.Use
	}
	writeJSON(w, http.StatusOK, LifecycleView{CI: ci.ID, Name: ci.Name, State: state, Next: append([]string{}, lifecycle.Next(state)...), Maintenance: ms})
	return nil
}

func (h lifecycleHandlers) transition(w http.ResponseWriter, r *http.Request) error {
	var in lifecycle.TransitionInput
	if err := ReadJSON(r, &in); err != nil {
		return err
	}
	ci, err := h.lc.Transition(r.Context(), r.PathValue("ref"), in, Principal(r.Context()), h.now())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ci)
	return nil
}

func (h lifecycleHandlers) renew(w http.ResponseWriter, r *http.Request) error {
	var in lifecycle.RenewInput
	if err := ReadJSON(r, &in); err != nil {
		return err
	}
	old, repl, err := h.lc.Renew(r.Context(), r.PathValue("ref"), in, Principal(r.Context()), h.now(), cmdb.NewID())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"retired": old, "replacement": repl})
	return nil
}

func (h lifecycleHandlers) createContract(w http.ResponseWriter, r *http.Request) error {
	var in lifecycle.ContractInput
	if err := ReadJSON(r, &in); err != nil {
		return err
	}
	ci, err := h.lc.CreateContract(r.Context(), in, Principal(r.Context()), h.now(), cmdb.NewID())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, ci)
	return nil
}

func (h lifecycleHandlers) linkContract(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Asset  string `json:"asset"`
		Unlink bool   `json:"unlink"`
	}
	if err := ReadJSON(r, &in); err != nil {
		return err
	}
	if err := h.lc.LinkContract(r.Context(), r.PathValue("ref"), in.Asset, in.Unlink, Principal(r.Context()), h.now()); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"contract": r.PathValue("ref"), "asset": in.Asset, "linked": !in.Unlink})
	return nil
}

// daysParam reads ?days=N (default def, 0..3650).
func daysParam(r *http.Request, def int) (int, error) {
	v := r.URL.Query().Get("days")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 3650 {
		return 0, BadRequest("days must be 0..3650")
	}
	return n, nil
}

func (h lifecycleHandlers) due(w http.ResponseWriter, r *http.Request) error {
	days, err := daysParam(r, 30)
	if err != nil {
		return err
	}
	items, err := h.lc.Due(r.Context(), h.now(), days)
	if err != nil {
		return err
	}
	if r.URL.Query().Get("format") == "csv" {
		rows := make([][]string, len(items))
		for i, d := range items {
			rows[i] = []string{d.Kind, d.ID, d.Name, d.Date, strconv.Itoa(d.DaysLeft), d.Detail}
		}
		return writeCSV(w, "due.csv", []string{"kind", "id", "name", "date", "days_left", "detail"}, rows)
	}
	writeJSON(w, http.StatusOK, map[string]any{"days": days, "items": items})
	return nil
}

func (h lifecycleHandlers) report(w http.ResponseWriter, r *http.Request) error {
	days, err := daysParam(r, 90)
	if err != nil {
		return err
	}
	rep, err := h.lc.Report(r.Context(), h.now(), days)
	if err != nil {
		return err
	}
	if r.URL.Query().Get("format") == "csv" {
		return reportCSV(w, rep, r.URL.Query().Get("section"))
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

// reportCSV writes one section of the asset report as CSV: groups (by
// state, class, location and owner, and the total), warranties, or
// licences (the compliance summary).
func reportCSV(w http.ResponseWriter, rep *lifecycle.Report, section string) error {
	switch section {
	case "warranties":
		rows := make([][]string, len(rep.Warranties))
		for i, d := range rep.Warranties {
			rows[i] = []string{d.ID, d.Name, d.Date, strconv.Itoa(d.DaysLeft), d.Detail}
		}
		return writeCSV(w, "warranties.csv", []string{"id", "name", "warranty_end", "days_left", "model"}, rows)
	case "licences":
		var rows [][]string
		if l := rep.Licences; l != nil {
			rows = append(rows, []string{strconv.Itoa(l.Licences), strconv.Itoa(l.Compliant), strconv.Itoa(l.OverDeployed),
				strconv.Itoa(l.Expired), strconv.FormatInt(l.UnusedSeats, 10), strconv.Itoa(l.Unlicensed), money(l.Cost)})
		}
		return writeCSV(w, "licence-summary.csv", []string{"licences", "compliant", "over_deployed", "expired", "unused_seats", "unlicensed_installs", "cost"}, rows)
	case "", "groups":
		var rows [][]string
		for _, g := range []struct {
			name string
			cs   []lifecycle.Count
		}{{"state", rep.ByState}, {"class", rep.ByClass}, {"location", rep.ByLocation}, {"owner", rep.ByOwner}} {
			for _, c := range g.cs {
				rows = append(rows, []string{g.name, c.Key, strconv.Itoa(c.Assets), money(c.Cost), money(c.BookValue)})
			}
		}
		rows = append(rows, []string{"total", "", strconv.Itoa(rep.Totals.Assets), money(rep.Totals.Cost), money(rep.Totals.BookValue)})
		return writeCSV(w, "assets-report.csv", []string{"group", "key", "assets", "cost", "book_value"}, rows)
	}
	return BadRequest("section must be groups, warranties or licences")
}

func money(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

func writeCSV(w http.ResponseWriter, name string, cols []string, rows [][]string) error {
	var b bytes.Buffer
	if err := csvio.Write(&b, cols, rows); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, err := w.Write(b.Bytes())
	return err
}

// readRaw reads a raw request body within the API's limit.
func readRaw(r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, fmt.Errorf("%w: over %d bytes: send it in parts", errTooLarge, mbe.Limit)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	return data, nil
}

// readBody reads a CSV file sent whole.
func readBody(r *http.Request) ([]byte, error) {
	data, err := readRaw(r)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, BadRequest("empty body: want a CSV file with a header row")
	}
	return data, nil
}

// importParams reads ?dry_run=true&limit=N.
func importParams(r *http.Request) (dry bool, limit int, err error) {
	q := r.URL.Query()
	if v := q.Get("dry_run"); v != "" {
		if dry, err = strconv.ParseBool(v); err != nil {
			return false, 0, BadRequest("dry_run must be true or false")
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 0 {
			return false, 0, BadRequest("limit must be a whole number of rows")
		}
	}
	return dry, limit, nil
}

// importStatus is 422 when rows have errors (the body lists them).
func importStatus(errs []csvio.RowError) int {
	if len(errs) > 0 {
		return http.StatusUnprocessableEntity
	}
	return http.StatusOK
}

func (h lifecycleHandlers) importAssets(w http.ResponseWriter, r *http.Request) error {
	dry, limit, err := importParams(r)
	if err != nil {
		return err
	}
	// A file larger than one request is staged in parts first and named
	// by ?upload=ID.
	upload := r.URL.Query().Get("upload")
	var data []byte
	if upload != "" {
		data, err = h.lc.Upload(r.Context(), upload)
	} else {
		data, err = readBody(r)
	}
	if err != nil {
		return err
	}
	res, err := h.lc.ImportAssets(r.Context(), data, lifecycle.ImportOptions{DryRun: dry, Limit: limit}, Principal(r.Context()), h.now())
	if err != nil {
		return err
	}
	if upload != "" && res.Complete {
		if err := h.lc.DeleteUpload(r.Context(), upload); err != nil {
			return err
		}
	}
	body := map[string]any{"result": res}
	if len(res.Errors) > 0 {
		body["error"] = fmt.Sprintf("%d row error(s); nothing was written", len(res.Errors))
	}
	writeJSON(w, importStatus(res.Errors), body)
	return nil
}

func (h lifecycleHandlers) uploadPart(w http.ResponseWriter, r *http.Request) error {
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil {
		return BadRequest("part number must be a whole number")
	}
	of, err := strconv.Atoi(r.URL.Query().Get("of"))
	if err != nil {
		return BadRequest("?of= must give the number of parts")
	}
	data, err := readRaw(r)
	if err != nil {
		return err
	}
	if err := h.lc.PutUploadPart(r.Context(), r.PathValue("id"), n, of, data, Principal(r.Context()), h.now()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h lifecycleHandlers) exportAssets(w http.ResponseWriter, r *http.Request) error {
	var b bytes.Buffer
	if err := h.lc.ExportAssets(r.Context(), &b, h.now()); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="assets.csv"`)
	_, err := w.Write(b.Bytes())
	return err
}

package licence

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"parc/cmdb"
	"parc/cmdb/lifecycle/csvio"
	"parc/cmdb/store"
)

// Columns are the columns of the licence CSV format; rows are keyed by
// name.
var Columns = []string{"name", "product", "publisher", "versions", "metric", "seats", "expiry", "cost", "supplier"}

var exportColumns = append([]string{"id", "title"}, Columns...)

// RowPlan is what an import does with one row.
type RowPlan struct {
	Line   int    `json:"line"`
	Action string `json:"action"` // create, update or unchanged
	ID     string `json:"id,omitempty"`
	Name   string `json:"name"`
}

// ImportResult is the outcome of an import or of its dry run.
type ImportResult struct {
	ID        string           `json:"id"`
	Rows      int              `json:"rows"`
	DryRun    bool             `json:"dry_run"`
	Errors    []csvio.RowError `json:"errors"`
	Plan      []RowPlan        `json:"plan"`
	Create    int              `json:"create"`
	Update    int              `json:"update"`
	Unchanged int              `json:"unchanged"`
	Done      int              `json:"done"`
	Complete  bool             `json:"complete"`
}

func rowInput(r csvio.Row) (Input, []csvio.RowError) {
	in := Input{Name: r.Get("name"), Product: r.Get("product"), Publisher: r.Get("publisher"), Versions: r.Get("versions"),
		Metric: r.Get("metric"), Expiry: r.Get("expiry"), Supplier: r.Get("supplier")}
	var errs []csvio.RowError
	if v := r.Get("seats"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			errs = append(errs, csvio.RowError{Line: r.Line, Column: "seats", Message: fmt.Sprintf("%q is not a whole number", v)})
		}
		in.Seats = n
	}
	if v := r.Get("cost"); v != "" {
		f, err := strconv.ParseFloat(strings.ReplaceAll(v, ",", ""), 64)
		if err != nil {
			errs = append(errs, csvio.RowError{Line: r.Line, Column: "cost", Message: fmt.Sprintf("%q is not a number", v)})
		}
		in.Cost = f
	}
	return in, errs
}

// Import imports entitlements from CSV, keyed by name, with the guarantee
// of package csvio: nothing is written unless every row is valid; rows are
// then written in batches that importing the same file again resumes.
func (s *Service) Import(ctx context.Context, data []byte, dryRun bool, limit int, progress func(done, total int), actor string, now time.Time, newID func() string) (*ImportResult, error) {
	res := &ImportResult{ID: csvio.FileID(data), DryRun: dryRun, Errors: []csvio.RowError{}, Plan: []RowPlan{}}
	rows, errs := csvio.Parse(data, exportColumns)
	res.Rows = len(rows)
	res.Errors = append(res.Errors, errs...)
	ents := make([]Entitlement, len(rows))
	names := map[string]int{}
	for i, r := range rows {
		in, rerrs := rowInput(r)
		res.Errors = append(res.Errors, rerrs...)
		e, err := s.build(in)
		if err != nil && len(rerrs) == 0 {
			res.Errors = append(res.Errors, csvio.RowError{Line: r.Line, Message: strings.TrimSuffix(err.Error(), ": "+cmdb.ErrInvalid.Error())})
		}
		ents[i] = e
		if first, dup := names[foldName(e.Name)]; dup && e.Name != "" {
			res.Errors = append(res.Errors, csvio.RowError{Line: r.Line, Column: "name", Message: fmt.Sprintf("%q is also on line %d", e.Name, first)})
		} else {
			names[foldName(e.Name)] = r.Line
		}
	}
	if len(res.Errors) == 0 {
		err := s.st.View(ctx, func(r store.Reader) error {
			for i, row := range rows {
				p := RowPlan{Line: row.Line, Name: ents[i].Name, Action: "create"}
				old, err := Get(ctx, r, ents[i].Name)
				switch {
				case errors.Is(err, cmdb.ErrNotFound):
					res.Create++
				case err != nil:
					return err
				default:
					p.ID = old.ID
					e := ents[i]
					e.ID, e.Created, e.Updated = old.ID, old.Created, old.Updated
					if same(old, &e) {
						p.Action = "unchanged"
						res.Unchanged++
					} else {
						p.Action = "update"
						res.Update++
					}
				}
				res.Plan = append(res.Plan, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.SliceStable(res.Errors, func(i, j int) bool { return res.Errors[i].Line < res.Errors[j].Line })
	if len(res.Errors) > 0 || dryRun {
		return res, nil
	}
	p, err := csvio.Run(ctx, s.st, csvio.Batch{Kind: "licences", ID: res.ID, Rows: len(rows), Actor: actor, Now: now, PerTxn: 10,
		Limit: limit, Progress: progress,
		Apply: func(ctx context.Context, stx store.Txn, i int) error {
			e := ents[i]
			old, err := Get(ctx, stx, e.Name)
			if errors.Is(err, cmdb.ErrNotFound) {
				old, err = nil, nil
				e.ID = newID()
			}
			if err != nil {
				return err
			}
			if old != nil {
				e.ID = old.ID
			}
			if err := s.put(ctx, stx, old, e, actor, now, cmdb.SourceImport); err != nil {
				return fmt.Errorf("line %d: %w", rows[i].Line, err)
			}
			return nil
		}})
	if p != nil {
		res.Done, res.Complete = p.Done, p.Complete
	}
	return res, err
}

// Export writes every entitlement as CSV (the import columns plus id and
// title, which an import ignores).
func Export(ctx context.Context, r store.Reader, w io.Writer) error {
	ents, err := List(ctx, r)
	if err != nil {
		return err
	}
	rows := make([][]string, 0, len(ents))
	for _, e := range ents {
		exp := ""
		if !e.Expiry.IsZero() {
			exp = e.Expiry.Format(DateLayout)
		}
		cost := ""
		if e.Cost != 0 {
			cost = strconv.FormatFloat(e.Cost, 'f', -1, 64)
		}
		rows = append(rows, []string{e.ID, e.Title, e.Name, e.Title, e.Publisher, e.Versions.String(), e.Metric,
			strconv.FormatInt(e.Seats, 10), exp, cost, e.Supplier})
	}
	return csvio.Write(w, exportColumns, rows)
}

package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"parc/cmdb"
	"parc/cmdb/audit"
	"parc/cmdb/lifecycle/csvio"
	"parc/cmdb/reconcile"
	"parc/cmdb/store"
)

// AssetColumns are the columns of the asset CSV format.
var AssetColumns = []string{"asset_tag", "serial", "vendor", "model", "name", "class", "subclass", "state", "cost",
	"purchase_date", "supplier", "order_number", "warranty_end", "depreciation_years", "owner", "location"}

// exportColumns adds the read-only columns of an export (id, book_value);
// an import accepts and ignores them, so an edited export imports as is.
var exportColumns = append([]string{"id"}, append(slices.Clone(AssetColumns), "book_value")...)

// ImportOptions shapes an import.
type ImportOptions struct {
	// DryRun validates and previews without writing.
	DryRun bool
	// Limit caps the rows written by this call (0: all); call again with
	// the same file to continue.
	Limit int
	// Progress is told the rows written after each transaction.
	Progress func(done, total int)
}

// RowPlan is what an import does with one row.
type RowPlan struct {
	Line int `json:"line"`
	// Action is create, update or unchanged.
	Action  string   `json:"action"`
	CI      string   `json:"ci,omitempty"`
	Key     string   `json:"key"`
	Changes []string `json:"changes,omitempty"`
	// Kept names the fields whose imported value was not applied because
	// a stronger source owns them (a value entered by hand, or a fact
	// discovered by an agent).
	Kept []string `json:"kept,omitempty"`
}

// ImportResult is the outcome of an import or its dry run.
type ImportResult struct {
	ID     string           `json:"id"`
	Rows   int              `json:"rows"`
	DryRun bool             `json:"dry_run"`
	Errors []csvio.RowError `json:"errors"`
	// Plan previews every row (first 1000 kept).
	Plan      []RowPlan `json:"plan"`
	Create    int       `json:"create"`
	Update    int       `json:"update"`
	Unchanged int       `json:"unchanged"`
	// Done is the number of rows committed so far; Complete says the
	// whole file is.
	Done     int  `json:"done"`
	Complete bool `json:"complete"`
}

func rowInput(r csvio.Row) (AssetInput, []csvio.RowError) {
	in := AssetInput{Name: r.Get("name"), Class: r.Get("class"), Subclass: r.Get("subclass"), State: r.Get("state"),
		AssetTag: r.Get("asset_tag"), Serial: r.Get("serial"), Vendor: r.Get("vendor"), Model: r.Get("model"),
		PurchaseDate: r.Get("purchase_date"), Supplier: r.Get("supplier"), OrderNumber: r.Get("order_number"),
		WarrantyEnd: r.Get("warranty_end"), Owner: r.Get("owner"), Location: r.Get("location")}
	var errs []csvio.RowError
	if v := r.Get("cost"); v != "" {
		f, err := strconv.ParseFloat(strings.ReplaceAll(v, ",", ""), 64)
		if err != nil {
			errs = append(errs, csvio.RowError{Line: r.Line, Column: "cost", Message: fmt.Sprintf("%q is not a number", v)})
		}
		in.Cost = f
	}
	if v := r.Get("depreciation_years"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			errs = append(errs, csvio.RowError{Line: r.Line, Column: "depreciation_years", Message: fmt.Sprintf("%q is not a positive whole number", v)})
		}
		in.DepreciationYears = n
	}
	bad := in.check()
	if in.Serial == "" && in.AssetTag == "" {
		bad["asset_tag"] = "an asset tag or a serial is required (rows are keyed by them)"
	}
	if in.Serial != "" && in.Vendor == "" {
		bad["vendor"] = "the vendor is required with a serial"
	}
	if in.State == Maintain {
		bad["state"] = "maintenance is entered with `parc lifecycle maintain`, not by import"
	}
	for col, msg := range bad {
		errs = append(errs, csvio.RowError{Line: r.Line, Column: col, Message: msg})
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Column < errs[j].Column })
	return in, errs
}

func rowKey(in *AssetInput) string {
	if in.AssetTag != "" {
		return "asset_tag=" + in.AssetTag
	}
	return "serial=" + reconcile.SerialIdentifier(in.Vendor, in.Serial)
}

// applyRow plans (write false) or performs one row in tx.
func (s *Service) applyRow(ctx context.Context, tx *cmdb.Tx, line int, in AssetInput, fileID string, write bool) (RowPlan, error) {
	plan := RowPlan{Line: line, Key: rowKey(&in)}
	have, err := findAsset(tx, &in)
	if err != nil {
		return plan, err
	}
	now := tx.Now()
	if have == nil {
		plan.Action, plan.CI = "create", ""
		if !write {
			return plan, nil
		}
		ci := newAsset(&in, s.newID(), cmdb.SourceImport, now)
		plan.CI = ci.ID
		if _, err := tx.PutCI(nil, ci); err != nil {
			return plan, err
		}
		return plan, audit.Record(tx.Store(), audit.Entry{At: now, Actor: tx.Actor(), Action: "asset.import", Object: "ci/" + ci.ID,
			After: in, Detail: fmt.Sprintf("import %s line %d: create", fileID, line)})
	}
	plan.CI = have.ID
	if in.Class != "" && in.Class != have.Class {
		return plan, fmt.Errorf("class: %s is a %s; the class of an asset does not change by import: %w", have.Name, have.Class, cmdb.ErrInvalid)
	}
	next := cloneCI(have)
	plan.Kept = applyInput(next, &in, cmdb.SourceImport, now)
	from := current(have)
	if in.State != "" && in.State != from {
		if err := CanTransition(from, in.State); err != nil {
			return plan, fmt.Errorf("state: %w", err)
		}
		if in.State == Retire {
			if err := s.checkBlockers(ctx, tx.Store(), have); err != nil {
				return plan, fmt.Errorf("state: %w", err)
			}
			reconcile.SetAttr(reconcile.DefaultPrecedence(), next, "retired_at", now.Format(DateLayout), cmdb.SourceImport, now)
		}
		if from == Maintain {
			return plan, fmt.Errorf("state: %s is in maintenance; end it with `parc lifecycle transition`: %w", have.Name, cmdb.ErrForbidden)
		}
		next.State = in.State
	}
	plan.Changes = diffCI(have, next)
	plan.Action = "update"
	if len(plan.Changes) == 0 {
		plan.Action = "unchanged"
		return plan, nil
	}
	if !write {
		return plan, nil
	}
	if _, err := tx.PutCI(have, next); err != nil {
		return plan, err
	}
	return plan, audit.Record(tx.Store(), audit.Entry{At: now, Actor: tx.Actor(), Action: "asset.import", Object: "ci/" + have.ID,
		After: in, Detail: fmt.Sprintf("import %s line %d: %s", fileID, line, strings.Join(plan.Changes, ", "))})
}

// diffCI names the fields whose values differ (sources and times aside).
func diffCI(a, b *cmdb.CI) []string {
	var out []string
	if a.Name != b.Name {
		out = append(out, "name")
	}
	if a.Subclass != b.Subclass {
		out = append(out, "subclass")
	}
	if a.State != b.State {
		out = append(out, "state")
	}
	for k, bv := range b.Attrs {
		av, ok := a.Attrs[k]
		if !ok || !reflect.DeepEqual(cmdb.Canon(av.Value), cmdb.Canon(bv.Value)) {
			out = append(out, k)
		}
	}
	for k, v := range b.Identifiers {
		if !slices.Equal(a.Identifiers[k], v) {
			out = append(out, "identifiers."+k)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// ImportAssets imports assets from CSV (columns AssetColumns, keyed by
// asset tag, else vendor and serial). See package csvio for the
// guarantee: nothing is written unless every row is valid; the rows are
// then written in batches that a repeated import of the same file resumes.
func (s *Service) ImportAssets(ctx context.Context, data []byte, opt ImportOptions, actor string, now time.Time) (*ImportResult, error) {
	res := &ImportResult{ID: csvio.FileID(data), DryRun: opt.DryRun, Errors: []csvio.RowError{}, Plan: []RowPlan{}}
	rows, errs := csvio.Parse(data, exportColumns)
	res.Rows = len(rows)
	res.Errors = append(res.Errors, errs...)
	inputs := make([]AssetInput, len(rows))
	keys := map[string]int{}
	for i, r := range rows {
		in, rerrs := rowInput(r)
		res.Errors = append(res.Errors, rerrs...)
		inputs[i] = in
		for _, k := range []string{"asset_tag=" + in.AssetTag, "serial=" + reconcile.SerialIdentifier(in.Vendor, in.Serial)} {
			if k == "asset_tag=" || k == "serial=" {
				continue
			}
			if first, dup := keys[k]; dup {
				res.Errors = append(res.Errors, csvio.RowError{Line: r.Line, Message: fmt.Sprintf("%s is also on line %d", k, first)})
			} else {
				keys[k] = r.Line
			}
		}
	}
	// Plan every row against one snapshot of the store, so conflicts are
	// row errors before anything is written.
	if len(res.Errors) == 0 {
		err := s.st.View(ctx, func(r store.Reader) error {
			tx := cmdb.NewTx(ctx, readOnly{r}, actor, now)
			res.Plan, res.Create, res.Update, res.Unchanged = res.Plan[:0], 0, 0, 0
			res.Errors = res.Errors[:0]
			seen := map[string]int{}
			for i, r := range rows {
				p, err := s.applyRow(ctx, tx, r.Line, inputs[i], res.ID, false)
				if err != nil {
					res.Errors = append(res.Errors, csvio.RowError{Line: r.Line, Message: err.Error()})
					continue
				}
				if p.CI != "" {
					if first, dup := seen[p.CI]; dup {
						res.Errors = append(res.Errors, csvio.RowError{Line: r.Line, Message: fmt.Sprintf("names the same asset as line %d", first)})
					}
					seen[p.CI] = r.Line
				}
				switch p.Action {
				case "create":
					res.Create++
				case "update":
					res.Update++
				default:
					res.Unchanged++
				}
				if len(res.Plan) < 1000 {
					res.Plan = append(res.Plan, p)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.SliceStable(res.Errors, func(i, j int) bool { return res.Errors[i].Line < res.Errors[j].Line })
	if len(res.Errors) > 0 || opt.DryRun {
		return res, nil
	}
	p, err := csvio.Run(ctx, s.st, csvio.Batch{Kind: "assets", ID: res.ID, Rows: len(rows), Actor: actor, Now: now, PerTxn: 8,
		Limit: opt.Limit, Progress: opt.Progress,
		Apply: func(ctx context.Context, stx store.Txn, i int) error {
			tx := cmdb.NewTx(ctx, stx, actor, now)
			if _, err := s.applyRow(ctx, tx, rows[i].Line, inputs[i], res.ID, true); err != nil {
				return fmt.Errorf("line %d: %w", rows[i].Line, err)
			}
			return nil
		}})
	if p != nil {
		res.Done, res.Complete = p.Done, p.Complete
	}
	return res, err
}

// ExportAssets writes every asset as CSV: the import columns plus id and
// book_value (ignored by an import).
func (s *Service) ExportAssets(ctx context.Context, w io.Writer, now time.Time) error {
	var rows [][]string
	err := s.st.View(ctx, func(r store.Reader) error {
		return eachCI(ctx, r, AssetClasses, func(ci *cmdb.CI) error {
			num := func(name string) string {
				switch v := cmdb.Canon(ci.Attr(name)).(type) {
				case float64:
					return strconv.FormatFloat(v, 'f', -1, 64)
				case int64:
					return strconv.FormatInt(v, 10)
				}
				return ""
			}
			rows = append(rows, []string{ci.ID, ci.AttrString("asset_tag"), ci.AttrString("serial"), ci.AttrString("vendor"),
				ci.AttrString("model"), ci.Name, ci.Class, ci.Subclass, current(ci), num("cost"), ci.AttrString("purchase_date"),
				ci.AttrString("supplier"), ci.AttrString("order_number"), ci.AttrString("warranty_end"), num("depreciation_years"),
				ci.AttrString("owner"), ci.AttrString("location"), strconv.FormatFloat(s.bookValue(ci, now), 'f', 2, 64)})
			return nil
		})
	})
	if err != nil {
		return err
	}
	return csvio.Write(w, exportColumns, rows)
}

// readOnly lets planning code written against a transaction run on a
// snapshot: any write is an error.
type readOnly struct{ store.Reader }

var errReadOnly = errors.New("lifecycle: write while planning an import")

func (readOnly) Put(_, _ []byte) error { return errReadOnly }
func (readOnly) Delete(_ []byte) error { return errReadOnly }

// Package csvio is the CSV machinery shared by the asset and licence
// imports: parsing with line numbers, row errors, and a batched, resumable
// apply that stays within the store's transaction limits.
//
// The guarantee of an import: every row is validated before anything is
// written, and a file with any invalid row writes nothing. A valid file is
// then written in batches of rows, one transaction each; every batch also
// advances the import's progress record (lc/imp/<kind>/<file hash>) in the
// same transaction. If the import stops part way, the rows already written
// are whole, and importing the same file again resumes after the last
// committed batch. Rows are keyed (by asset tag or serial, or licence
// name), so applying a row again changes nothing: a completed file can be
// imported again safely, and it then runs from the start.
package csvio

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"parc/cmdb"
	"parc/cmdb/store"
)

// PrefixImport holds import progress records.
const PrefixImport = "lc/imp/"

// MaxRows caps the rows of one file.
const MaxRows = 200000

// Row is one data row: its line number in the file and its cells by
// (lower-case) column name.
type Row struct {
	Line  int               `json:"line"`
	Cells map[string]string `json:"cells"`
}

// Get returns a cell, trimmed.
func (r Row) Get(col string) string { return strings.TrimSpace(r.Cells[col]) }

// RowError is a problem with one row (Line 1 is the header).
type RowError struct {
	Line    int    `json:"line"`
	Column  string `json:"column,omitempty"`
	Message string `json:"message"`
}

func (e RowError) Error() string {
	if e.Column != "" {
		return fmt.Sprintf("line %d, %s: %s", e.Line, e.Column, e.Message)
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Message)
}

// Parse reads a CSV file with a header row naming columns from known
// (case-insensitive, any order). Unknown columns, ragged rows and bad
// quoting are row errors.
func Parse(data []byte, known []string) ([]Row, []RowError) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a spreadsheet's BOM
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = 0
	header, err := r.Read()
	if err == io.EOF {
		return nil, []RowError{{Line: 1, Message: "empty file: want a header row"}}
	}
	if err != nil {
		return nil, []RowError{{Line: 1, Message: err.Error()}}
	}
	var errs []RowError
	cols := make([]string, len(header))
	seen := map[string]bool{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		cols[i] = h
		if !slices.Contains(known, h) {
			errs = append(errs, RowError{Line: 1, Column: h, Message: fmt.Sprintf("unknown column (known: %s)", strings.Join(known, ", "))})
		}
		if seen[h] {
			errs = append(errs, RowError{Line: 1, Column: h, Message: "column given twice"})
		}
		seen[h] = true
	}
	var rows []Row
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				errs = append(errs, RowError{Line: pe.StartLine, Message: pe.Err.Error()})
				if !errors.Is(pe.Err, csv.ErrFieldCount) {
					return rows, errs // the rest of the file cannot be trusted
				}
				continue
			}
			return rows, append(errs, RowError{Line: len(rows) + 2, Message: err.Error()})
		}
		line, _ := r.FieldPos(0)
		if len(rows) >= MaxRows {
			return rows, append(errs, RowError{Line: line, Message: fmt.Sprintf("more than %d rows: split the file", MaxRows)})
		}
		empty := true
		cells := make(map[string]string, len(cols))
		for i, v := range rec {
			cells[cols[i]] = v
			if strings.TrimSpace(v) != "" {
				empty = false
			}
		}
		if empty {
			continue
		}
		rows = append(rows, Row{Line: line, Cells: cells})
	}
	return rows, errs
}

// Write writes rows as CSV with a header.
func Write(w io.Writer, cols []string, rows [][]string) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(cols); err != nil {
		return err
	}
	for _, r := range rows {
		for i, v := range r {
			// Cells starting with = + - @ are formulas to a spreadsheet.
			if v != "" && strings.ContainsRune("=+-@", rune(v[0])) && !isNumber(v) {
				r[i] = "'" + v
			}
		}
		if err := cw.Write(r); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func isNumber(s string) bool {
	var f float64
	_, err := fmt.Sscan(s, &f)
	return err == nil
}

// Progress is the record of one file's import.
type Progress struct {
	ID       string    `cbor:"1,keyasint" json:"id"`
	Kind     string    `cbor:"2,keyasint" json:"kind"`
	Rows     int       `cbor:"3,keyasint" json:"rows"`
	Done     int       `cbor:"4,keyasint" json:"done"`
	Actor    string    `cbor:"5,keyasint" json:"actor"`
	Started  time.Time `cbor:"6,keyasint" json:"started"`
	Updated  time.Time `cbor:"7,keyasint" json:"updated"`
	Complete bool      `cbor:"8,keyasint" json:"complete"`
}

// FileID is the id of an import: a hash of the file.
func FileID(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:12])
}

func progressKey(kind, id string) []byte { return []byte(PrefixImport + kind + "/" + id) }

// LoadProgress returns the progress record of a file's import, or nil.
func LoadProgress(ctx context.Context, r store.Reader, kind, id string) (*Progress, error) {
	v, err := r.Get(ctx, progressKey(kind, id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	p := &Progress{}
	return p, cmdb.Decode(v, p)
}

// Batch says how to write one file.
type Batch struct {
	Kind  string
	ID    string
	Rows  int
	Actor string
	Now   time.Time
	// PerTxn is the number of rows written per transaction.
	PerTxn int
	// Limit caps the rows written by this call (0: all); the caller calls
	// again to continue, which lets a client show progress.
	Limit int
	// Apply writes row i inside tx.
	Apply func(ctx context.Context, tx store.Txn, i int) error
	// Progress is told the rows done after each transaction.
	Progress func(done, total int)
}

// Run writes the rows not yet done, in transactions of PerTxn rows that
// each advance the progress record, and returns the progress.
func Run(ctx context.Context, st store.Store, b Batch) (*Progress, error) {
	if b.PerTxn <= 0 {
		b.PerTxn = 10
	}
	p, err := LoadProgress(ctx, st, b.Kind, b.ID)
	if err != nil {
		return nil, err
	}
	if p == nil || p.Complete || p.Rows != b.Rows {
		p = &Progress{ID: b.ID, Kind: b.Kind, Rows: b.Rows, Actor: b.Actor, Started: b.Now.UTC()}
	}
	written := 0
	for p.Done < b.Rows && (b.Limit <= 0 || written < b.Limit) {
		from := p.Done
		to := min(from+b.PerTxn, b.Rows)
		if b.Limit > 0 {
			to = min(to, from+b.Limit-written)
		}
		next := *p
		_, err := st.Update(ctx, func(tx store.Txn) error {
			for i := from; i < to; i++ {
				if err := b.Apply(ctx, tx, i); err != nil {
					return err
				}
			}
			next.Done, next.Updated = to, b.Now.UTC()
			next.Complete = to == b.Rows
			v, err := cmdb.Encode(next)
			if err != nil {
				return err
			}
			return tx.Put(progressKey(b.Kind, b.ID), v)
		})
		if err != nil {
			return p, fmt.Errorf("import rows %d-%d (%d of %d written; import the same file again to resume): %w", from+1, to, from, b.Rows, err)
		}
		written += to - from
		*p = next
		if b.Progress != nil {
			b.Progress(p.Done, b.Rows)
		}
	}
	if b.Rows == 0 {
		p.Complete = true
	}
	return p, nil
}

package csvio_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"parc/cmdb/lifecycle/csvio"
	"parc/cmdb/store"
	"parc/cmdb/store/teststore"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		rows     int
		errLines []int
	}{
		{"bom and blank rows", "\xef\xbb\xbfA,b\nx,y\n,\n\nz,w\n", 2, nil},
		{"quoted newline keeps line numbers", "a,b\n\"multi\nline\",1\nq,2\n", 2, nil},
		{"bad quote stops", "a,b\n\"open,1\nq,2\n", 0, []int{2}},
		{"ragged row", "a,b\n1\n2,3\n", 1, []int{2}},
		{"empty file", "", 0, []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, errs := csvio.Parse([]byte(tt.in), []string{"a", "b"})
			var lines []int
			for _, e := range errs {
				lines = append(lines, e.Line)
			}
			if len(rows) != tt.rows || fmt.Sprint(lines) != fmt.Sprint(tt.errLines) {
				t.Fatalf("rows %d (%+v), error lines %v; want %d, %v", len(rows), rows, lines, tt.rows, tt.errLines)
			}
		})
	}
	rows, _ := csvio.Parse([]byte("a,b\n\"multi\nline\",1\nq,2\n"), []string{"a", "b"})
	if rows[1].Line != 4 {
		t.Errorf("line of the row after a quoted newline = %d, want 4", rows[1].Line)
	}
}

func TestWriteEscapesFormulas(t *testing.T) {
	var b bytes.Buffer
	if err := csvio.Write(&b, []string{"a", "b"}, [][]string{{"=HYPERLINK(1)", "-12.5"}}); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != "a,b\n'=HYPERLINK(1),-12.5\n" {
		t.Errorf("got %q", got)
	}
}

// TestRunResumesAfterFailure fails a row in the third batch, then runs the
// same file again: the committed batches stay and the rest is written.
func TestRunResumesAfterFailure(t *testing.T) {
	st := teststore.Open(t)
	ctx := context.Background()
	failAt := 7
	apply := func(ctx context.Context, tx store.Txn, i int) error {
		if i == failAt {
			return errors.New("disk on fire")
		}
		return tx.Put([]byte(fmt.Sprintf("test/%02d", i)), []byte("x"))
	}
	b := csvio.Batch{Kind: "test", ID: "f1", Rows: 10, Actor: "u", Now: time.Unix(0, 0), PerTxn: 3, Apply: apply}
	p, err := csvio.Run(ctx, st, b)
	if err == nil || p.Done != 6 {
		t.Fatalf("first run: %+v %v", p, err)
	}
	kvs, _ := st.Scan(ctx, store.Range{Prefix: []byte("test/")})
	if len(kvs) != 6 {
		t.Fatalf("%d rows written, want the 6 of the committed batches", len(kvs))
	}
	failAt = -1
	p, err = csvio.Run(ctx, st, b)
	if err != nil || !p.Complete || p.Done != 10 {
		t.Fatalf("resume: %+v %v", p, err)
	}
	kvs, _ = st.Scan(ctx, store.Range{Prefix: []byte("test/")})
	if len(kvs) != 10 {
		t.Errorf("%d rows after resume", len(kvs))
	}
}

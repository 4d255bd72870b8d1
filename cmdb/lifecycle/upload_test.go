package lifecycle_test

import (
	"context"
	"errors"
	"testing"

	"parc/cmdb"
	"parc/cmdb/lifecycle"
	"parc/cmdb/lifecycle/csvio"
	"parc/cmdb/store/teststore"
)

func TestUploadParts(t *testing.T) {
	st := teststore.Open(t)
	ctx := context.Background()
	s := lifecycle.New(st, lifecycle.Config{NewID: seqIDs()})
	data := bigCSV(20000) // about 1.3 MB: more than one request
	if len(data) <= lifecycle.MaxUploadPart {
		t.Fatalf("test file too small: %d bytes", len(data))
	}
	id := csvio.FileID(data)
	var parts [][]byte
	for rest := data; len(rest) > 0; {
		n := min(len(rest), lifecycle.MaxUploadPart)
		parts, rest = append(parts, rest[:n]), rest[n:]
	}
	if _, err := s.Upload(ctx, id); !errors.Is(err, cmdb.ErrNotFound) {
		t.Errorf("unknown upload: %v", err)
	}
	if err := s.PutUploadPart(ctx, id, 0, len(parts), parts[0], "u", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Upload(ctx, id); !errors.Is(err, cmdb.ErrInvalid) {
		t.Errorf("missing part: %v", err)
	}
	for i := 1; i < len(parts); i++ {
		if err := s.PutUploadPart(ctx, id, i, len(parts), parts[i], "u", t0); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Upload(ctx, id)
	if err != nil || string(got) != string(data) {
		t.Fatalf("reassembled %d bytes, %v", len(got), err)
	}
	if err := s.PutUploadPart(ctx, "nothex", 0, 1, []byte("x"), "u", t0); !errors.Is(err, cmdb.ErrInvalid) {
		t.Errorf("bad id: %v", err)
	}
	if err := s.DeleteUpload(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Upload(ctx, id); !errors.Is(err, cmdb.ErrNotFound) {
		t.Errorf("deleted upload: %v", err)
	}
}

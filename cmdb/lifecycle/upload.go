package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"parc/cmdb"
	"parc/cmdb/audit"
	"parc/cmdb/lifecycle/csvio"
	"parc/cmdb/store"
)

// Uploads stage a CSV file larger than one API request in parts, under
// lc/up/<file id>/<part>, so that it is imported as one file (validated
// whole, written in resumable batches). The file id is csvio.FileID of
// the whole file, which the reassembled parts must match.
const (
	PrefixUpload = "lc/up/"
	// MaxUploadPart is the largest part (it stays under the store's value
	// limit with room for its envelope).
	MaxUploadPart = 900 << 10
	// MaxUploadParts caps the parts of one file (about 56 MiB).
	MaxUploadParts = 64
)

type uploadPart struct {
	Of   int    `cbor:"1,keyasint"`
	Data []byte `cbor:"2,keyasint"`
}

var uploadID = regexp.MustCompile(`^[0-9a-f]{24}$`)

func uploadKey(id string, n int) []byte { return []byte(fmt.Sprintf("%s%s/%04d", PrefixUpload, id, n)) }

// PutUploadPart stores part n of of of the file with id. Sending part 0
// again restarts the upload.
func (s *Service) PutUploadPart(ctx context.Context, id string, n, of int, data []byte, actor string, now time.Time) error {
	switch {
	case !uploadID.MatchString(id):
		return fmt.Errorf("upload id %q: want the file's id (24 hex digits): %w", id, cmdb.ErrInvalid)
	case of < 1 || of > MaxUploadParts || n < 0 || n >= of:
		return fmt.Errorf("part %d of %d: at most %d parts: %w", n, of, MaxUploadParts, cmdb.ErrInvalid)
	case len(data) == 0 || len(data) > MaxUploadPart:
		return fmt.Errorf("part of %d bytes: want 1..%d: %w", len(data), MaxUploadPart, cmdb.ErrInvalid)
	}
	v, err := cmdb.Encode(uploadPart{Of: of, Data: data})
	if err != nil {
		return err
	}
	if n == 0 {
		if err := s.DeleteUpload(ctx, id); err != nil {
			return err
		}
	}
	_, err = s.st.Update(ctx, func(tx store.Txn) error {
		if err := tx.Put(uploadKey(id, n), v); err != nil {
			return err
		}
		return audit.Record(tx, audit.Entry{At: now, Actor: actor, Action: "asset.upload", Object: "upload/" + id,
			Detail: fmt.Sprintf("part %d of %d, %d bytes", n+1, of, len(data))})
	})
	return err
}

// Upload reassembles a staged file and checks it against its id.
func (s *Service) Upload(ctx context.Context, id string) ([]byte, error) {
	if !uploadID.MatchString(id) {
		return nil, fmt.Errorf("upload id %q: %w", id, cmdb.ErrInvalid)
	}
	var data []byte
	want := -1
	for n := 0; want < 0 || n < want; n++ {
		v, err := s.st.Get(ctx, uploadKey(id, n))
		if errors.Is(err, store.ErrNotFound) {
			if n == 0 {
				return nil, fmt.Errorf("upload %s: %w", id, cmdb.ErrNotFound)
			}
			return nil, fmt.Errorf("upload %s: part %d of %d is missing: %w", id, n+1, want, cmdb.ErrInvalid)
		}
		if err != nil {
			return nil, err
		}
		var p uploadPart
		if err := cmdb.Decode(v, &p); err != nil {
			return nil, err
		}
		if want < 0 {
			want = p.Of
		}
		data = append(data, p.Data...)
	}
	if got := csvio.FileID(data); got != id {
		return nil, fmt.Errorf("upload %s: the parts make a file with id %s: send them again: %w", id, got, cmdb.ErrInvalid)
	}
	return data, nil
}

// DeleteUpload removes a staged file.
func (s *Service) DeleteUpload(ctx context.Context, id string) error {
	_, err := s.st.Update(ctx, func(tx store.Txn) error {
		kvs, err := tx.Scan(ctx, store.Range{Prefix: []byte(PrefixUpload + id + "/"), Limit: MaxUploadParts + 1})
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			if err := tx.Delete(kv.Key); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

package incident

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"parc/cmdb"
	"parc/cmdb/store"
)

// PrefixIncident is the module's key prefix.
const PrefixIncident = "inc/"

var keySeq = []byte(PrefixIncident + "seq")

func seqStr(seq int64) string { return fmt.Sprintf("%012d", seq) }
func recKey(seq int64) []byte { return []byte(PrefixIncident + "r/" + seqStr(seq)) }
func sumKey(seq int64) []byte { return []byte(PrefixIncident + "s/" + seqStr(seq)) }
func idxPrefix(field, value string) []byte {
	return []byte(PrefixIncident + "x/" + field + "/" + url.PathEscape(value) + "/")
}
func idxKey(field, value string, seq int64) []byte {
	return append(idxPrefix(field, value), seqStr(seq)...)
}
func openPrefix(ci string) []byte         { return []byte(PrefixIncident + "open/" + ci + "/") }
func openKey(ci string, seq int64) []byte { return append(openPrefix(ci), seqStr(seq)...) }
func autoKey(ci, kind string) []byte      { return []byte(PrefixIncident + "auto/" + ci + "/" + kind) }
func seqOfKey(key []byte) (int64, error) {
	s := string(key[bytes.LastIndexByte(key, '/')+1:])
	return strconv.ParseInt(s, 10, 64)
}

// FormatNumber returns the incident number of a sequence (INC-000042).
func FormatNumber(seq int64) string { return fmt.Sprintf("INC-%06d", seq) }

// ParseNumber accepts INC-000042, inc-42 or 42.
func ParseNumber(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if len(t) > 4 && strings.EqualFold(t[:4], "INC-") {
		t = t[4:]
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("incident number %q: want INC-000123: %w", s, cmdb.ErrInvalid)
	}
	return n, nil
}

// load reads incident seq through r, with its raw bytes.
func load(ctx context.Context, r store.Reader, seq int64) (*Incident, []byte, error) {
	v, err := r.Get(ctx, recKey(seq))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, fmt.Errorf("incident %s: %w", FormatNumber(seq), cmdb.ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load incident %s: %w", FormatNumber(seq), err)
	}
	in := &Incident{}
	if err := cmdb.Decode(v, in); err != nil {
		return nil, nil, err
	}
	return in, v, nil
}

// indexKeys returns the filter and open-CI index keys of in (values empty)
// and, for an open auto-incident, its dedup key (value: the sequence).
func indexKeys(in *Incident) map[string][]byte {
	m := map[string][]byte{}
	add := func(k []byte, v []byte) { m[string(k)] = v }
	add(idxKey("status", in.Status, in.Seq), nil)
	add(idxKey("priority", strconv.Itoa(in.Priority), in.Seq), nil)
	add(idxKey("category", in.Category, in.Seq), nil)
	if in.Assignee != "" {
		add(idxKey("assignee", in.Assignee, in.Seq), nil)
	}
	if in.Group != "" {
		add(idxKey("group", in.Group, in.Seq), nil)
	}
	if in.Major {
		add(idxKey("major", "1", in.Seq), nil)
	}
	if in.SLA.ResponseBreached || in.SLA.ResolutionBreached {
		add(idxKey("breached", "1", in.Seq), nil)
	}
	open := IsOpen(in.Status)
	if open {
		add(idxKey("open", "1", in.Seq), nil)
	}
	for _, l := range in.CIs {
		add(idxKey("ci", l.CI, in.Seq), nil)
		if open {
			add(openKey(l.CI, in.Seq), nil)
		}
	}
	if in.Auto != nil && open {
		add(autoKey(in.Auto.CI, in.Auto.Kind), []byte(strconv.FormatInt(in.Seq, 10)))
	}
	return m
}

// write stores next (old is its previous state, nil when new) with its
// summary and indexes.
func write(tx store.Txn, old, next *Incident) error {
	v, err := cmdb.Encode(next)
	if err != nil {
		return err
	}
	if err := tx.Put(recKey(next.Seq), v); err != nil {
		return fmt.Errorf("write incident %s: %w", next.Number, err)
	}
	sum, err := cmdb.Encode(next.summary())
	if err != nil {
		return err
	}
	var oldKeys map[string][]byte
	if old != nil {
		oldKeys = indexKeys(old)
		if prev, _ := cmdb.Encode(old.summary()); bytes.Equal(prev, sum) {
			sum = nil
		}
	}
	if sum != nil {
		if err := tx.Put(sumKey(next.Seq), sum); err != nil {
			return err
		}
	}
	newKeys := indexKeys(next)
	for k := range oldKeys {
		if _, ok := newKeys[k]; !ok {
			if err := tx.Delete([]byte(k)); err != nil {
				return err
			}
		}
	}
	for k, v := range newKeys {
		if ov, ok := oldKeys[k]; !ok || !bytes.Equal(ov, v) {
			if err := tx.Put([]byte(k), v); err != nil {
				return err
			}
		}
	}
	return nil
}

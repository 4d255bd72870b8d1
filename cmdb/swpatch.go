package cmdb

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"parc/cmdb/store"
)

// PatchSoftware applies package changes to a host's software record: set
// holds the packages added or changed, gone the packages removed (only
// Name, Arch and Source count). Packages are keyed by (Name, Arch, Source);
// set and gone must be sorted by that key with one entry per key, as the
// engine builds records. The stored record is read in place and its
// untouched packages are copied as they are encoded, so a patch of a few
// packages costs one read of the record, not a whole list to decode, sort,
// compare and encode. The host's history records what changed, as
// PutSoftware does. It reports whether the record changed.
func (t *Tx) PatchSoftware(host string, set, gone []Installed) (bool, error) {
	if !sortedByKey(set) || !sortedByKey(gone) {
		return false, fmt.Errorf("software patch of %s: packages not sorted by name, arch and source, or listed twice: %w", host, ErrInvalid)
	}
	raw, err := t.tx.Get(t.ctx, softwareKey(host))
	switch {
	case errors.Is(err, store.ErrNotFound):
		raw = nil
	case err != nil:
		return false, err
	}
	buf := encodeBufs.Get().(*[]byte)
	defer func() {
		if cap(*buf) <= maxPooled {
			encodeBufs.Put(buf)
		}
	}()
	var changes []Change
	spliced, modified := false, false
	if raw == nil {
		*buf, modified, changes = splicePatch((*buf)[:0], nil, set, gone)
		spliced = true
	} else if err := WithPayload(raw, func(p []byte) error {
		scan := scanBufs.Get().(*[]swPkg)
		defer scanBufs.Put(scan)
		var err error
		if *scan, err = scanSoftware(p, *scan); err != nil || !scannedByKey(*scan) {
			return nil // patched through the decoded record below
		}
		*buf, modified, changes = splicePatch((*buf)[:0], *scan, set, gone)
		spliced = true
		return nil
	}); err != nil {
		return false, fmt.Errorf("software of %s: %w", host, err)
	}
	if !spliced {
		var rec SoftwareRecord
		if err := Decode(raw, &rec); err != nil {
			return false, fmt.Errorf("software of %s: %w", host, err)
		}
		return t.PutSoftware(host, SoftwareRecord{Items: patchItems(rec.Items, set, gone)})
	}
	if !modified {
		return false, nil
	}
	return true, t.writeSoftware(host, *buf, changes)
}

// splicePatch appends the CBOR payload of the record old (scanned, sorted
// by key) with set and gone applied: old packages as they were encoded,
// set ones encoded anew. It reports whether anything changed, and the
// history changes, which do not view old's storage.
func splicePatch(dst []byte, old []swPkg, set, gone []Installed) ([]byte, bool, []Change) {
	const (
		keep = iota
		replace
		insert
		remove
	)
	type step struct {
		op  int
		old *swPkg
		new *Installed
	}
	steps := make([]step, 0, len(old)+len(set))
	var enc []byte
	i, j, k := 0, 0, 0
	for i < len(old) || j < len(set) {
		c := -1 // old[i] first
		switch {
		case i == len(old):
			c = 1
		case j < len(set):
			c = comparePkgKey(&old[i], &set[j])
		}
		if c > 0 {
			steps = append(steps, step{op: insert, new: &set[j]})
			j++
			continue
		}
		o := &old[i]
		i++
		if c == 0 {
			n := &set[j]
			j++
			if enc = appendInstalledCBOR(enc[:0], n); bytes.Equal(enc, o.raw) {
				steps = append(steps, step{op: keep, old: o})
			} else {
				steps = append(steps, step{op: replace, old: o, new: n})
			}
			continue
		}
		for k < len(gone) && comparePkgKey(o, &gone[k]) > 0 {
			k++ // removing what is not there changes nothing
		}
		if k < len(gone) && comparePkgKey(o, &gone[k]) == 0 {
			steps = append(steps, step{op: remove, old: o})
			k++
			continue
		}
		steps = append(steps, step{op: keep, old: o})
	}
	n := 0
	var before, after []Installed
	for _, s := range steps {
		if s.op != remove {
			n++
		}
		if s.op == replace || s.op == remove {
			before = append(before, Installed{Name: bstr(s.old.name), Version: bstr(s.old.version), Arch: bstr(s.old.arch)})
		}
		if s.op == replace || s.op == insert {
			after = append(after, *s.new)
		}
	}
	if len(before) == 0 && len(after) == 0 {
		return dst, false, nil
	}
	dst = appendCBORHead(append(dst, 0xa1, 0x01), 4, uint64(n)) // map(1), key 1, array(n)
	for _, s := range steps {
		switch s.op {
		case keep:
			dst = append(dst, s.old.raw...)
		case replace, insert:
			dst = appendInstalledCBOR(dst, s.new)
		}
	}
	changes := SoftwareChanges(before, after, softwareHistoryLimit)
	for i := range changes {
		if v, ok := changes[i].Before.(string); ok {
			changes[i].Before = strings.Clone(v) // it views old's storage
		}
	}
	return dst, true, changes
}

// patchItems is splicePatch on a decoded record: items with the packages
// of set and gone dropped, then set, in the engine's order.
func patchItems(items, set, gone []Installed) []Installed {
	touched := make(map[[3]string]bool, len(set)+len(gone))
	for _, l := range [][]Installed{set, gone} {
		for i := range l {
			touched[[3]string{l[i].Name, l[i].Arch, l[i].Source}] = true
		}
	}
	out := make([]Installed, 0, len(items)+len(set))
	for _, it := range items {
		if !touched[[3]string{it.Name, it.Arch, it.Source}] {
			out = append(out, it)
		}
	}
	out = append(out, set...)
	slices.SortStableFunc(out, compareInstalledKey)
	return out
}

func compareInstalledKey(a, b Installed) int {
	return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Arch, b.Arch), strings.Compare(a.Source, b.Source))
}

// comparePkgKey orders a scanned package and a package by (Name, Arch,
// Source).
func comparePkgKey(p *swPkg, it *Installed) int {
	return cmp.Or(strings.Compare(bstr(p.name), it.Name), strings.Compare(bstr(p.arch), it.Arch),
		strings.Compare(bstr(p.source), it.Source))
}

// sortedByKey reports whether items are in strictly increasing (Name,
// Arch, Source) order.
func sortedByKey(items []Installed) bool {
	for k := 1; k < len(items); k++ {
		if compareInstalledKey(items[k-1], items[k]) >= 0 {
			return false
		}
	}
	return true
}

// scannedByKey is sortedByKey for a scanned record.
func scannedByKey(pkgs []swPkg) bool {
	for k := 1; k < len(pkgs); k++ {
		a, b := &pkgs[k-1], &pkgs[k]
		if cmp.Or(bytes.Compare(a.name, b.name), bytes.Compare(a.arch, b.arch), bytes.Compare(a.source, b.source)) >= 0 {
			return false
		}
	}
	return true
}

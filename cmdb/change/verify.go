package change

import (
	"context"
	"fmt"
	"slices"
	"time"

	"parc/cmdb"
	"parc/cmdb/store"
)

// evaluate checks the expectations of c on ci against what discovery
// recorded, read through r.
func evaluate(ctx context.Context, r store.Reader, c *Change, ci string, now time.Time) (Verification, error) {
	v := Verification{CI: ci, Status: VerifyVerified, At: now.UTC()}
	var rec *cmdb.SoftwareRecord
	var item *cmdb.CI
	for _, e := range c.Expect {
		if e.CI != ci {
			continue
		}
		if e.Software != "" {
			if rec == nil {
				rec = &cmdb.SoftwareRecord{}
				if _, err := get(ctx, r, []byte(cmdb.PrefixSoftware+ci), rec); err != nil {
					return v, err
				}
			}
			ok, why := checkSoftware(rec, e)
			v.Detail = append(v.Detail, why)
			if !ok {
				v.Status = VerifyNotVerified
			}
			continue
		}
		if item == nil {
			item = &cmdb.CI{}
			found, err := get(ctx, r, []byte(cmdb.PrefixCI+ci), item)
			if err != nil {
				return v, err
			}
			if !found {
				return Verification{CI: ci, Status: VerifyNotVerified, Detail: []string{"CI no longer exists"}, At: now.UTC()}, nil
			}
		}
		got := fmt.Sprint(cmdb.Canon(item.Attr(e.Attr)))
		if item.Attr(e.Attr) == nil {
			got = ""
		}
		if got == e.Value {
			v.Detail = append(v.Detail, fmt.Sprintf("%s = %s", e.Attr, e.Value))
		} else {
			v.Status = VerifyNotVerified
			v.Detail = append(v.Detail, fmt.Sprintf("%s is %q, want %q", e.Attr, got, e.Value))
		}
	}
	return v, nil
}

// checkSoftware checks one software expectation against a host's record.
func checkSoftware(rec *cmdb.SoftwareRecord, e Expectation) (bool, string) {
	want := cmdb.NormalizeTitle(e.Software)
	var found []cmdb.Installed
	for _, it := range rec.Items {
		if it.Name == e.Software || cmdb.NormalizeTitle(it.Name) == want || it.Title == want {
			found = append(found, it)
		}
	}
	if e.Absent {
		if len(found) == 0 {
			return true, e.Software + " absent"
		}
		return false, fmt.Sprintf("%s still installed (%s)", e.Software, found[0].Version)
	}
	if len(found) == 0 {
		return false, e.Software + " not installed"
	}
	if e.MinVersion == "" {
		return true, e.Software + " " + found[0].Version + " installed"
	}
	// Any installed instance (arch) at the version or later satisfies.
	slices.SortFunc(found, func(a, b cmdb.Installed) int { return -CompareVersions(a.Version, b.Version) })
	if CompareVersions(found[0].Version, e.MinVersion) >= 0 {
		return true, fmt.Sprintf("%s %s ≥ %s", e.Software, found[0].Version, e.MinVersion)
	}
	return false, fmt.Sprintf("%s %s < %s", e.Software, found[0].Version, e.MinVersion)
}

// verifyHost re-checks every implementing change with expectations on ci
// inside tx and writes those whose result changed. It returns the numbers
// updated.
func verifyHost(ctx context.Context, tx store.Txn, ci, actor string, now time.Time) ([]string, error) {
	cs, err := changesOnCI(ctx, tx, ci)
	if err != nil {
		return nil, err
	}
	var updated []string
	for _, c := range cs {
		if (c.State != Implement && c.State != Review) || !slices.Contains(expectedCIs(c), ci) {
			continue
		}
		v, err := evaluate(ctx, tx, c, ci, now)
		if err != nil {
			return nil, err
		}
		i := slices.IndexFunc(c.Verify, func(x Verification) bool { return x.CI == ci })
		if i >= 0 && c.Verify[i].Status == v.Status && slices.Equal(c.Verify[i].Detail, v.Detail) {
			continue
		}
		before := VerifyPending
		if i >= 0 {
			before = c.Verify[i].Status
			c.Verify[i] = v
		} else {
			c.Verify = append(c.Verify, v)
		}
		if before != v.Status {
			c.Log = append(c.Log, LogEntry{At: now.UTC(), Actor: actor, Action: "verification", Note: ci + ": " + v.Status})
		}
		c.Updated = now.UTC()
		if err := put(tx, changeKey(c.Number), c); err != nil {
			return nil, err
		}
		if err := recordAudit(tx, now, actor, "change.verify", c.Number, before, v.Status, ci); err != nil {
			return nil, err
		}
		updated = append(updated, c.Number)
	}
	return updated, nil
}

// Verify checks the expectations of an implementing change against the
// current inventory now, without waiting for the next report.
func (s *Service) Verify(ctx context.Context, num, actor string, now time.Time) (*Change, error) {
	c, err := s.Get(ctx, num)
	if err != nil {
		return nil, err
	}
	if c.State != Implement && c.State != Review {
		return nil, fmt.Errorf("verify %s: it is in %s; verification runs in implement and review: %w", c.Number, c.State, cmdb.ErrForbidden)
	}
	_, err = s.st.Update(ctx, func(tx store.Txn) error {
		for _, ci := range expectedCIs(c) {
			if _, err := verifyHost(ctx, tx, ci, actor, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", c.Number, err)
	}
	return s.Get(ctx, c.Number)
}

package licence

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"parc/cmdb"
	"parc/cmdb/audit"
	"parc/cmdb/store"
)

// Key prefixes of the module.
const (
	// PrefixEntitlement holds one Entitlement per key: lic/ent/<id>.
	PrefixEntitlement = "lic/ent/"
	// PrefixName indexes entitlements by folded name: lic/name/<name> → id.
	PrefixName = "lic/name/"
	// KeyReport holds the last compliance Report the follower computed.
	KeyReport = "lic/report"
)

// Metrics of an entitlement.
const (
	MetricDevice = "device"
	MetricUser   = "user"
	MetricCore   = "core"
	MetricSite   = "site"
)

// Entitlement is the right to run a product: a match rule (normalized
// title, optional publisher, version range) and a metric with seats.
type Entitlement struct {
	ID        string       `cbor:"1,keyasint" json:"id"`
	Name      string       `cbor:"2,keyasint" json:"name"`
	Title     string       `cbor:"3,keyasint" json:"title"`
	Publisher string       `cbor:"4,keyasint,omitempty" json:"publisher,omitempty"`
	Versions  VersionRange `cbor:"5,keyasint,omitempty" json:"versions,omitempty"`
	Metric    string       `cbor:"6,keyasint" json:"metric"`
	// Seats is the number of devices, users or cores entitled (ignored for
	// site licences).
	Seats int64 `cbor:"7,keyasint" json:"seats"`
	// Expiry is the end of the right; zero for a perpetual licence.
	Expiry   time.Time `cbor:"8,keyasint,omitempty" json:"expiry,omitzero"`
	Cost     float64   `cbor:"9,keyasint,omitempty" json:"cost,omitempty"`
	Supplier string    `cbor:"10,keyasint,omitempty" json:"supplier,omitempty"`
	Created  time.Time `cbor:"11,keyasint" json:"created"`
	Updated  time.Time `cbor:"12,keyasint" json:"updated"`
}

// Expired reports whether e has ended at now.
func (e *Entitlement) Expired(now time.Time) bool {
	return !e.Expiry.IsZero() && !now.Before(e.Expiry)
}

// Covers reports whether e's rule (publisher and version range, not the
// title) matches an install.
func (e *Entitlement) Covers(publisher, version string) bool {
	if e.Publisher != "" && !strings.Contains(strings.ToLower(publisher), e.Publisher) {
		return false
	}
	return e.Versions.Match(version)
}

// Input is an entitlement as people enter it.
type Input struct {
	Name string `json:"name"`
	// Product is a product name; it is normalized to a title.
	Product   string `json:"product"`
	Publisher string `json:"publisher,omitempty"`
	// Versions is a version range such as ">=16, <17" or "2019".
	Versions string  `json:"versions,omitempty"`
	Metric   string  `json:"metric"`
	Seats    int64   `json:"seats"`
	Expiry   string  `json:"expiry,omitempty"` // YYYY-MM-DD
	Cost     float64 `json:"cost,omitempty"`
	Supplier string  `json:"supplier,omitempty"`
}

// DateLayout is the layout of dates in input and CSV files.
const DateLayout = "2006-01-02"

// Service manages entitlements.
type Service struct {
	st   store.Store
	norm *Normalizer
}

// NewService returns a Service; norm normalizes product names to titles.
func NewService(st store.Store, norm *Normalizer) *Service {
	return &Service{st: st, norm: norm}
}

// Normalizer returns the service's normalizer.
func (s *Service) Normalizer() *Normalizer { return s.norm }

// build validates in and returns the entitlement it describes.
func (s *Service) build(in Input) (Entitlement, error) {
	var e Entitlement
	var errs []string
	e.Name = strings.TrimSpace(in.Name)
	if e.Name == "" || len(e.Name) > 200 {
		errs = append(errs, "name is required (at most 200 characters)")
	}
	if strings.TrimSpace(in.Product) == "" {
		errs = append(errs, "product is required")
	} else {
		e.Title = s.norm.Title(in.Product, in.Publisher)
	}
	if in.Publisher != "" {
		e.Publisher = s.norm.Publisher(in.Publisher)
	}
	vr, err := ParseVersionRange(in.Versions)
	if err != nil {
		errs = append(errs, err.Error())
	}
	e.Versions = vr
	e.Metric = strings.ToLower(strings.TrimSpace(in.Metric))
	if e.Metric == "" {
		e.Metric = MetricDevice
	}
	switch e.Metric {
	case MetricDevice, MetricUser, MetricCore:
		if in.Seats <= 0 {
			errs = append(errs, fmt.Sprintf("seats must be positive for a per-%s licence", e.Metric))
		}
	case MetricSite:
	default:
		errs = append(errs, fmt.Sprintf("metric %q: want device, user, core or site", in.Metric))
	}
	if in.Seats < 0 || in.Seats > 1e9 {
		errs = append(errs, "seats out of range")
	}
	e.Seats = in.Seats
	if in.Expiry != "" {
		t, err := time.Parse(DateLayout, strings.TrimSpace(in.Expiry))
		if err != nil {
			errs = append(errs, fmt.Sprintf("expiry %q: want YYYY-MM-DD", in.Expiry))
		}
		e.Expiry = t
	}
	if in.Cost < 0 || math.IsNaN(in.Cost) || math.IsInf(in.Cost, 0) {
		errs = append(errs, "cost must be a non-negative number")
	}
	e.Cost = in.Cost
	e.Supplier = strings.TrimSpace(in.Supplier)
	if len(errs) > 0 {
		return e, fmt.Errorf("%s: %w", strings.Join(errs, "; "), cmdb.ErrInvalid)
	}
	return e, nil
}

// Validate checks an input without writing anything.
func (s *Service) Validate(in Input) error {
	_, err := s.build(in)
	return err
}

func entKey(id string) []byte    { return []byte(PrefixEntitlement + id) }
func nameKey(name string) []byte { return []byte(PrefixName + foldName(name)) }
func foldName(n string) string {
	return strings.NewReplacer("/", "%2F").Replace(strings.ToLower(strings.TrimSpace(n)))
}

// Create stores a new entitlement and its licence CI.
func (s *Service) Create(ctx context.Context, in Input, actor string, now time.Time, id string) (*Entitlement, error) {
	e, err := s.build(in)
	if err != nil {
		return nil, err
	}
	e.ID = id
	_, err = s.st.Update(ctx, func(stx store.Txn) error {
		return s.put(ctx, stx, nil, e, actor, now, cmdb.SourceManual)
	})
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// Update replaces an entitlement's fields.
func (s *Service) Update(ctx context.Context, ref string, in Input, actor string, now time.Time) (*Entitlement, error) {
	e, err := s.build(in)
	if err != nil {
		return nil, err
	}
	_, err = s.st.Update(ctx, func(stx store.Txn) error {
		old, err := Get(ctx, stx, ref)
		if err != nil {
			return err
		}
		e.ID = old.ID
		return s.put(ctx, stx, old, e, actor, now, cmdb.SourceManual)
	})
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// put writes e (old is its previous value, nil when new) with its name
// index, its licence CI and an audit record. It writes nothing and returns
// nil when e equals old.
func (s *Service) put(ctx context.Context, stx store.Txn, old *Entitlement, e Entitlement, actor string, now time.Time, source string) error {
	if old != nil {
		e.Created = old.Created
		e.Updated = old.Updated
		if same(old, &e) {
			return nil
		}
	} else {
		e.Created = now.UTC()
	}
	e.Updated = now.UTC()
	if old == nil || foldName(old.Name) != foldName(e.Name) {
		if _, err := stx.Get(ctx, nameKey(e.Name)); err == nil {
			return fmt.Errorf("a licence named %q exists: %w", e.Name, cmdb.ErrConflict)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if old != nil {
			if err := stx.Delete(nameKey(old.Name)); err != nil {
				return err
			}
		}
		if err := stx.Put(nameKey(e.Name), []byte(e.ID)); err != nil {
			return err
		}
	}
	v, err := cmdb.Encode(e)
	if err != nil {
		return err
	}
	if err := stx.Put(entKey(e.ID), v); err != nil {
		return err
	}
	tx := cmdb.NewTx(ctx, stx, actor, now)
	prev, err := tx.CI(e.ID)
	if err != nil && !errors.Is(err, cmdb.ErrNotFound) {
		return err
	}
	ci := &cmdb.CI{ID: e.ID, Class: cmdb.ClassLicence, State: "use"}
	if prev != nil {
		c := *prev
		ci = &c
		if ci.State == "retire" {
			ci.State = "use"
		}
	}
	ci.Name = e.Name
	ci.Attrs = map[string]cmdb.Attr{}
	set := func(k string, v any) {
		switch x := v.(type) {
		case string:
			if x == "" {
				return
			}
		case float64:
			if x == 0 {
				return
			}
		}
		ci.Attrs[k] = cmdb.Attr{Value: v, Source: source, Updated: now.UTC()}
		if prev != nil {
			if pa, ok := prev.Attrs[k]; ok && fmt.Sprint(cmdb.Canon(pa.Value)) == fmt.Sprint(v) && pa.Source == source {
				ci.Attrs[k] = pa
			}
		}
	}
	set("title", e.Title)
	set("publisher", e.Publisher)
	set("versions", e.Versions.String())
	set("metric", e.Metric)
	set("seats", e.Seats)
	if !e.Expiry.IsZero() {
		set("expiry", e.Expiry.Format(DateLayout))
	}
	set("cost", e.Cost)
	set("supplier", e.Supplier)
	if _, err := tx.PutCI(prev, ci); err != nil {
		return err
	}
	action := "licence.create"
	var before any
	if old != nil {
		action, before = "licence.update", old
	}
	return audit.Record(stx, audit.Entry{At: now, Actor: actor, Action: action, Object: "licence/" + e.ID, Before: before, After: e})
}

func same(a, b *Entitlement) bool {
	x, _ := cmdb.Encode(a)
	y, _ := cmdb.Encode(b)
	return string(x) == string(y)
}

// Delete removes an entitlement; its licence CI is kept, retired, with its
// history.
func (s *Service) Delete(ctx context.Context, ref, actor string, now time.Time) error {
	_, err := s.st.Update(ctx, func(stx store.Txn) error {
		e, err := Get(ctx, stx, ref)
		if err != nil {
			return err
		}
		if err := stx.Delete(entKey(e.ID)); err != nil {
			return err
		}
		if err := stx.Delete(nameKey(e.Name)); err != nil {
			return err
		}
		tx := cmdb.NewTx(ctx, stx, actor, now)
		if ci, err := tx.CI(e.ID); err == nil {
			next := *ci
			next.State = "retire"
			if _, err := tx.PutCI(ci, &next); err != nil {
				return err
			}
		} else if !errors.Is(err, cmdb.ErrNotFound) {
			return err
		}
		return audit.Record(stx, audit.Entry{At: now, Actor: actor, Action: "licence.delete", Object: "licence/" + e.ID, Before: e})
	})
	return err
}

// Get loads an entitlement by id or by name.
func Get(ctx context.Context, r store.Reader, ref string) (*Entitlement, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return nil, fmt.Errorf("empty licence reference: %w", cmdb.ErrInvalid)
	}
	v, err := r.Get(ctx, entKey(ref))
	if errors.Is(err, store.ErrNotFound) || strings.Contains(ref, "/") {
		id, err2 := r.Get(ctx, nameKey(ref))
		if errors.Is(err2, store.ErrNotFound) {
			return nil, fmt.Errorf("licence %q: %w", ref, cmdb.ErrNotFound)
		}
		if err2 != nil {
			return nil, err2
		}
		v, err = r.Get(ctx, entKey(string(id)))
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("licence %q: %w", ref, cmdb.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	e := &Entitlement{}
	if err := cmdb.Decode(v, e); err != nil {
		return nil, err
	}
	return e, nil
}

// List returns every entitlement, ordered by name.
func List(ctx context.Context, r store.Reader) ([]Entitlement, error) {
	var out []Entitlement
	rg := store.Range{Prefix: []byte(PrefixEntitlement), Limit: 500}
	for {
		kvs, err := r.Scan(ctx, rg)
		if err != nil {
			return nil, err
		}
		for _, kv := range kvs {
			var e Entitlement
			if err := cmdb.Decode(kv.Value, &e); err != nil {
				return nil, fmt.Errorf("licence %s: %w", kv.Key, err)
			}
			out = append(out, e)
		}
		if len(kvs) < rg.Limit {
			break
		}
		rg.After = kvs[len(kvs)-1].Key
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	return out, nil
}

// Expiring returns the entitlements whose expiry falls in [from, to).
func Expiring(ctx context.Context, r store.Reader, from, to time.Time) ([]Entitlement, error) {
	all, err := List(ctx, r)
	if err != nil {
		return nil, err
	}
	var out []Entitlement
	for _, e := range all {
		if !e.Expiry.IsZero() && !e.Expiry.Before(from) && e.Expiry.Before(to) {
			out = append(out, e)
		}
	}
	return out, nil
}

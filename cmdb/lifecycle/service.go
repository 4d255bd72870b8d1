package lifecycle

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"

	"parc/cmdb"
	"parc/cmdb/audit"
	"parc/cmdb/change"
	"parc/cmdb/incident"
	"parc/cmdb/reconcile"
	"parc/cmdb/store"
)

// Relationship types of the module.
const (
	// RelReplacedBy links a retired asset to its planned replacement.
	RelReplacedBy = "replaced_by"
	// RelCovers links a contract or subscription to an asset it covers.
	RelCovers = "covers"
)

// AssetClasses are the classes lifecycle tracks as assets.
var AssetClasses = []string{cmdb.ClassComputer, cmdb.ClassNetwork, cmdb.ClassPrinter}

// Blocker lists open work on a CI that forbids its retirement.
type Blocker struct {
	// Kind names the work ("incident", "change").
	Kind string
	Open func(ctx context.Context, r store.Reader, ci string) ([]string, error)
}

// Config tunes the Service.
type Config struct {
	// DepreciationYears is the straight-line depreciation period of assets
	// without their own depreciation_years (default 4).
	DepreciationYears int
	// Blockers are consulted before a retirement (default: open incidents
	// and open changes on the CI).
	Blockers []Blocker
	// SupportCost sums the support cost recorded on a CI's incidents
	// (default incident.SupportCost).
	SupportCost func(ctx context.Context, r store.Reader, ci string) (float64, error)
	// IncidentExists checks a reactive maintenance's incident number
	// (default: the incident module's Get).
	IncidentExists func(ctx context.Context, number string) error
	// NewID makes ids for assets created by import (cmdb.NewID).
	NewID func() string
}

// Service is the lifecycle module.
type Service struct {
	st  store.Store
	g   *cmdb.Graph
	cfg Config
}

// New returns a Service; zero Config fields take their defaults.
func New(st store.Store, cfg Config) *Service {
	if cfg.DepreciationYears <= 0 {
		cfg.DepreciationYears = 4
	}
	if cfg.Blockers == nil {
		cfg.Blockers = []Blocker{{Kind: "incident", Open: incident.OpenOnCI}, {Kind: "change", Open: change.OpenOnCI}}
	}
	if cfg.NewID == nil {
		cfg.NewID = cmdb.NewID
	}
	if cfg.SupportCost == nil {
		cfg.SupportCost = incident.SupportCost
	}
	if cfg.IncidentExists == nil {
		inc := incident.New(st)
		cfg.IncidentExists = func(ctx context.Context, number string) error {
			_, err := inc.Get(ctx, number)
			return err
		}
	}
	return &Service{st: st, g: cmdb.NewGraph(st), cfg: cfg}
}

// Graph returns the graph the service reads.
func (s *Service) Graph() *cmdb.Graph { return s.g }

// DateLayout is the layout of dates in input, attributes and CSV files.
const DateLayout = "2006-01-02"

// AssetInput describes an asset as people enter it. Empty fields leave an
// existing value alone.
type AssetInput struct {
	Name     string `json:"name,omitempty"`
	Class    string `json:"class,omitempty"`
	Subclass string `json:"subclass,omitempty"`
	// State of a new asset: plan (default) or acquire; an import may also
	// bring assets in any state.
	State             string  `json:"state,omitempty"`
	AssetTag          string  `json:"asset_tag,omitempty"`
	Serial            string  `json:"serial,omitempty"`
	Vendor            string  `json:"vendor,omitempty"`
	Model             string  `json:"model,omitempty"`
	Cost              float64 `json:"cost,omitempty"`
	PurchaseDate      string  `json:"purchase_date,omitempty"`
	Supplier          string  `json:"supplier,omitempty"`
	OrderNumber       string  `json:"order_number,omitempty"`
	WarrantyEnd       string  `json:"warranty_end,omitempty"`
	DepreciationYears int     `json:"depreciation_years,omitempty"`
	Owner             string  `json:"owner,omitempty"`
	Location          string  `json:"location,omitempty"`
}

// check validates the fields of an input, returning one message per
// problem (empty when valid), keyed by field.
func (in *AssetInput) check() map[string]string {
	bad := map[string]string{}
	trim := func(p *string) { *p = strings.TrimSpace(*p) }
	for _, p := range []*string{&in.Name, &in.Class, &in.Subclass, &in.State, &in.AssetTag, &in.Serial, &in.Vendor, &in.Model,
		&in.PurchaseDate, &in.Supplier, &in.OrderNumber, &in.WarrantyEnd, &in.Owner, &in.Location} {
		trim(p)
	}
	in.Class, in.State = strings.ToLower(in.Class), strings.ToLower(in.State)
	if in.Class != "" && !slices.Contains(AssetClasses, in.Class) {
		bad["class"] = fmt.Sprintf("%q is not an asset class (%s)", in.Class, strings.Join(AssetClasses, ", "))
	}
	if in.State != "" && !ValidState(in.State) {
		bad["state"] = fmt.Sprintf("%q is not a lifecycle state (%s)", in.State, strings.Join(States, ", "))
	}
	for f, v := range map[string]string{"purchase_date": in.PurchaseDate, "warranty_end": in.WarrantyEnd} {
		if v != "" {
			if _, err := time.Parse(DateLayout, v); err != nil {
				bad[f] = fmt.Sprintf("%q: want YYYY-MM-DD", v)
			}
		}
	}
	if in.Cost < 0 || math.IsNaN(in.Cost) || math.IsInf(in.Cost, 0) {
		bad["cost"] = "must be a non-negative number"
	}
	if in.DepreciationYears < 0 || in.DepreciationYears > 50 {
		bad["depreciation_years"] = "must be 1..50"
	}
	if in.Serial != "" && reconcile.SerialIdentifier(in.Vendor, in.Serial) == "" {
		bad["serial"] = fmt.Sprintf("%q is a placeholder, not a serial", in.Serial)
	}
	for f, v := range map[string]string{"name": in.Name, "asset_tag": in.AssetTag, "serial": in.Serial, "order_number": in.OrderNumber} {
		if len(v) > 200 {
			bad[f] = "longer than 200 characters"
		}
	}
	return bad
}

func checkErr(bad map[string]string) error {
	if len(bad) == 0 {
		return nil
	}
	keys := make([]string, 0, len(bad))
	for k := range bad {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + bad[k]
	}
	return fmt.Errorf("%s: %w", strings.Join(parts, "; "), cmdb.ErrInvalid)
}

// identifiers returns the identifying values an input carries.
func (in *AssetInput) identifiers() map[string][]string {
	ids := map[string][]string{}
	if in.Serial != "" {
		if v := reconcile.SerialIdentifier(in.Vendor, in.Serial); v != "" {
			ids[reconcile.IDSerial] = []string{v}
		}
	}
	if in.AssetTag != "" {
		ids[reconcile.IDAssetTag] = []string{in.AssetTag}
	}
	return ids
}

// findAsset returns the asset an input names by asset tag, then by serial
// (nil when none), or ErrConflict when they name different CIs.
func findAsset(tx *cmdb.Tx, in *AssetInput) (*cmdb.CI, error) {
	var found *cmdb.CI
	ids := in.identifiers()
	for _, kind := range []string{reconcile.IDAssetTag, reconcile.IDSerial} {
		for _, v := range ids[kind] {
			hits, err := tx.FindIdent(kind, v)
			if err != nil {
				return nil, err
			}
			for _, id := range hits {
				ci, err := tx.CI(id)
				if err != nil {
					return nil, err
				}
				if !slices.Contains(AssetClasses, ci.Class) {
					continue
				}
				if found != nil && found.ID != ci.ID {
					return nil, fmt.Errorf("asset tag %q names %s but serial %q names %s: %w", in.AssetTag, found.ID, in.Serial, ci.ID, cmdb.ErrConflict)
				}
				found = ci
			}
		}
	}
	return found, nil
}

// attrs returns the attribute values an input sets.
func (in *AssetInput) attrs() map[string]any {
	m := map[string]any{}
	for k, v := range map[string]string{"vendor": in.Vendor, "model": in.Model, "serial": in.Serial, "asset_tag": in.AssetTag,
		"purchase_date": in.PurchaseDate, "supplier": in.Supplier, "order_number": in.OrderNumber, "warranty_end": in.WarrantyEnd,
		"owner": in.Owner, "location": in.Location} {
		if v != "" {
			m[k] = v
		}
	}
	if in.Cost > 0 {
		m["cost"] = in.Cost
	}
	if in.DepreciationYears > 0 {
		m["depreciation_years"] = int64(in.DepreciationYears)
	}
	return m
}

// applyInput sets the input's non-empty fields on ci from source, through
// the precedence table (discovered facts win over hand-entered vendor,
// model and serial; people win over imports and discovery on business
// facts). It returns the attributes it could not set because a stronger
// source owns them.
func applyInput(ci *cmdb.CI, in *AssetInput, source string, now time.Time) (kept []string) {
	p := reconcile.DefaultPrecedence()
	for attr, v := range in.attrs() {
		reconcile.SetAttr(p, ci, attr, v, source, now)
		if !reflect.DeepEqual(cmdb.Canon(ci.Attr(attr)), cmdb.Canon(v)) {
			kept = append(kept, attr)
		}
	}
	slices.Sort(kept)
	if in.Subclass != "" {
		ci.Subclass = in.Subclass
	}
	if in.Name != "" {
		ci.Name = in.Name
	}
	if ci.Identifiers == nil {
		ci.Identifiers = map[string][]string{}
	}
	for k, vs := range in.identifiers() {
		for _, v := range vs {
			if !slices.Contains(ci.Identifiers[k], v) {
				ci.Identifiers[k] = append(ci.Identifiers[k], v)
				slices.Sort(ci.Identifiers[k])
			}
		}
	}
	return kept
}

func defaultName(in *AssetInput) string {
	if in.Name != "" {
		return in.Name
	}
	if in.AssetTag != "" {
		return in.AssetTag
	}
	return strings.TrimSpace(strings.Join([]string{in.Vendor, in.Model, in.Serial}, " "))
}

// newAsset builds the CI of a new asset.
func newAsset(in *AssetInput, id, source string, now time.Time) *cmdb.CI {
	ci := &cmdb.CI{ID: id, Class: in.Class, Name: defaultName(in), State: in.State}
	if ci.Class == "" {
		ci.Class = cmdb.ClassComputer
	}
	if ci.State == "" {
		ci.State = Plan
	}
	applyInput(ci, in, source, now)
	return ci
}

// CreateAsset records an asset before discovery, in state plan (default)
// or acquire, identified by its serial (with vendor) and asset tag so that
// the first agent report from the machine matches it, moves it to use and
// merges into it.
func (s *Service) CreateAsset(ctx context.Context, in AssetInput, actor string, now time.Time, id string) (*cmdb.CI, error) {
	bad := in.check()
	if in.State != "" && in.State != Plan && in.State != Acquire {
		bad["state"] = "a new asset starts in plan or acquire"
	}
	if in.Serial == "" && in.AssetTag == "" {
		bad["serial"] = "a serial (with its vendor) or an asset tag is required"
	}
	if in.Serial != "" && in.Vendor == "" {
		bad["vendor"] = "the vendor is required with a serial (discovery matches vendor and serial)"
	}
	if err := checkErr(bad); err != nil {
		return nil, err
	}
	var ci *cmdb.CI
	_, err := s.st.Update(ctx, func(stx store.Txn) error {
		tx := cmdb.NewTx(ctx, stx, actor, now)
		if have, err := findAsset(tx, &in); err != nil {
			return err
		} else if have != nil {
			return fmt.Errorf("asset %s (%s) already has this asset tag or serial: %w", have.Name, have.ID, cmdb.ErrConflict)
		}
		ci = newAsset(&in, id, cmdb.SourceManual, tx.Now())
		if _, err := tx.PutCI(nil, ci); err != nil {
			return err
		}
		return audit.Record(stx, audit.Entry{At: now, Actor: actor, Action: "asset.create", Object: "ci/" + ci.ID, After: in})
	})
	if err != nil {
		return nil, err
	}
	return ci, nil
}

// UpdateAsset sets an asset's business and financial fields (non-empty
// fields of in). State changes go through Transition.
func (s *Service) UpdateAsset(ctx context.Context, ref string, in AssetInput, actor string, now time.Time) (*cmdb.CI, error) {
	bad := in.check()
	if in.State != "" {
		bad["state"] = "use a lifecycle transition to change the state"
	}
	if err := checkErr(bad); err != nil {
		return nil, err
	}
	id, err := s.resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	var next *cmdb.CI
	_, err = s.st.Update(ctx, func(stx store.Txn) error {
		tx := cmdb.NewTx(ctx, stx, actor, now)
		ci, err := tx.CI(id)
		if err != nil {
			return err
		}
		next = cloneCI(ci)
		applyInput(next, &in, cmdb.SourceManual, tx.Now())
		changed, err := tx.PutCI(ci, next)
		if err != nil || !changed {
			return err
		}
		return audit.Record(stx, audit.Entry{At: now, Actor: actor, Action: "asset.update", Object: "ci/" + id, After: in})
	})
	return next, err
}

func (s *Service) newID() string { return s.cfg.NewID() }

func (s *Service) resolve(ctx context.Context, ref string) (string, error) {
	ci, err := s.g.Resolve(ctx, ref)
	if err != nil {
		return "", err
	}
	return ci.ID, nil
}

// TransitionInput is a requested state change.
type TransitionInput struct {
	To     string `json:"to"`
	Reason string `json:"reason,omitempty"`
	// Maintenance describes the work when To is maintain.
	Maintenance *MaintenanceInput `json:"maintenance,omitempty"`
}

// Transition moves a CI to another state through the table. Retirement
// is refused while open incidents or changes name the CI; it keeps the CI
// and its history. Entering maintain records a Maintenance (preventive, or
// reactive with its incident); leaving it closes the open one.
func (s *Service) Transition(ctx context.Context, ref string, in TransitionInput, actor string, now time.Time) (*cmdb.CI, error) {
	in.To = strings.ToLower(strings.TrimSpace(in.To))
	if !ValidState(in.To) {
		return nil, fmt.Errorf("state %q: states are %v: %w", in.To, States, cmdb.ErrInvalid)
	}
	if in.To == Maintain {
		if err := s.checkMaintenance(ctx, in.Maintenance); err != nil {
			return nil, err
		}
	}
	id, err := s.resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	var out *cmdb.CI
	_, err = s.st.Update(ctx, func(stx store.Txn) error {
		tx := cmdb.NewTx(ctx, stx, actor, now)
		var err error
		out, err = s.transition(ctx, tx, id, in)
		return err
	})
	return out, err
}

func (s *Service) transition(ctx context.Context, tx *cmdb.Tx, id string, in TransitionInput) (*cmdb.CI, error) {
	ci, err := tx.CI(id)
	if err != nil {
		return nil, err
	}
	from := current(ci)
	if err := CanTransition(from, in.To); err != nil {
		return nil, fmt.Errorf("%s: %w", ci.Name, err)
	}
	if in.To == Retire {
		if err := s.checkBlockers(ctx, tx.Store(), ci); err != nil {
			return nil, err
		}
	}
	next := cloneCI(ci)
	next.State = in.To
	now := tx.Now()
	if in.To == Retire {
		reconcile.SetAttr(reconcile.DefaultPrecedence(), next, "retired_at", now.Format(DateLayout), cmdb.SourceManual, now)
		if in.Reason != "" {
			reconcile.SetAttr(reconcile.DefaultPrecedence(), next, "retire_reason", in.Reason, cmdb.SourceManual, now)
		}
		delete(next.Flags, "retirement_proposed")
	}
	if _, err := tx.PutCI(ci, next); err != nil {
		return nil, err
	}
	if from == Maintain {
		if err := endMaintenance(ctx, tx, id); err != nil {
			return nil, err
		}
	}
	if in.To == Maintain {
		if err := startMaintenance(ctx, tx, id, in.Maintenance); err != nil {
			return nil, err
		}
	}
	return next, audit.Record(tx.Store(), audit.Entry{At: now, Actor: tx.Actor(), Action: "lifecycle.transition",
		Object: "ci/" + id, Before: from, After: in.To, Detail: in.Reason})
}

// checkBlockers returns ErrForbidden naming the open work on ci. The
// lookups read through the transaction, so work opened concurrently makes
// the commit conflict and the check run again.
func (s *Service) checkBlockers(ctx context.Context, r store.Reader, ci *cmdb.CI) error {
	var open []string
	for _, b := range s.cfg.Blockers {
		nums, err := b.Open(ctx, r, ci.ID)
		if err != nil {
			return fmt.Errorf("check open %ss: %w", b.Kind, err)
		}
		if len(nums) > 0 {
			open = append(open, fmt.Sprintf("%d open %s(s): %s", len(nums), b.Kind, strings.Join(nums, ", ")))
		}
	}
	if len(open) > 0 {
		return fmt.Errorf("cannot retire %s: %s: %w", ci.Name, strings.Join(open, "; "), cmdb.ErrForbidden)
	}
	return nil
}

// RenewInput describes the planned replacement of a retiring asset.
// Empty fields of Replacement are taken from the old asset (class,
// subclass, vendor, model, owner, location).
type RenewInput struct {
	Reason      string     `json:"reason,omitempty"`
	Replacement AssetInput `json:"replacement"`
}

// Renew retires an asset and plans its replacement, linked from the old
// one by replaced_by, in one transaction.
func (s *Service) Renew(ctx context.Context, ref string, in RenewInput, actor string, now time.Time, newID string) (old, repl *cmdb.CI, err error) {
	rin := in.Replacement
	bad := rin.check()
	if rin.State != "" && rin.State != Plan && rin.State != Acquire {
		bad["state"] = "a replacement starts in plan or acquire"
	}
	if err := checkErr(bad); err != nil {
		return nil, nil, err
	}
	id, err := s.resolve(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	_, err = s.st.Update(ctx, func(stx store.Txn) error {
		tx := cmdb.NewTx(ctx, stx, actor, now)
		cur, err := tx.CI(id)
		if err != nil {
			return err
		}
		r := rin
		if r.Class == "" {
			r.Class = cur.Class
		}
		if r.Subclass == "" {
			r.Subclass = cur.Subclass
		}
		for attr, p := range map[string]*string{"vendor": &r.Vendor, "model": &r.Model, "owner": &r.Owner, "location": &r.Location} {
			if *p == "" {
				*p = cur.AttrString(attr)
			}
		}
		if r.Name == "" {
			r.Name = cur.Name + " (replacement)"
		}
		if r.Serial != "" || r.AssetTag != "" {
			if have, err := findAsset(tx, &r); err != nil {
				return err
			} else if have != nil {
				return fmt.Errorf("asset %s already has this asset tag or serial: %w", have.ID, cmdb.ErrConflict)
			}
		}
		if old, err = s.transition(ctx, tx, id, TransitionInput{To: Retire, Reason: firstNonEmpty(in.Reason, "renewed")}); err != nil {
			return err
		}
		repl = newAsset(&r, newID, cmdb.SourceManual, tx.Now())
		if _, err := tx.PutCI(nil, repl); err != nil {
			return err
		}
		if err := tx.PutRel(cmdb.Relationship{From: id, To: newID, Type: RelReplacedBy, Source: cmdb.SourceManual}); err != nil {
			return err
		}
		return audit.Record(stx, audit.Entry{At: now, Actor: actor, Action: "lifecycle.renew", Object: "ci/" + id, After: newID, Detail: in.Reason})
	})
	if err != nil {
		return nil, nil, err
	}
	return old, repl, nil
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

func cloneCI(c *cmdb.CI) *cmdb.CI {
	n := *c
	n.Attrs = make(map[string]cmdb.Attr, len(c.Attrs))
	for k, v := range c.Attrs {
		n.Attrs[k] = v
	}
	n.Identifiers = make(map[string][]string, len(c.Identifiers))
	for k, v := range c.Identifiers {
		n.Identifiers[k] = slices.Clone(v)
	}
	if c.Flags != nil {
		n.Flags = make(map[string]bool, len(c.Flags))
		for k, v := range c.Flags {
			n.Flags[k] = v
		}
	}
	return &n
}

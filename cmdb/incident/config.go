package incident

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"parc/cmdb"
	"parc/cmdb/audit"
	"parc/cmdb/reconcile"
	"parc/cmdb/store"
)

// Duration is a time.Duration that reads and writes JSON as "4h30m".
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("duration: want a string such as \"4h\": %w", cmdb.ErrInvalid)
		}
		*d = Duration(time.Duration(n) * time.Second)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, cmdb.ErrInvalid)
	}
	*d = Duration(v)
	return nil
}

// SLATarget is the response and resolution target of one priority.
type SLATarget struct {
	Response   Duration `cbor:"1,keyasint" json:"response"`
	Resolution Duration `cbor:"2,keyasint" json:"resolution"`
}

// Calendar is a business-hours calendar. When disabled, SLA clocks run
// around the clock.
type Calendar struct {
	Enabled bool `cbor:"1,keyasint" json:"enabled"`
	// TZ is an IANA time zone name (default UTC).
	TZ string `cbor:"2,keyasint,omitempty" json:"tz,omitempty"`
	// Days are the working weekdays, 0 = Sunday (default Monday to Friday).
	Days []int `cbor:"3,keyasint,omitempty" json:"days,omitempty"`
	// Start and End are the working hours, "08:00" to "18:00".
	Start string `cbor:"4,keyasint,omitempty" json:"start,omitempty"`
	End   string `cbor:"5,keyasint,omitempty" json:"end,omitempty"`
	// Holidays are dates (2006-01-02) with no working hours.
	Holidays []string `cbor:"6,keyasint,omitempty" json:"holidays,omitempty"`
}

// ImpactRule derives an impact level from what the graph reaches
// downstream of the affected CIs.
type ImpactRule struct {
	// Depth is how many hops the traversal follows (default 5).
	Depth int `cbor:"1,keyasint" json:"depth"`
	// HighServices: this many services reached (or affected) is high impact.
	HighServices int `cbor:"2,keyasint" json:"high_services"`
	// HighDependants: this many dependants reached is high impact.
	HighDependants int `cbor:"3,keyasint" json:"high_dependants"`
	// MediumDependants: this many dependants reached is medium impact;
	// fewer is low.
	MediumDependants int `cbor:"4,keyasint" json:"medium_dependants"`
}

// EventRule says how a health-event kind opens incidents.
type EventRule struct {
	Category string `cbor:"1,keyasint" json:"category"`
	Urgency  int    `cbor:"2,keyasint" json:"urgency"`
	// AutoResolve resolves the incident when every failing subject
	// reports OK again.
	AutoResolve bool `cbor:"3,keyasint" json:"auto_resolve"`
}

// Config is the module's configuration, stored at inc/cfg and edited
// through the API. Zero fields take the defaults.
type Config struct {
	// Categories are the allowed categories, beyond the built-in ones.
	Categories []string `cbor:"1,keyasint,omitempty" json:"categories,omitempty"`
	// Matrix maps impact (row) × urgency (column) to a priority; levels
	// and priorities count from 1, the highest.
	Matrix [][]int `cbor:"2,keyasint,omitempty" json:"matrix,omitempty"`
	// SLA holds the targets per priority: SLA[0] is P1.
	SLA      []SLATarget          `cbor:"3,keyasint,omitempty" json:"sla,omitempty"`
	Calendar Calendar             `cbor:"4,keyasint,omitempty" json:"calendar"`
	Impact   ImpactRule           `cbor:"5,keyasint,omitempty" json:"impact_rule"`
	Events   map[string]EventRule `cbor:"6,keyasint,omitempty" json:"events,omitempty"`
	// NearBreach is the fraction of a target after which an open incident
	// is flagged near breach (default 0.8).
	NearBreach float64 `cbor:"7,keyasint,omitempty" json:"near_breach,omitempty"`
}

// BuiltinCategories are always allowed.
var BuiltinCategories = []string{"software", "hardware", "network", "security"}

// DefaultConfig returns the defaults: the ITIL three-by-three matrix to
// P1…P5, SLA targets per priority, no calendar.
func DefaultConfig() Config {
	h := func(n float64) Duration { return Duration(time.Duration(n * float64(time.Hour))) }
	return Config{
		Matrix: [][]int{{1, 2, 3}, {2, 3, 4}, {3, 4, 5}},
		SLA: []SLATarget{
			{Response: h(0.25), Resolution: h(4)},
			{Response: h(1), Resolution: h(8)},
			{Response: h(4), Resolution: h(24)},
			{Response: h(8), Resolution: h(72)},
			{Response: h(24), Resolution: h(120)},
		},
		Calendar: Calendar{Days: []int{1, 2, 3, 4, 5}, Start: "08:00", End: "18:00", TZ: "UTC"},
		Impact:   ImpactRule{Depth: 5, HighServices: 1, HighDependants: 50, MediumDependants: 1},
		Events: map[string]EventRule{
			reconcile.EventFilesystemFull: {Category: "hardware", Urgency: 2, AutoResolve: true},
			reconcile.EventServiceFailed:  {Category: "software", Urgency: 2, AutoResolve: true},
			reconcile.EventDiskFailure:    {Category: "hardware", Urgency: 1, AutoResolve: false},
			reconcile.EventHostStale:      {Category: "network", Urgency: 2, AutoResolve: true},
		},
		NearBreach: 0.8,
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if len(c.Matrix) == 0 {
		c.Matrix = d.Matrix
	}
	if len(c.SLA) == 0 {
		c.SLA = d.SLA
	}
	if c.Calendar.TZ == "" {
		c.Calendar.TZ = "UTC"
	}
	if len(c.Calendar.Days) == 0 {
		c.Calendar.Days = d.Calendar.Days
	}
	if c.Calendar.Start == "" {
		c.Calendar.Start = d.Calendar.Start
	}
	if c.Calendar.End == "" {
		c.Calendar.End = d.Calendar.End
	}
	if c.Impact == (ImpactRule{}) {
		c.Impact = d.Impact
	}
	if c.Impact.Depth <= 0 {
		c.Impact.Depth = d.Impact.Depth
	}
	if c.Events == nil {
		c.Events = d.Events
	}
	if c.NearBreach <= 0 {
		c.NearBreach = d.NearBreach
	}
	return c
}

// Validate checks a configuration and returns it with defaults filled.
func (c Config) Validate() (Config, error) {
	c = c.withDefaults()
	bad := func(f string, a ...any) (Config, error) {
		return Config{}, fmt.Errorf("incident config: "+f+": %w", append(a, cmdb.ErrInvalid)...)
	}
	urg := len(c.Matrix[0])
	maxP := 0
	for i, row := range c.Matrix {
		if len(row) != urg || urg == 0 {
			return bad("matrix row %d has %d columns, want %d", i+1, len(row), urg)
		}
		for _, p := range row {
			if p < 1 {
				return bad("matrix row %d: priorities count from 1", i+1)
			}
			maxP = max(maxP, p)
		}
	}
	if len(c.SLA) < maxP {
		return bad("the matrix reaches P%d but SLA targets cover %d priorities", maxP, len(c.SLA))
	}
	for i, t := range c.SLA {
		if t.Response <= 0 || t.Resolution <= 0 || t.Response > t.Resolution {
			return bad("SLA of P%d: want 0 < response ≤ resolution", i+1)
		}
	}
	if _, err := c.Calendar.compile(); err != nil {
		return Config{}, err
	}
	for _, cat := range c.Categories {
		if cat == "" || strings.TrimSpace(cat) != cat || len(cat) > 64 {
			return bad("category %q: want a short name without surrounding spaces", cat)
		}
	}
	for k, r := range c.Events {
		if r.Urgency < 1 || r.Urgency > urg {
			return bad("event %s: urgency %d out of 1..%d", k, r.Urgency, urg)
		}
	}
	if c.NearBreach >= 1 {
		return bad("near_breach %g: want a fraction below 1", c.NearBreach)
	}
	return c, nil
}

// ImpactLevels and UrgencyLevels are the matrix's dimensions.
func (c Config) ImpactLevels() int  { return len(c.Matrix) }
func (c Config) UrgencyLevels() int { return len(c.Matrix[0]) }

// Priority returns the matrix cell for impact and urgency.
func (c Config) Priority(impact, urgency int) int {
	impact = min(max(impact, 1), len(c.Matrix))
	urgency = min(max(urgency, 1), len(c.Matrix[0]))
	return c.Matrix[impact-1][urgency-1]
}

// Target returns the SLA target of a priority.
func (c Config) Target(priority int) SLATarget {
	priority = min(max(priority, 1), len(c.SLA))
	return c.SLA[priority-1]
}

// CategoryAllowed reports whether cat is built in or configured.
func (c Config) CategoryAllowed(cat string) bool {
	return slices.Contains(BuiltinCategories, cat) || slices.Contains(c.Categories, cat)
}

var keyConfig = []byte(PrefixIncident + "cfg")

// LoadConfig reads the stored configuration (the defaults when none).
func LoadConfig(ctx context.Context, r store.Reader) (Config, error) {
	v, err := r.Get(ctx, keyConfig)
	if errors.Is(err, store.ErrNotFound) {
		return DefaultConfig(), nil
	}
	if err != nil {
		return Config{}, fmt.Errorf("load incident config: %w", err)
	}
	var c Config
	if err := cmdb.Decode(v, &c); err != nil {
		return Config{}, err
	}
	return c.withDefaults(), nil
}

// SetConfig validates and stores the configuration, audited.
func (s *Service) SetConfig(ctx context.Context, actor string, now time.Time, c Config) (Config, error) {
	if actor == "" {
		return Config{}, fmt.Errorf("set incident config: no actor: %w", cmdb.ErrInvalid)
	}
	c, err := c.Validate()
	if err != nil {
		return Config{}, err
	}
	v, err := cmdb.Encode(c)
	if err != nil {
		return Config{}, err
	}
	_, err = s.st.Update(ctx, func(tx store.Txn) error {
		old, err := LoadConfig(ctx, tx)
		if err != nil {
			return err
		}
		if err := tx.Put(keyConfig, v); err != nil {
			return err
		}
		return audit.Record(tx, audit.Entry{At: now.UTC(), Actor: actor, Action: "incident.config", Object: "incident/config", Before: old, After: c})
	})
	return c, err
}

package change

import (
	"time"

	"parc/cmdb"
)

// Type is the kind of change.
type Type string

// Change types.
const (
	Standard  Type = "standard"
	Normal    Type = "normal"
	Emergency Type = "emergency"
)

// State is where a change is in its life.
type State string

// States of a change.
const (
	Draft     State = "draft"
	Assess    State = "assess"
	Authorize State = "authorize"
	Scheduled State = "scheduled"
	Implement State = "implement"
	Review    State = "review"
	Closed    State = "closed"
	Rejected  State = "rejected"
	Cancelled State = "cancelled"
)

// Terminal reports whether no transition leaves s.
func (s State) Terminal() bool { return s == Closed || s == Rejected || s == Cancelled }

// Risk levels.
const (
	RiskLow    = "low"
	RiskMedium = "medium"
	RiskHigh   = "high"
)

var riskRank = map[string]int{"": 0, RiskLow: 1, RiskMedium: 2, RiskHigh: 3}

// Outcomes recorded at review.
const (
	OutcomeSuccessful = "successful"
	OutcomeFailed     = "failed"
	OutcomeBackedOut  = "backed_out"
	OutcomePartial    = "partial"
)

// Window is a time interval [Start, End).
type Window struct {
	Start time.Time `cbor:"1,keyasint" json:"start"`
	End   time.Time `cbor:"2,keyasint" json:"end"`
}

// IsZero reports whether the window is unset.
func (w Window) IsZero() bool { return w.Start.IsZero() && w.End.IsZero() }

// Overlaps reports whether w and o share an instant.
func (w Window) Overlaps(o Window) bool {
	return !w.IsZero() && !o.IsZero() && w.Start.Before(o.End) && o.Start.Before(w.End)
}

// Contains reports whether t is in w.
func (w Window) Contains(t time.Time) bool { return !t.Before(w.Start) && t.Before(w.End) }

// Expectation is a result a change promises on one CI, checked by
// discovery after implementation.
type Expectation struct {
	CI string `cbor:"1,keyasint" json:"ci"`
	// Software, when set, names a package (name or normalized title) that
	// must be installed on the host, at MinVersion or later (Debian version
	// order) when MinVersion is set. Absent, with Absent true.
	Software   string `cbor:"2,keyasint,omitempty" json:"software,omitempty"`
	MinVersion string `cbor:"3,keyasint,omitempty" json:"min_version,omitempty"`
	Absent     bool   `cbor:"4,keyasint,omitempty" json:"absent,omitempty"`
	// Attr, when set, names a CI attribute that must equal Value.
	Attr  string `cbor:"5,keyasint,omitempty" json:"attr,omitempty"`
	Value string `cbor:"6,keyasint,omitempty" json:"value,omitempty"`
}

// Verification states of one CI.
const (
	VerifyPending     = "pending"
	VerifyVerified    = "verified"
	VerifyNotVerified = "not_verified"
)

// Verification is the last check of a CI's expectations against discovery.
type Verification struct {
	CI     string    `cbor:"1,keyasint" json:"ci"`
	Status string    `cbor:"2,keyasint" json:"status"`
	Detail []string  `cbor:"3,keyasint,omitempty" json:"detail,omitempty"`
	At     time.Time `cbor:"4,keyasint,omitempty" json:"at,omitempty"`
}

// Approval is one approver's decision.
type Approval struct {
	By       string    `cbor:"1,keyasint" json:"by"`
	Decision string    `cbor:"2,keyasint" json:"decision"` // approved or rejected
	Comment  string    `cbor:"3,keyasint,omitempty" json:"comment,omitempty"`
	At       time.Time `cbor:"4,keyasint" json:"at"`
	// As says in which capacity the approver counted (cab, owner:<service>,
	// approver).
	As []string `cbor:"5,keyasint,omitempty" json:"as,omitempty"`
}

// LogEntry is one line of a change's log.
type LogEntry struct {
	At     time.Time `cbor:"1,keyasint" json:"at"`
	Actor  string    `cbor:"2,keyasint" json:"actor"`
	Action string    `cbor:"3,keyasint" json:"action"`
	From   State     `cbor:"4,keyasint,omitempty" json:"from,omitempty"`
	To     State     `cbor:"5,keyasint,omitempty" json:"to,omitempty"`
	Note   string    `cbor:"6,keyasint,omitempty" json:"note,omitempty"`
}

// Requirement is what the approval rule matched at submit demands.
type Requirement struct {
	Rule string `cbor:"1,keyasint" json:"rule"`
	// Quorum approvals are needed from Approvers (any approver when
	// Approvers is empty).
	Quorum    int      `cbor:"2,keyasint" json:"quorum"`
	Approvers []string `cbor:"3,keyasint,omitempty" json:"approvers,omitempty"`
	// Owners must each approve (owners of affected critical services).
	Owners []string `cbor:"4,keyasint,omitempty" json:"owners,omitempty"`
}

// Change is a change record.
type Change struct {
	Number        string   `cbor:"1,keyasint" json:"number"`
	Type          Type     `cbor:"2,keyasint" json:"type"`
	Title         string   `cbor:"3,keyasint" json:"title"`
	Description   string   `cbor:"4,keyasint,omitempty" json:"description,omitempty"`
	Justification string   `cbor:"5,keyasint,omitempty" json:"justification,omitempty"`
	Requester     string   `cbor:"6,keyasint" json:"requester"`
	CIs           []string `cbor:"7,keyasint" json:"cis"`
	Window        Window   `cbor:"8,keyasint" json:"window"`
	ImplPlan      string   `cbor:"9,keyasint,omitempty" json:"implementation_plan,omitempty"`
	BackoutPlan   string   `cbor:"10,keyasint,omitempty" json:"backout_plan,omitempty"`
	// Risk is the requester's declared risk; RiskScore and RiskLevel are
	// computed by the impact analysis (the level is the higher of both).
	Risk      string `cbor:"11,keyasint,omitempty" json:"risk,omitempty"`
	RiskScore int    `cbor:"12,keyasint,omitempty" json:"risk_score,omitempty"`
	RiskLevel string `cbor:"13,keyasint,omitempty" json:"risk_level,omitempty"`
	State     State  `cbor:"14,keyasint" json:"state"`
	Template  string `cbor:"15,keyasint,omitempty" json:"template,omitempty"`

	Required  *Requirement `cbor:"16,keyasint,omitempty" json:"required,omitempty"`
	Approvals []Approval   `cbor:"17,keyasint,omitempty" json:"approvals,omitempty"`
	Approved  bool         `cbor:"18,keyasint,omitempty" json:"approved"`

	Expect []Expectation `cbor:"19,keyasint,omitempty" json:"expect,omitempty"`
	// Verify holds one verification per CI with expectations.
	Verify []Verification `cbor:"20,keyasint,omitempty" json:"verify,omitempty"`

	// Actual is when implementation really started and ended.
	Actual  Window `cbor:"21,keyasint,omitempty" json:"actual"`
	Outcome string `cbor:"22,keyasint,omitempty" json:"outcome,omitempty"`
	// Incidents linked to the change as caused by it.
	Incidents []string `cbor:"23,keyasint,omitempty" json:"incidents,omitempty"`

	Log     []LogEntry `cbor:"24,keyasint,omitempty" json:"log"`
	Created time.Time  `cbor:"25,keyasint" json:"created"`
	Updated time.Time  `cbor:"26,keyasint" json:"updated"`
	// Snapshot is the time of the stored impact snapshot.
	Snapshot time.Time `cbor:"27,keyasint,omitempty" json:"snapshot,omitempty"`
}

// Covers reports whether the change was carried out (or scheduled to be)
// on ci at t: it names the CI, it reached implementation, and t falls in
// its planned window or its actual implementation period.
func (c *Change) Covers(ci string, t time.Time) bool {
	switch c.State {
	case Implement, Review, Closed:
	default:
		return false
	}
	named := false
	for _, x := range c.CIs {
		if x == ci {
			named = true
		}
	}
	if !named {
		return false
	}
	if c.Window.Contains(t) {
		return true
	}
	if c.Actual.Start.IsZero() || t.Before(c.Actual.Start) {
		return false
	}
	return c.Actual.End.IsZero() || t.Before(c.Actual.End)
}

// Template is a pre-approved standard change.
type Template struct {
	Name        string        `cbor:"1,keyasint" json:"name"`
	Title       string        `cbor:"2,keyasint" json:"title"`
	Description string        `cbor:"3,keyasint,omitempty" json:"description,omitempty"`
	ImplPlan    string        `cbor:"4,keyasint,omitempty" json:"implementation_plan,omitempty"`
	BackoutPlan string        `cbor:"5,keyasint,omitempty" json:"backout_plan,omitempty"`
	Expect      []Expectation `cbor:"6,keyasint,omitempty" json:"expect,omitempty"`
	// MaxRisk is the highest computed risk level the template's changes may
	// have and stay pre-approved (default low).
	MaxRisk  string    `cbor:"7,keyasint,omitempty" json:"max_risk,omitempty"`
	Approver string    `cbor:"8,keyasint" json:"approved_by"`
	Created  time.Time `cbor:"9,keyasint" json:"created"`
}

// Freeze is a blackout period in which changes must not be carried out.
// With no CIs or classes it applies to every CI.
type Freeze struct {
	ID      string    `cbor:"1,keyasint" json:"id"`
	Name    string    `cbor:"2,keyasint" json:"name"`
	Window  Window    `cbor:"3,keyasint" json:"window"`
	CIs     []string  `cbor:"4,keyasint,omitempty" json:"cis,omitempty"`
	Classes []string  `cbor:"5,keyasint,omitempty" json:"classes,omitempty"`
	Reason  string    `cbor:"6,keyasint,omitempty" json:"reason,omitempty"`
	By      string    `cbor:"7,keyasint" json:"by"`
	Created time.Time `cbor:"8,keyasint" json:"created"`
}

// Control marks a CI as change-controlled: discovered changes on it need an
// implementing change. A CI whose attribute "change_controlled" is true is
// controlled too.
type Control struct {
	CI           string    `cbor:"1,keyasint" json:"ci"`
	By           string    `cbor:"2,keyasint" json:"by"`
	At           time.Time `cbor:"3,keyasint" json:"at"`
	Reason       string    `cbor:"4,keyasint,omitempty" json:"reason,omitempty"`
	OpenIncident bool      `cbor:"5,keyasint,omitempty" json:"open_incident,omitempty"`
}

// Drift kinds.
const (
	DriftSoftwareAdded    = "software_added"
	DriftSoftwareRemoved  = "software_removed"
	DriftSoftwareUpgraded = "software_changed"
	DriftHardware         = "hardware_changed"
)

// Drift is a discovered change on a change-controlled CI that no
// implementing change covers.
type Drift struct {
	ID      string        `cbor:"1,keyasint" json:"id"`
	CI      string        `cbor:"2,keyasint" json:"ci"`
	CIName  string        `cbor:"3,keyasint,omitempty" json:"ci_name,omitempty"`
	At      time.Time     `cbor:"4,keyasint" json:"at"`
	Kind    string        `cbor:"5,keyasint" json:"kind"`
	Changes []cmdb.Change `cbor:"6,keyasint,omitempty" json:"changes,omitempty"`
	// Incident is the incident opened for the drift, when one was.
	Incident string `cbor:"7,keyasint,omitempty" json:"incident,omitempty"`
	// Resolved is set when someone accepted the drift (by, note).
	ResolvedBy string `cbor:"8,keyasint,omitempty" json:"resolved_by,omitempty"`
	Note       string `cbor:"9,keyasint,omitempty" json:"note,omitempty"`
	Rev        int64  `cbor:"10,keyasint,omitempty" json:"rev,omitempty"`
	// WantIncident is set when the CI's control asks for an incident.
	WantIncident bool `cbor:"11,keyasint,omitempty" json:"want_incident,omitempty"`
}

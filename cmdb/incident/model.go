package incident

import (
	"time"
)

// Statuses of an incident.
const (
	StatusNew          = "new"
	StatusAssigned     = "assigned"
	StatusInProgress   = "in_progress"
	StatusResolved     = "resolved"
	StatusClosed       = "closed"
	StatusRejected     = "rejected"
	StatusAwaitingInfo = "awaiting_info"
	StatusPending      = "pending"
	StatusReopened     = "reopened"
)

// Statuses lists every status in display order.
var Statuses = []string{StatusNew, StatusAssigned, StatusInProgress, StatusAwaitingInfo, StatusPending,
	StatusResolved, StatusClosed, StatusRejected, StatusReopened}

// IsOpen reports whether status counts as open (not resolved, closed or
// rejected).
func IsOpen(status string) bool {
	return status != StatusResolved && status != StatusClosed && status != StatusRejected
}

// paused reports whether SLA clocks stop in status (waiting on the caller or
// a third party).
func paused(status string) bool { return status == StatusAwaitingInfo || status == StatusPending }

// Link sources: how a CI came to be linked to an incident.
const (
	LinkManual = "manual"
	LinkText   = "text"
	LinkEvent  = "event"
)

// Link is one affected CI.
type Link struct {
	CI     string    `cbor:"1,keyasint" json:"ci"`
	Name   string    `cbor:"2,keyasint,omitempty" json:"name,omitempty"`
	Class  string    `cbor:"3,keyasint,omitempty" json:"class,omitempty"`
	Source string    `cbor:"4,keyasint" json:"source"`
	Added  time.Time `cbor:"5,keyasint" json:"added"`
	// Match is the text that linked the CI (kind=value), for text links.
	Match string `cbor:"6,keyasint,omitempty" json:"match,omitempty"`
}

// ServiceRef is an affected service, derived from the graph.
type ServiceRef struct {
	ID   string `cbor:"1,keyasint" json:"id"`
	Name string `cbor:"2,keyasint" json:"name"`
}

// Timeline entry kinds.
const (
	EntryCreated = "created"
	EntryComment = "comment"
	EntryStatus  = "status"
	EntryUpdate  = "update"
	EntryAssign  = "assign"
	EntryLink    = "link"
	EntryEvent   = "event"
	EntrySLA     = "sla"
)

// Entry is one line of an incident's timeline.
type Entry struct {
	At    time.Time `cbor:"1,keyasint" json:"at"`
	Actor string    `cbor:"2,keyasint" json:"actor"`
	Kind  string    `cbor:"3,keyasint" json:"kind"`
	Text  string    `cbor:"4,keyasint,omitempty" json:"text,omitempty"`
	From  string    `cbor:"5,keyasint,omitempty" json:"from,omitempty"`
	To    string    `cbor:"6,keyasint,omitempty" json:"to,omitempty"`
}

// StatusChange is one status period start, for SLA clocks and KPIs.
type StatusChange struct {
	At     time.Time `cbor:"1,keyasint" json:"at"`
	Status string    `cbor:"2,keyasint" json:"status"`
}

// ImpactBasis records how a derived impact was computed.
type ImpactBasis struct {
	Services   int `cbor:"1,keyasint" json:"services"`
	Dependants int `cbor:"2,keyasint" json:"dependants"`
	// Depth is how many hops downstream the counts cover; Partial is set
	// when the walk stopped there because the impact was already high.
	Depth   int  `cbor:"3,keyasint,omitempty" json:"depth,omitempty"`
	Partial bool `cbor:"4,keyasint,omitempty" json:"partial,omitempty"`
}

// AutoSource marks an incident opened from agent health events.
type AutoSource struct {
	CI   string `cbor:"1,keyasint" json:"ci"`
	Kind string `cbor:"2,keyasint" json:"kind"`
	// Failing lists the subjects (mount points, services, disks) still
	// failing; the incident auto-resolves when it empties (if configured).
	Failing []string `cbor:"3,keyasint,omitempty" json:"failing,omitempty"`
	Repeats int64    `cbor:"4,keyasint,omitempty" json:"repeats,omitempty"`
}

// SLAFlags are set by the SLA job.
type SLAFlags struct {
	ResponseBreached   bool      `cbor:"1,keyasint,omitempty" json:"response_breached,omitempty"`
	ResolutionBreached bool      `cbor:"2,keyasint,omitempty" json:"resolution_breached,omitempty"`
	NearBreach         bool      `cbor:"3,keyasint,omitempty" json:"near_breach,omitempty"`
	Checked            time.Time `cbor:"4,keyasint,omitempty" json:"checked,omitempty"`
}

// Incident is one incident record.
type Incident struct {
	Number           string    `cbor:"1,keyasint" json:"number"`
	Seq              int64     `cbor:"2,keyasint" json:"seq"`
	ShortDescription string    `cbor:"3,keyasint" json:"short_description"`
	Description      string    `cbor:"4,keyasint,omitempty" json:"description,omitempty"`
	Category         string    `cbor:"5,keyasint" json:"category"`
	Status           string    `cbor:"6,keyasint" json:"status"`
	Occurred         time.Time `cbor:"7,keyasint" json:"occurred"`
	Reported         time.Time `cbor:"8,keyasint" json:"reported"`
	// Impact and Urgency are levels, 1 the highest.
	Impact int `cbor:"9,keyasint" json:"impact"`
	// ImpactManual is true when a person set the impact; otherwise it is
	// derived from the graph and recomputed when the affected CIs change.
	ImpactManual bool         `cbor:"10,keyasint,omitempty" json:"impact_manual,omitempty"`
	ImpactBasis  *ImpactBasis `cbor:"11,keyasint,omitempty" json:"impact_basis,omitempty"`
	Urgency      int          `cbor:"12,keyasint" json:"urgency"`
	// Priority is 1 (P1) to the matrix's lowest.
	Priority  int          `cbor:"13,keyasint" json:"priority"`
	Assignee  string       `cbor:"14,keyasint,omitempty" json:"assignee,omitempty"`
	Group     string       `cbor:"15,keyasint,omitempty" json:"group,omitempty"`
	CIs       []Link       `cbor:"16,keyasint,omitempty" json:"cis"`
	Services  []ServiceRef `cbor:"17,keyasint,omitempty" json:"services"`
	Major     bool         `cbor:"18,keyasint,omitempty" json:"major"`
	Recurring bool         `cbor:"19,keyasint,omitempty" json:"recurring"`
	Complex   bool         `cbor:"20,keyasint,omitempty" json:"complex"`
	// Caller is the person who reported it; OpenedBy the actor who logged it.
	Caller   string    `cbor:"21,keyasint,omitempty" json:"caller,omitempty"`
	OpenedBy string    `cbor:"22,keyasint" json:"opened_by"`
	Created  time.Time `cbor:"23,keyasint" json:"created"`
	Updated  time.Time `cbor:"24,keyasint" json:"updated"`
	// RespondedAt is the first assignment, status change or comment after
	// creation (the first response of the SLA).
	RespondedAt time.Time `cbor:"25,keyasint,omitempty" json:"responded_at,omitzero"`
	AssignedAt  time.Time `cbor:"26,keyasint,omitempty" json:"assigned_at,omitzero"`
	// ResolvedAt is the last resolution; ResolvedBy who resolved it.
	ResolvedAt   time.Time `cbor:"27,keyasint,omitempty" json:"resolved_at,omitzero"`
	ResolvedBy   string    `cbor:"28,keyasint,omitempty" json:"resolved_by,omitempty"`
	ClosedAt     time.Time `cbor:"29,keyasint,omitempty" json:"closed_at,omitzero"`
	Resolution   string    `cbor:"30,keyasint,omitempty" json:"resolution,omitempty"`
	RejectReason string    `cbor:"31,keyasint,omitempty" json:"reject_reason,omitempty"`
	ReopenCount  int       `cbor:"32,keyasint,omitempty" json:"reopen_count,omitempty"`
	// Assignments counts assignee changes (for first-contact resolution).
	Assignments    int            `cbor:"33,keyasint,omitempty" json:"assignments,omitempty"`
	SupportCost    float64        `cbor:"34,keyasint,omitempty" json:"support_cost,omitempty"`
	CausedByChange string         `cbor:"35,keyasint,omitempty" json:"caused_by_change,omitempty"`
	Timeline       []Entry        `cbor:"36,keyasint,omitempty" json:"timeline"`
	StatusLog      []StatusChange `cbor:"37,keyasint,omitempty" json:"status_log"`
	SLA            SLAFlags       `cbor:"38,keyasint,omitempty" json:"sla"`
	Auto           *AutoSource    `cbor:"39,keyasint,omitempty" json:"auto,omitempty"`
	// Rev is the store revision that last wrote the record (not stored).
	Rev int64 `cbor:"-" json:"rev"`
}

// CIIDs returns the ids of the affected CIs.
func (in *Incident) CIIDs() []string {
	ids := make([]string, len(in.CIs))
	for i, l := range in.CIs {
		ids[i] = l.CI
	}
	return ids
}

// HasCI reports whether ci is affected.
func (in *Incident) HasCI(ci string) bool {
	for _, l := range in.CIs {
		if l.CI == ci {
			return true
		}
	}
	return false
}

func (in *Incident) clone() *Incident {
	c := *in
	c.CIs = append([]Link(nil), in.CIs...)
	c.Services = append([]ServiceRef(nil), in.Services...)
	c.Timeline = append([]Entry(nil), in.Timeline...)
	c.StatusLog = append([]StatusChange(nil), in.StatusLog...)
	if in.ImpactBasis != nil {
		b := *in.ImpactBasis
		c.ImpactBasis = &b
	}
	if in.Auto != nil {
		a := *in.Auto
		a.Failing = append([]string(nil), in.Auto.Failing...)
		c.Auto = &a
	}
	return &c
}

// Summary is the small form of an incident that lists and filters read.
type Summary struct {
	Number           string    `cbor:"1,keyasint" json:"number"`
	ShortDescription string    `cbor:"2,keyasint" json:"short_description"`
	Status           string    `cbor:"3,keyasint" json:"status"`
	Priority         int       `cbor:"4,keyasint" json:"priority"`
	Impact           int       `cbor:"5,keyasint" json:"impact"`
	Urgency          int       `cbor:"6,keyasint" json:"urgency"`
	Category         string    `cbor:"7,keyasint" json:"category"`
	Assignee         string    `cbor:"8,keyasint,omitempty" json:"assignee,omitempty"`
	Group            string    `cbor:"9,keyasint,omitempty" json:"group,omitempty"`
	Major            bool      `cbor:"10,keyasint,omitempty" json:"major,omitempty"`
	Reported         time.Time `cbor:"11,keyasint" json:"reported"`
	Updated          time.Time `cbor:"12,keyasint" json:"updated"`
	CIs              []string  `cbor:"13,keyasint,omitempty" json:"cis,omitempty"`
	Breached         bool      `cbor:"14,keyasint,omitempty" json:"sla_breached,omitempty"`
	NearBreach       bool      `cbor:"15,keyasint,omitempty" json:"sla_near_breach,omitempty"`
	SupportCost      float64   `cbor:"16,keyasint,omitempty" json:"support_cost,omitempty"`
}

func (in *Incident) summary() Summary {
	sd := in.ShortDescription
	if len(sd) > 160 {
		sd = sd[:160]
	}
	return Summary{Number: in.Number, ShortDescription: sd, Status: in.Status, Priority: in.Priority,
		Impact: in.Impact, Urgency: in.Urgency, Category: in.Category, Assignee: in.Assignee, Group: in.Group,
		Major: in.Major, Reported: in.Reported, Updated: in.Updated, CIs: in.CIIDs(),
		Breached: in.SLA.ResponseBreached || in.SLA.ResolutionBreached, NearBreach: in.SLA.NearBreach,
		SupportCost: in.SupportCost}
}

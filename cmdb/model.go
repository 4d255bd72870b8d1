package cmdb

import (
	"time"
)

// Classes of CI.
const (
	ClassComputer = "computer"
	ClassCPU      = "cpu"
	ClassDisk     = "disk"
	ClassNIC      = "nic"
	ClassGPU      = "gpu"
	ClassSoftware = "software"
	ClassService  = "service"
	ClassLicence  = "licence"
	ClassContract = "contract"
	ClassLocation = "location"
	ClassPerson   = "person"
	ClassNetwork  = "network_device"
	ClassPrinter  = "printer"
)

// Relationship types.
const (
	RelContains    = "contains"
	RelRunsOn      = "runs_on"
	RelInstalledOn = "installed_on"
	RelDependsOn   = "depends_on"
	RelConnectsTo  = "connects_to"
	RelLicensedBy  = "licensed_by"
	RelOwnedBy     = "owned_by"
	RelLocatedIn   = "located_in"
	RelProvides    = "provides"
)

// Sources of facts, weakest claim on business facts first.
const (
	SourceAgent  = "agent"
	SourcePlugin = "plugin"
	SourceImport = "import"
	SourceManual = "manual"
	SourceSystem = "system"
)

// Attr is one typed attribute value with where it came from and when.
// Value holds a string, int64, float64, bool or []string.
type Attr struct {
	Value   any       `cbor:"1,keyasint" json:"value"`
	Source  string    `cbor:"2,keyasint" json:"source"`
	Updated time.Time `cbor:"3,keyasint" json:"updated"`
}

// CI is a configuration item.
type CI struct {
	ID    string `cbor:"1,keyasint" json:"id"`
	Class string `cbor:"2,keyasint" json:"class"`
	// Subclass refines Class (server, workstation, laptop, virtual_machine).
	Subclass string          `cbor:"3,keyasint,omitempty" json:"subclass,omitempty"`
	Name     string          `cbor:"4,keyasint" json:"name"`
	Attrs    map[string]Attr `cbor:"5,keyasint,omitempty" json:"attrs,omitempty"`
	// Identifiers are the values that identify the CI (kind → values), such
	// as serial, uuid, machine_id, mac, agent.
	Identifiers map[string][]string `cbor:"6,keyasint,omitempty" json:"identifiers,omitempty"`
	// State is the lifecycle state (plan, acquire, deploy, use, maintain,
	// retire).
	State string `cbor:"7,keyasint,omitempty" json:"state,omitempty"`
	// Seen records per source the first and last time the CI was observed.
	Seen    map[string]Seen `cbor:"8,keyasint,omitempty" json:"seen,omitempty"`
	Created time.Time       `cbor:"9,keyasint" json:"created"`
	Updated time.Time       `cbor:"10,keyasint" json:"updated"`
	// Flags are boolean markers set by the engine (stale, duplicate_identity,
	// retirement_proposed, removed).
	Flags map[string]bool `cbor:"11,keyasint,omitempty" json:"flags,omitempty"`
	// Rev is the store revision that last wrote the CI (not stored).
	Rev int64 `cbor:"-" json:"rev"`
	// head marks a CI read without its Attrs and Seen (Tx.CIHead): it
	// must never be written, nor serve as the old state of a write.
	head bool
}

// Seen is when a source first and last observed a CI.
type Seen struct {
	First time.Time `cbor:"1,keyasint" json:"first"`
	Last  time.Time `cbor:"2,keyasint" json:"last"`
}

// Attr returns the value of attribute name, or nil.
func (c *CI) Attr(name string) any {
	if a, ok := c.Attrs[name]; ok {
		return a.Value
	}
	return nil
}

// AttrString returns attribute name as a string ("" when absent or not a string).
func (c *CI) AttrString(name string) string {
	s, _ := c.Attr(name).(string)
	return s
}

// Relationship is a typed, directed edge between two CIs.
type Relationship struct {
	From      string            `cbor:"1,keyasint" json:"from"`
	To        string            `cbor:"2,keyasint" json:"to"`
	Type      string            `cbor:"3,keyasint" json:"type"`
	Source    string            `cbor:"4,keyasint" json:"source"`
	Attrs     map[string]string `cbor:"5,keyasint,omitempty" json:"attrs,omitempty"`
	FirstSeen time.Time         `cbor:"6,keyasint" json:"first_seen"`
	LastSeen  time.Time         `cbor:"7,keyasint" json:"last_seen"`
	// Observations counts how many times discovery saw the relationship.
	Observations int64 `cbor:"8,keyasint,omitempty" json:"observations,omitempty"`
}

// Edge is a relationship seen from one CI, with the CI at the other end.
type Edge struct {
	Relationship
	// Direction is "out" when the viewed CI is From, "in" when it is To.
	Direction string `json:"direction"`
	// Other is the id of the CI at the other end, OtherName its name.
	Other     string `json:"other"`
	OtherName string `json:"other_name,omitempty"`
}

// Change is one field's before and after in a history entry.
type Change struct {
	Field  string `cbor:"1,keyasint" json:"field"`
	Before any    `cbor:"2,keyasint,omitempty" json:"before,omitempty"`
	After  any    `cbor:"3,keyasint,omitempty" json:"after,omitempty"`
}

// History entry kinds.
const (
	HistCreated    = "created"
	HistUpdated    = "updated"
	HistRelAdded   = "relationship_added"
	HistRelRemoved = "relationship_removed"
	HistRelUpdated = "relationship_updated"
)

// HistoryEntry records one change to a CI or to one of its relationships.
type HistoryEntry struct {
	CI    string    `cbor:"1,keyasint" json:"ci"`
	At    time.Time `cbor:"2,keyasint" json:"at"`
	Actor string    `cbor:"3,keyasint" json:"actor"`
	Kind  string    `cbor:"4,keyasint" json:"kind"`
	// Rel names the relationship for relationship entries ("type:other").
	Rel     string   `cbor:"5,keyasint,omitempty" json:"rel,omitempty"`
	Changes []Change `cbor:"6,keyasint,omitempty" json:"changes,omitempty"`
}

// Installed is one software package on a host, an element of the host's
// software record.
type Installed struct {
	Title     string `cbor:"1,keyasint" json:"title"`
	Name      string `cbor:"2,keyasint" json:"name"`
	Version   string `cbor:"3,keyasint" json:"version"`
	Arch      string `cbor:"4,keyasint,omitempty" json:"arch,omitempty"`
	Publisher string `cbor:"5,keyasint,omitempty" json:"publisher,omitempty"`
	Source    string `cbor:"6,keyasint,omitempty" json:"source,omitempty"`
	Installed int64  `cbor:"7,keyasint,omitempty" json:"installed,omitempty"`
}

// SoftwareRecord is everything installed on one host, sorted by (Name, Arch).
type SoftwareRecord struct {
	Items []Installed `cbor:"1,keyasint" json:"items"`
}
